"""Error bounds of the Monte Carlo PPR estimators, used by the accuracy tests.

Each estimate π̂(s, v) is the mean of ω independent per-walk contributions X with E[X] = π(s, v).

* endpoints: X = 1[walk stops at v] ∈ [0, 1], Var X = π(1 - π). Bernstein's inequality gives,
  with probability 1 - δ, |π̂ - π| <= sqrt(2 Var X ln(2/δ) / ω) + 2 ln(2/δ) / (3ω).
* push-then-walk (``push_rounds`` = T): the first T rounds are exact and the walks complete
  the residual flow of mass m <= (1-α)^T; a walker's credit is m times a walk credit from a
  start drawn from the residual, so each variance above is multiplied by at most m.
* visits: X = α · (visits of v). With V the visit count, E[V²] = E[V](2 E_v[V] - 1) by the
  Markov property, E_s[V] = π(s, v)/α and E_v[V] <= 1/α, so Var X <= π(2 - α) - π². X is not
  bounded by 1 but its tail is geometric (each return to v has probability <= 1 - α); we use
  the same Bernstein form with that variance and scale 1, i.e. the normal-approximation bound
  plus a 1/ω-order term.

δ is split over every entry checked (union bound), so a whole test fails by chance with
probability at most FAMILY_FAILURE.
"""

from __future__ import annotations

import numpy as np

from sparkgraph.udfs.push import push_flow, transition_csr

FAMILY_FAILURE = 1e-3


def bernstein_bound(exact: np.ndarray, walks: int, estimator: str, restart_prob: float, entries: int,
                    push_rounds: int = 0) -> np.ndarray:
    """Per-entry half-width of the (1 - FAMILY_FAILURE) simultaneous confidence band."""
    log_term = np.log(2 * entries / FAMILY_FAILURE)
    if estimator == "endpoints":
        variance = exact * (1 - exact)
    else:
        variance = exact * (2 - restart_prob) - exact**2
    residual = (1 - restart_prob) ** push_rounds
    variance = residual * np.maximum(variance, 0.0)
    return np.sqrt(2 * variance * log_term / walks) + 2 * residual * log_term / (3 * walks)


def bound_for(exact: np.ndarray, params, local, ids: np.ndarray) -> np.ndarray:
    """The bound for a run with ``params`` (PPRParams) from the sources ``ids`` (dense ids of the
    LocalGraph ``local``), over every entry of ``exact`` (one row per source).

    Under a plan that finishes in place (:func:`sparkgraph.udfs.push.auto_push`, dense layout) a
    source either walks (the Bernstein band, residual mass (1-α)^rounds) or finishes in place, with
    no randomness and an L1 error, hence every entry's, of at most its in-flight mass / √ω <=
    (1-α)^rounds / √ω (rigorously: :func:`sparkgraph.udfs.push.in_place_ratio`). Which sources
    finish in place is read from the push itself.
    """
    if params.strategy == "distributed":
        return bernstein_bound(exact, params.walks_per_source, params.estimator, params.restart_prob, exact.size)
    plan = params.push_plan(local.n, local.num_arcs)
    rounds = plan.rounds if plan.threshold is None else 0  # (parked flow: residual mass up to 1)
    band = bernstein_bound(exact, params.walks_per_source, params.estimator, params.restart_prob, exact.size, rounds)
    if plan.walks_to_beat is None:
        return band
    a = local.adjacency
    transition = transition_csr(a.indptr, a.indices, a.data if local.weighted else None)
    _, residual = push_flow(np.asarray(ids), transition, plan.rounds, params.restart_prob, params.dangling,
                            extra_rounds=plan.extra_rounds, walks_to_beat=plan.walks_to_beat)
    in_place = np.asarray(abs(residual).sum(axis=1)).ravel() == 0
    band[in_place] = (1 - params.restart_prob) ** plan.rounds / np.sqrt(plan.walks_to_beat)
    return band


def dense_rows(frame, names: np.ndarray, sources, n: int, index_of) -> np.ndarray:
    """Rows of estimates (one per source, in order) from a pandas ``(source, target, score)`` frame."""
    out = np.zeros((len(sources), n))
    for i, s in enumerate(sources):
        part = frame[frame["source"] == s]
        if len(part):
            out[i, index_of(part["target"].to_numpy())] = part["score"].to_numpy()
    return out
