"""Answering PPR queries from a walk index: exact flow, finished with fingerprints (numpy only).

PowerWalk's decomposition (Liu et al., CIKM 2016): after ``rounds`` rounds of exact flow from
the source, the flow still moving, ``f``, is finished by the vertices' own PPR fingerprints:

    π_s = kept_s + Σ_v f(v) π_v.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sparkgraph.udfs.push import in_batches, push_flow
from sparkgraph.udfs.walks import rows_top_k


def compose_scores(sources: np.ndarray, transition: sp.csr_matrix, fingerprints: sp.csr_matrix, rounds: int,
                   restart_prob: float, dangling: str, prune: float, top_k: int | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PPR of a batch of sources from exact flow and fingerprints.

    Args:
        sources: Dense ids of the sources.
        transition: n x n row-stochastic transitions (:func:`~sparkgraph.udfs.push.transition_csr`).
        fingerprints: n x (n+1) matrix, row v = v's fingerprint; column n = its jump share J_v,
            the share of its walks that reached a vertex without out-edges (``discard``).
        rounds: Rounds T of exact flow.
        restart_prob: α.
        dangling: ``discard`` (the index was built for the ``source`` policy: jumps during the
            flow and the fingerprints' J add up to the source's J) or ``stop``.
        prune: Flow entries below this stop moving early and are finished by their fingerprint.
        top_k: Targets kept per source (None: all).

    Returns:
        ``(source_index, target, score)`` with π_s = x_s / (1 - J_s): after a jump back to the
        source the walk starts afresh, so the jump-free part, rescaled, is the whole vector.

    Example:
        >>> row, target, score = compose_scores(np.array([0]), transition, fingerprints, 6, 0.15,
        ...                                     "discard", 1e-4, 10)
    """
    return in_batches(sources, transition.shape[0], lambda batch: _compose_batch(
        batch, transition, fingerprints, rounds, restart_prob, dangling, prune, top_k))


def _compose_batch(sources: np.ndarray, transition: sp.csr_matrix, fingerprints: sp.csr_matrix, rounds: int,
                   restart_prob: float, dangling: str, prune: float, top_k: int | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`compose_scores` for a batch within the dense layout's size."""
    n = transition.shape[0]
    kept, residual = push_flow(sources, transition, rounds, restart_prob, dangling, prune)
    total = kept + residual @ fingerprints
    if sp.issparse(total):
        total = total.tocsr()
        jump = total[:, [n]].toarray().ravel()
        scores = sp.diags(1.0 / (1.0 - jump)) @ total[:, :n]
    else:
        scores = total[:, :n] / (1.0 - total[:, n:])
    return rows_top_k(scores, top_k)
