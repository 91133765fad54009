"""Vectorized random walks with restart over a CSR adjacency (numpy only).

All walks of a batch advance together: one array of positions, one step per loop
iteration, so the Python loop runs about ``1/α`` times, not once per step of each walk.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


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


def transition_csr(indptr: np.ndarray, indices: np.ndarray, cumweights: np.ndarray | None) -> sp.csr_matrix:
    """Row-stochastic transition matrix of the CSR adjacency (rows of vertices without out-edges are empty)."""
    n = len(indptr) - 1
    weights = np.ones(len(indices)) if cumweights is None else np.diff(np.r_[0.0, cumweights])
    degree = np.diff(indptr)
    row_sum = np.add.reduceat(weights, indptr[:-1][degree > 0]) if len(weights) else np.empty(0)
    totals = np.zeros(n)
    totals[degree > 0] = row_sum
    probs = weights / np.repeat(np.where(totals > 0, totals, 1.0), degree)
    return sp.csr_matrix((probs, indices, indptr), shape=(n, n))


DENSE_FLOW_ENTRIES = 4_000_000  # sources x vertices up to which push and tallies use dense arrays (32 MB each)
DENSE_MAX_VERTICES = 65_536  # on larger graphs a few rounds of flow cover a small part: dense would touch every arc


def dense_fits(sources: int, n: int) -> bool:
    """Whether a batch of ``sources`` gets dense ``sources x (n+1)`` flow and tally arrays."""
    return n <= DENSE_MAX_VERTICES and sources * (n + 1) <= DENSE_FLOW_ENTRIES


def push_flow(sources: np.ndarray, transition: sp.csr_matrix, rounds: int, restart_prob: float,
              dangling: str, prune: float = 0.0) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | sp.csr_matrix]:
    """Exact flow from the sources for ``rounds`` rounds: ``(kept, residual)``.

    ``kept`` (sources x n+1) is what those rounds settle exactly (α of the flow each round;
    column n holds the jump share under ``discard``); ``residual`` (sources x n) is the flow
    still moving, whose completion the walks estimate: π_s = kept + Σ_v residual(v) π_v.
    Entries below ``prune`` after a round stop moving and stay in ``residual`` as they are (the
    decomposition holds whatever round mass leaves the push at; pruning only bounds its cost).
    Batches that :func:`dense_fits` get dense numpy arrays (a few rounds of flow fill most of
    a dense graph); larger ones sparse CSR matrices.
    """
    n = transition.shape[0]
    rows = np.arange(len(sources))
    sinks = np.flatnonzero(np.diff(transition.indptr) == 0)
    if dense_fits(len(sources), n):
        # float32 flow (2.5x faster products; its rounding, ~1e-7 relative, is far below the walks'
        # error); kept sums in float64
        flow = np.zeros((len(sources), n), dtype=np.float32)
        flow[rows, sources] = 1.0
        kept = np.zeros((len(sources), n + 1))
        transposed = transition.T.tocsr().astype(np.float32)
        step = np.float32(1 - restart_prob)
        parked = np.zeros_like(flow)
        for r in range(rounds):
            kept[:, :n] += restart_prob * flow
            moving = step * flow
            if r == 0:  # the flow is still one-hot: its step is the sources' rows of P
                nxt = step * transition[sources].toarray().astype(np.float32)
            else:  # P^T @ moving^T keeps the batch contiguous for scipy's multi-vector product
                nxt = (transposed @ moving.T).T
            _settle_sinks(nxt, kept, moving[:, sinks], sinks, rows, sources, dangling, n)
            if prune > 0:
                small = nxt < prune
                parked[small] += nxt[small]
                nxt[small] = 0
            flow = nxt
        return kept, flow + parked
    flow = sp.csr_matrix((np.ones(len(sources)), (rows, sources)), shape=(len(sources), n))
    kept = sp.csr_matrix((len(sources), n + 1))
    parked = sp.csr_matrix((len(sources), n))
    for _ in range(rounds):
        kept = kept + sp.hstack([restart_prob * flow, sp.csr_matrix((len(sources), 1))]).tocsr()
        moving = (1 - restart_prob) * flow
        nxt = moving @ transition
        if len(sinks):
            stuck = moving[:, sinks]
            mass = np.asarray(stuck.sum(axis=1)).ravel()
            if dangling == "source":
                nxt = nxt + sp.csr_matrix((mass, (rows, sources)), shape=nxt.shape)
            elif dangling == "stop":
                nxt = nxt + sp.csr_matrix((stuck.data, (stuck.tocoo().row, sinks[stuck.tocoo().col])),
                                          shape=nxt.shape)
            else:
                kept = kept + sp.csr_matrix((mass, (rows, np.full(len(rows), n))), shape=kept.shape)
        flow = nxt.tocsr()
        if prune > 0:
            small = flow.copy()
            small.data[small.data >= prune] = 0
            flow.data[flow.data < prune] = 0
            parked = parked + small
        flow.eliminate_zeros()
    return kept.tocsr(), (flow + parked).tocsr()


def _settle_sinks(nxt: np.ndarray, kept: np.ndarray, stuck: np.ndarray, sinks: np.ndarray, rows: np.ndarray,
                  sources: np.ndarray, dangling: str, n: int) -> None:
    """Dense push: place the flow that stood on vertices without out-edges, by the dangling policy."""
    if not len(sinks):
        return
    if dangling == "source":
        nxt[rows, sources] += stuck.sum(axis=1)
    elif dangling == "stop":
        nxt[:, sinks] += stuck
    else:
        kept[:, n] += stuck.sum(axis=1)


def start_walkers(residual: np.ndarray | sp.csr_matrix, walks: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``walks`` walkers per row spread over the row's residual by systematic sampling.

    Returns ``(owner, position, scale)``: each walker carries ``scale[owner]`` = the row's
    residual mass / walks, so the walkers' credits add up to the residual's completion.
    """
    if isinstance(residual, np.ndarray):
        return _start_walkers_dense(residual, walks, rng)
    residual = residual.tocsr()
    residual.sort_indices()  # the sampling walks each row in vertex order, as the dense layout does
    mass = np.asarray(residual.sum(axis=1)).ravel()
    live = np.flatnonzero(mass > 0)
    owner = np.repeat(live, walks)
    ticks = (np.tile(np.arange(walks), len(live)) + np.repeat(rng.random(len(live)), walks)) / walks
    position = np.empty(len(owner), dtype=np.int64)
    for i, row in enumerate(live):  # rows are few (a chunk of sources); the sampling inside is vectorized
        lo, hi = residual.indptr[row], residual.indptr[row + 1]
        row_cum = np.cumsum(residual.data[lo:hi])
        picks = np.searchsorted(row_cum, ticks[i * walks:(i + 1) * walks] * row_cum[-1], side="right")
        position[i * walks:(i + 1) * walks] = residual.indices[lo:hi][np.minimum(picks, hi - lo - 1)]
    return owner, position, mass / walks


def _start_walkers_dense(residual: np.ndarray, walks: int, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`start_walkers` for a dense residual: one searchsorted over all rows at once.

    Row i's normalised running sum is shifted to [i, i+1], so the rows form one increasing array
    (in float64: float32 spacing near 256 is 3e-5, coarser than many entries' share of a row).
    """
    mass = residual.sum(axis=1, dtype=np.float64)
    live = np.flatnonzero(mass > 0)
    n = residual.shape[1]
    cum = np.cumsum(residual[live], axis=1, dtype=np.float64) / mass[live, None] + np.arange(len(live))[:, None]
    ticks = (np.arange(walks)[None, :] + rng.random(len(live))[:, None]) / walks + np.arange(len(live))[:, None]
    picks = np.searchsorted(cum.ravel(), ticks.ravel(), side="right")
    row = np.repeat(np.arange(len(live)), walks)
    position = np.clip(picks - row * n, 0, n - 1)
    return live[row], position.astype(np.int64), mass / walks


def walk_scores(sources: np.ndarray, indptr: np.ndarray, indices: np.ndarray, cumweights: np.ndarray | None,
                walks_per_source: int, restart_prob: float, estimator: str, dangling: str,
                max_steps: int, rng: np.random.Generator, push_rounds: int = 0,
                transition: sp.csr_matrix | None = None, top_k: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        push_rounds: Rounds of exact flow before the walks (push-then-walk); the ω walks then
            start from the residual flow and carry only its mass, (1-α)^rounds of the total.
        transition: :func:`transition_csr` of the adjacency, reused across calls (push only).
        top_k: Keep only each source's ``top_k`` highest targets (ties: smaller id first);
            the pseudo-target ``n`` is kept besides them. None keeps every estimated entry.

    Returns:
        ``(source_index, target, score)``: index into ``sources``, target id and estimated
        π(source, target); scores of one source sum to 1 (up to ``max_steps`` truncation
        under ``visits``, and before ``top_k``). Target ``n`` appears only under ``discard``.
    """
    n = len(indptr) - 1
    stride = n + 1  # room for the pseudo-target n of discarded walks
    sources = np.asarray(sources, dtype=np.int64)
    keys: list[np.ndarray] = []
    credit: list[np.ndarray] = []
    kept = None
    if push_rounds > 0:
        if transition is None:
            transition = transition_csr(indptr, indices, cumweights)
        kept, residual = push_flow(sources, transition, push_rounds, restart_prob, dangling)
        if sp.issparse(kept):
            coo = kept.tocoo()
            keys.append(coo.row.astype(np.int64) * stride + coo.col)
            credit.append(coo.data)
            kept = None
        owner, pos, scale = start_walkers(residual, walks_per_source, rng)
    else:
        owner = np.repeat(np.arange(len(sources), dtype=np.int64), walks_per_source)
        pos = np.repeat(sources, walks_per_source)
        scale = np.full(len(sources), 1.0 / walks_per_source)
    degree = np.diff(indptr)
    visits = estimator == "visits"
    for step in range(max_steps + 1):
        if len(pos) == 0:
            break
        sink = degree[pos] == 0
        if dangling == "stop" and sink.any():
            # an absorbing vertex: the walk's whole remaining credit lands here
            keys.append(owner[sink] * stride + pos[sink])
            credit.append(scale[owner[sink]])
            owner, pos = owner[~sink], pos[~sink]
            sink = np.zeros(len(pos), dtype=bool)
        stops = rng.random(len(pos)) < restart_prob
        if step == max_steps:
            stops[:] = True
        if visits:
            keys.append(owner * stride + pos)
            credit.append(restart_prob * scale[owner])
        else:
            keys.append(owner[stops] * stride + pos[stops])
            credit.append(scale[owner[stops]])
        owner, pos, sink = owner[~stops], pos[~stops], sink[~stops]
        if dangling == "source" and sink.any():
            pos[sink] = sources[owner[sink]]
        elif dangling == "discard" and sink.any():
            keys.append(owner[sink] * stride + n)
            credit.append(scale[owner[sink]])
            owner, pos, sink = owner[~sink], pos[~sink], sink[~sink]
        move = ~sink
        pos[move] = next_hops(pos[move], indptr, indices, cumweights, rng)
    all_keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
    all_credit = np.concatenate(credit) if credit else np.empty(0)
    return _tally(all_keys, all_credit, len(sources), n, kept, top_k)


def _tally(keys: np.ndarray, credit: np.ndarray, groups: int, n: int, kept: np.ndarray | None,
           top_k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum the credits of each ``(source_index, target)`` key (``source_index * (n+1) + target``).

    Batches that :func:`dense_fits` add into a dense ``groups x (n+1)`` array (plus the dense
    ``kept`` of the push); others into a sparse matrix (scipy's COO to CSR conversion sums
    duplicates with a counting sort by row: ~10x faster than sorting the keys).
    """
    stride = n + 1
    if kept is not None or dense_fits(groups, n):
        # (astype: bincount of no keys at all returns integers)
        acc = np.bincount(keys, weights=credit, minlength=groups * stride).astype(np.float64).reshape(groups, stride)
        if kept is not None:
            acc += kept
        jump = acc[:, n]
    else:
        acc = sp.csr_matrix((credit, (keys // stride, keys % stride)), shape=(groups, stride))
        acc.sum_duplicates()
        jump = acc[:, [n]].toarray().ravel()
    row, col, score = rows_top_k(acc[:, :n], top_k)
    jumped = np.flatnonzero(jump > 0)  # the pseudo-target n, only under discard
    return (np.concatenate([row, jumped]), np.concatenate([col, np.full(len(jumped), n)]),
            np.concatenate([score, jump[jumped]]))


def rows_top_k(scores: np.ndarray | sp.spmatrix, k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, column, score)`` of each row's ``k`` highest positive entries (all when ``k`` is None).

    Dense arrays use a partition per row; sparse matrices sort (:func:`top_k_per_group`).
    Ties at the cut go to smaller columns either way.
    """
    if sp.issparse(scores):
        coo = scores.tocoo()
        positive = coo.data > 0
        row, col, data = coo.row[positive].astype(np.int64), coo.col[positive].astype(np.int64), coo.data[positive]
        return (row, col, data) if k is None else top_k_per_group(row, col, data, k)
    keep = scores > 0 if k is None else _dense_top_k_mask(scores, k)
    row, col = np.nonzero(keep)
    return row, col, scores[row, col]


def _dense_top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Mask of each row's ``k`` highest positive entries; ties at the cut go to smaller columns."""
    if k >= scores.shape[1]:
        return scores > 0
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(axis=1, keepdims=True)
    return (above | (tied & (np.cumsum(tied, axis=1) <= room))) & (scores > 0)


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
    """``cumweights`` for :func:`next_hops`: the running sum of arc weights in CSR order (None when unweighted)."""
    if weights is None:
        return None
    return np.cumsum(weights, dtype=np.float64)
