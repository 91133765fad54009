"""Exact and Monte Carlo personalized PageRank on one machine, the references for :mod:`sparkgraph.ppr`.

π_s = Σ_t α(1-α)^t e_s P^t, with P the weight-proportional transition matrix whose rows for
vertices without out-edges are e_s (``dangling="source"``) or e_v (``dangling="stop"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sparkgraph.local.graph import LocalGraph
from sparkgraph.ppr.params import PPRParams
from sparkgraph.udfs.smoothing import smooth_candidates
from sparkgraph.udfs.walks import top_k_per_group, walk_graph, walk_scores


def transition_matrix(graph: LocalGraph) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(P, dangling)``: row-stochastic P over vertices with out-edges, and the mask of those without."""
    out = graph.weighted_out_degrees()
    dangling = out == 0
    inv = np.divide(1.0, out, out=np.zeros_like(out), where=~dangling)
    return sp.csr_matrix(sp.diags(inv) @ graph.adjacency), dangling


def exact_ppr(graph: LocalGraph, sources: np.ndarray, restart_prob: float = 0.15, dangling: str = "source",
              tol: float = 1e-10, chunk: int = 64) -> np.ndarray:
    """Exact PPR vectors of ``sources`` (dense ids) by power iteration to L1 error ``tol``.

    Args:
        graph: The local graph.
        sources: Dense ids, one row of the result each.
        restart_prob: α.
        dangling: ``source`` or ``stop`` (see module doc).
        tol: Iteration stops when the mass still in flight, an upper bound of the L1 error, is below it.
        chunk: Sources iterated together (memory: 3 · chunk · n floats).

    Returns:
        ``len(sources) x n`` array; row i is π of ``sources[i]``.

    Example:
        >>> pi = exact_ppr(load_local("karate"), np.array([0]))
        >>> round(pi.sum(), 9)
        1.0
    """
    sources = np.asarray(sources, dtype=np.int64)
    p, sink = transition_matrix(graph)
    pt = p.T.tocsr()
    alpha = restart_prob
    result = np.zeros((len(sources), graph.n))
    for lo in range(0, len(sources), chunk):
        src = sources[lo: lo + chunk]
        rows = np.arange(len(src))
        flow = np.zeros((len(src), graph.n))
        flow[rows, src] = 1.0
        pi = alpha * flow
        while True:
            moved = (1 - alpha) * (pt @ flow.T).T
            stuck = (1 - alpha) * flow[:, sink]
            if dangling == "source":
                moved[rows, src] += stuck.sum(axis=1)
            else:
                moved[:, sink] += stuck
            flow = moved
            pi += alpha * flow
            tail = (1 - alpha) * flow.sum(axis=1).max()
            if tail < tol / 2:
                # what is still in flight, (1-α)|flow|, is placed where it stands: L1 error <= 2 * tail
                pi += (1 - alpha) * flow
                break
        result[lo: lo + len(src)] = pi
    return result


def monte_carlo_ppr(graph: LocalGraph, sources: np.ndarray, params: PPRParams) -> sp.csr_matrix:
    """Monte Carlo PPR with the kernel of the Spark broadcast strategy, on one core.

    Each source walks on its own random stream of ``params.seed``, so every estimate equals the
    broadcast strategy's for the same source, seed and parameters, to the last bit.

    Returns:
        ``len(sources) x n`` sparse matrix of estimates: all targets, not only the top k; with
        ``params.smooth`` the ``top_k + 20`` re-estimated ones, of which Spark's tasks keep the top k.

    Example:
        >>> pi = monte_carlo_ppr(load_local("karate"), np.array([0, 33]), PPRParams(seed=1))
        >>> pi.shape
        (2, 34)
    """
    a = graph.adjacency
    plan = params.push_plan(graph.n, graph.num_arcs)
    walked = walk_graph(a.indptr, a.indices, a.data if graph.weighted else None, push=plan.rounds > 0,
                        smooth=params.smooth)
    owner, target, score = walk_scores(np.asarray(sources, dtype=np.int64), walked, params.walks_per_source,
                                       params.restart_prob, params.estimator, params.dangling, params.max_steps,
                                       params.seed, plan, smooth_entries=smooth_candidates(params.top_k) if params.smooth else None)
    return sp.csr_matrix((score, (owner, target)), shape=(len(sources), graph.n))


def fully_ppr(graph: LocalGraph, params: PPRParams | None = None, sources=None, exact: bool = True) -> pd.DataFrame:
    """Top-k PPR per source on one machine: the local twin of :func:`sparkgraph.ppr.fully_ppr`.

    Args:
        graph: The local graph.
        params: As for the distributed function (``top_k``, ``restart_prob``, ``dangling``, ...).
        sources: Caller ids; None means every vertex.
        exact: Power iteration (True) or the Monte Carlo twin (False).

    Returns:
        pandas DataFrame ``(source, target, score)`` in the caller's ids.
    """
    params = params or PPRParams()
    ids = np.arange(graph.n) if sources is None else graph.ids_of(sources, what="source")
    if exact:
        dense = exact_ppr(graph, ids, params.restart_prob, params.dangling)
        owner, target = np.nonzero(dense)
        score = dense[owner, target]
    else:
        coo = monte_carlo_ppr(graph, ids, params).tocoo()
        owner, target, score = coo.row, coo.col, coo.data
    owner, target, score = top_k_per_group(owner.astype(np.int64), target.astype(np.int64), score, params.top_k)
    return pd.DataFrame({"source": graph.names[ids[owner]], "target": graph.names[target], "score": score})
