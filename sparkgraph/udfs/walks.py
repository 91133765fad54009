"""Vectorized random walks with restart over a CSR adjacency (numpy only).

All walks of a batch advance together: one array of positions, one step per loop
iteration, so the Python loop runs about ``1/α`` times, not once per step of each walk.
"""

from __future__ import annotations

import numpy as np


def next_hops(positions: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
              cumweights: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """One out-neighbour per position, chosen proportionally to edge weight (uniformly if unweighted).

    Positions must have at least one out-edge. ``cumweights`` is the running sum of all arc
    weights in CSR order, so a row's arcs own consecutive intervals of it.
    """
    start, end = indptr[positions], indptr[positions + 1]
    if cumweights is None:
        arc = start + (rng.random(len(positions)) * (end - start)).astype(np.int64)
    else:
        low = np.where(start > 0, cumweights[np.maximum(start - 1, 0)], 0.0)
        target = low + rng.random(len(positions)) * (cumweights[end - 1] - low)
        arc = np.searchsorted(cumweights, target, side="right")
    return indices[np.clip(arc, start, end - 1)]


def walk_scores(sources: np.ndarray, indptr: np.ndarray, indices: np.ndarray, cumweights: np.ndarray | None,
                walks_per_source: int, restart_prob: float, estimator: str, dangling: str,
                max_steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo PPR estimates for a batch of sources.

    Args:
        sources: Dense ids of the sources.
        indptr, indices, cumweights: CSR adjacency (``cumweights`` None when unweighted).
        walks_per_source: ω.
        restart_prob: α.
        estimator: ``visits`` (α per visit) or ``endpoints`` (1 where the walk stops).
        dangling: ``source`` (jump back to the source), ``stop`` (the walk ends there; for
            ``visits`` the expected remaining credit, 1, is given at once) or ``discard``
            (the walk ends without credit and counts 1 towards the pseudo-target ``n``: the
            share of walks that reached a jump, used by the walk index to compose vectors).
        max_steps: Walks alive after this many steps end where they are.
        rng: Random generator.

    Returns:
        ``(source_index, target, score)``: index into ``sources``, target id and estimated
        π(source, target); scores of one source sum to 1 (up to ``max_steps`` truncation
        under ``visits``). Target ``n`` appears only under ``discard``.
    """
    n = len(indptr) - 1
    stride = n + 1  # room for the pseudo-target n of discarded walks
    degree = np.diff(indptr)
    owner = np.repeat(np.arange(len(sources), dtype=np.int64), walks_per_source)
    pos = np.repeat(np.asarray(sources, dtype=np.int64), walks_per_source)
    keys: list[np.ndarray] = []
    credit: list[np.ndarray] = []
    visits = estimator == "visits"
    for step in range(max_steps + 1):
        if len(pos) == 0:
            break
        sink = degree[pos] == 0
        if dangling == "stop" and sink.any():
            # an absorbing vertex: the walk's whole remaining credit lands here
            keys.append(owner[sink] * stride + pos[sink])
            credit.append(np.ones(int(sink.sum())))
            owner, pos = owner[~sink], pos[~sink]
            sink = np.zeros(len(pos), dtype=bool)
        stops = rng.random(len(pos)) < restart_prob
        if step == max_steps:
            stops[:] = True
        if visits:
            keys.append(owner * stride + pos)
            credit.append(np.full(len(pos), restart_prob))
        else:
            keys.append(owner[stops] * stride + pos[stops])
            credit.append(np.ones(int(stops.sum())))
        owner, pos, sink = owner[~stops], pos[~stops], sink[~stops]
        if dangling == "source" and sink.any():
            pos[sink] = sources[owner[sink]]
        elif dangling == "discard" and sink.any():
            keys.append(owner[sink] * stride + n)
            credit.append(np.ones(int(sink.sum())))
            owner, pos, sink = owner[~sink], pos[~sink], sink[~sink]
        move = ~sink
        pos[move] = next_hops(pos[move], indptr, indices, cumweights, rng)
    all_keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
    all_credit = np.concatenate(credit) if credit else np.empty(0)
    uniq, inverse = np.unique(all_keys, return_inverse=True)
    scores = np.bincount(inverse, weights=all_credit, minlength=len(uniq)) / walks_per_source
    return uniq // stride, uniq % stride, scores


def top_k_per_group(group: np.ndarray, item: np.ndarray, score: np.ndarray, k: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` highest-scored items of every group (ties broken by smaller item id)."""
    order = np.lexsort((item, -score, group))
    group, item, score = group[order], item[order], score[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    rank = np.arange(len(group)) - np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    keep = rank < k
    return group[keep], item[keep], score[keep]


def csr_arrays(indptr: np.ndarray, weights: np.ndarray | None) -> np.ndarray | None:
    """``cumweights`` for :func:`next_hops` (None when unweighted or all weights equal per row)."""
    if weights is None:
        return None
    return np.cumsum(weights, dtype=np.float64)
