"""Vectorized random walks with restart over a CSR adjacency (numpy only).

All walks of a batch advance together: one array of positions, one step per loop
iteration, so the Python loop runs about ``1/α`` times, not once per step of each walk.

Randomness belongs to the source (:mod:`sparkgraph.udfs.streams`): walker ``j`` of source ``s``
takes draw ``t`` of its own counter-based stream, keyed by ``(seed, s, j)``, at step ``t`` (to
stop, and if not, rescaled, to pick its arc), and push-then-walk starts the walkers with an
offset from the source's own stream. Every number a source's estimate is made of is computed
from that source's row alone, in the same order in any batch (dense or sparse layout is chosen
by the graph's size alone), so a source gets the same estimate, bit for bit, alone or among any
other sources, in any task, and in the local twin.

Weighted rows are sampled from per-row running sums (:func:`row_cumweights`), so a row's
probabilities are exact to float64 precision relative to the row's own total, whatever the
weights of other rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sparkgraph.udfs import hubs
from sparkgraph.udfs.hubs import block_cumsums
from sparkgraph.udfs.push import PushPlan, dense_layout, in_batches, push_flow, transition_csr
from sparkgraph.udfs.smoothing import check_policy, in_transition, smoothed_all, smoothed_rows
from sparkgraph.udfs.streams import stream_keys, substream_keys, unit_draws

WALKER_STREAMS, START_STREAMS = 1, 2  # stream salts: walkers' coins; the push walkers' start offsets


@dataclass(frozen=True)
class WalkGraph:
    """The adjacency as the walks use it; :func:`walk_graph` builds it (once per task).

    Attributes:
        indptr, indices: CSR arrays (int64), columns sorted within each row.
        cumweights: :func:`row_cumweights` of the arc weights; None when unweighted.
        transition: :func:`transition_csr`, for push-then-walk and smoothing; None when not built.
        in_arcs: :func:`~sparkgraph.udfs.smoothing.in_transition` of it, for smoothing; None when not built.
    """

    indptr: np.ndarray
    indices: np.ndarray
    cumweights: np.ndarray | None
    transition: sp.csr_matrix | None
    in_arcs: sp.csr_matrix | None = None

    @property
    def n(self) -> int:
        return len(self.indptr) - 1


def walk_graph(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray | None = None,
               push: bool = True, smooth: bool = False) -> WalkGraph:
    """The :class:`WalkGraph` of a CSR adjacency (``weights`` None when unweighted; ``push``
    builds the transition matrix push-then-walk needs, ``smooth`` that and its in-arcs).

    Example:
        >>> g = walk_graph(np.array([0, 2, 3, 3]), np.array([1, 2, 0]), np.array([1.0, 3.0, 1.0]))
        >>> g.n, g.transition[0].toarray().tolist()
        (3, [[0.0, 0.25, 0.75]])
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    weights = None if weights is None else np.asarray(weights, dtype=np.float64)
    transition = transition_csr(indptr, indices, weights) if push or smooth else None
    return WalkGraph(indptr, indices, row_cumweights(indptr, weights), transition,
                     in_transition(transition) if smooth else None)


def row_cumweights(indptr: np.ndarray, weights: np.ndarray | None) -> np.ndarray | None:
    """Per-row running sums of the arc weights, for :func:`next_hops` (None when unweighted).

    Entry ``a``, an arc of row ``r``, is the complex number ``r + i·c`` with ``c`` the sum of row
    ``r``'s weights up to arc ``a``: every row sums from zero on its own (``np.cumsum`` of the row;
    a row of more than :data:`~sparkgraph.udfs.hubs.HUB_ARCS` arcs block by block,
    :func:`~sparkgraph.udfs.hubs.block_cumsums`, which the distributed strategy's split hubs
    reproduce), so its probabilities do not depend on other rows' weights; numpy orders complex
    numbers by real part, then imaginary part, so one ``np.searchsorted`` over all arcs finds an
    arc within its row.

    Example:
        >>> row_cumweights(np.array([0, 1, 3]), np.array([1e10, 1e-7, 3e-7]))
        array([0.+1.e+10j, 1.+1.e-07j, 1.+4.e-07j])
    """
    if weights is None:
        return None
    indptr = np.asarray(indptr, dtype=np.int64)
    degree = np.diff(indptr)
    keys = np.empty(int(indptr[-1]), dtype=np.complex128)
    keys.real = np.repeat(np.arange(len(degree), dtype=np.float64), degree)
    keys.imag = block_cumsums(indptr, np.asarray(weights, dtype=np.float64), hubs.HUB_ARCS)
    return keys


def next_hops(positions: np.ndarray, uniform: np.ndarray, graph: WalkGraph) -> np.ndarray:
    """One out-neighbour per position: an arc of the row with probability weight / row total
    (uniformly when unweighted), chosen by the walker's own uniform.

    Args:
        positions: Vertices, each with at least one out-edge.
        uniform: One uniform in [0, 1) per position.
        graph: The :class:`WalkGraph`.

    Example:
        >>> next_hops(np.array([0, 0]), np.array([0.2, 0.9]), walk_graph([0, 2, 2], [0, 1], [1.0, 3.0]))
        array([0, 1])
    """
    start, end = graph.indptr[positions], graph.indptr[positions + 1]
    if graph.cumweights is None:
        arc = start + (uniform * (end - start)).astype(np.int64)
    else:
        target = np.empty(len(positions), dtype=np.complex128)
        target.real = positions
        target.imag = uniform * graph.cumweights[end - 1].imag  # a point of the row's total weight
        arc = np.searchsorted(graph.cumweights, target, side="right")  # the first arc of the row past it
    return graph.indices[np.minimum(arc, end - 1)]


def start_walkers(residual: np.ndarray | sp.csr_matrix, walks: int, offsets: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``walks`` walkers per row spread over the row's residual by systematic sampling.

    Walker ``j`` of row ``i`` starts at the first entry where the row's running sum (float64, from
    the row's first entry) exceeds ``(j + offsets[i]) / walks`` of the row's mass: an entry holding
    a share ``p`` of it gets ``floor(walks·p)`` or ``ceil(walks·p)`` walkers.

    Args:
        residual: Flow still moving, one row per source (dense or CSR).
        walks: Walkers per row with residual mass.
        offsets: One uniform in [0, 1) per row (from the row's source's own stream).

    Returns:
        ``(owner, position, scale)``: the row and start of each walker (the walkers of a row
        together, in order ``j = 0..walks-1``; rows without mass start none), and per row
        ``scale`` = its mass / walks, the credit unit of its walkers.

    Example:
        >>> start_walkers(np.array([[0.0, 0.1, 0.3]], dtype=np.float32), 4, np.array([0.5]))[1]
        array([1, 2, 2, 2])
    """
    dense = isinstance(residual, np.ndarray)
    if not dense:
        residual = residual.tocsr()
        residual.sort_indices()  # each row is sampled in vertex order, as the dense layout does
    ticks = np.arange(walks, dtype=np.float64)
    mass = np.zeros(residual.shape[0])
    owners, positions = [], []
    for row in range(residual.shape[0]):  # rows are few (a batch of sources); the sampling inside is vectorized
        if dense:
            values, columns = residual[row], None
        else:
            lo, hi = residual.indptr[row], residual.indptr[row + 1]
            values, columns = residual.data[lo:hi], residual.indices[lo:hi]
        positive = np.flatnonzero(values > 0)
        if not len(positive):
            continue
        cum = np.cumsum(values, dtype=np.float64)
        mass[row] = cum[-1]
        picks = np.searchsorted(cum, (ticks + offsets[row]) / walks * cum[-1], side="right")
        picks = np.minimum(picks, positive[-1])  # a tick rounded up to the mass takes the last entry
        owners.append(np.full(walks, row, dtype=np.int64))
        positions.append(picks if columns is None else columns[picks].astype(np.int64))
    if not owners:
        return np.empty(0, np.int64), np.empty(0, np.int64), mass / walks
    return np.concatenate(owners), np.concatenate(positions).astype(np.int64), mass / walks


def walker_keys(seed: int, sources: np.ndarray, owner: np.ndarray, walks: int) -> np.ndarray:
    """Stream keys of walkers: walker ``j`` of a source walks on sub-stream ``j`` of the source's
    stream, one draw per step. ``owner``: each walker's index into ``sources``, the ``walks``
    walkers of a source together, in order ``j = 0..walks-1``."""
    return substream_keys(stream_keys(seed, sources, WALKER_STREAMS)[owner], np.tile(np.arange(walks), len(owner) // walks))


def start_offsets(seed: int, sources: np.ndarray) -> np.ndarray:
    """Each source's offset for :func:`start_walkers`, from its own stream."""
    return unit_draws(stream_keys(seed, sources, START_STREAMS), 0)


def walk_scores(sources: np.ndarray, graph: WalkGraph, walks_per_source: int, restart_prob: float,
                estimator: str, dangling: str, max_steps: int, seed: int, push: int | PushPlan = 0,
                top_k: int | None = None, smooth_entries: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo PPR estimates for a batch of sources.

    Args:
        sources: Dense ids of the sources.
        graph: The :class:`WalkGraph` (with its ``transition`` when pushing).
        walks_per_source: ω.
        restart_prob: α.
        estimator: ``visits`` (α per visit) or ``endpoints`` (1 where the walk stops).
        dangling: ``source`` (jump back to the source), ``stop`` (the walk ends there; for
            ``visits`` the expected remaining credit, 1, is given at once) or ``discard``
            (the walk ends without credit and counts 1 towards the pseudo-target ``n``: the
            share of walks that reached a jump, used by the walk index to compose vectors).
        max_steps: Walks alive after this many steps end where they are.
        seed: Random seed (``0 <= seed < 2**63``); each source draws from its own stream of it.
        push: Rounds of exact flow before the walks (push-then-walk), or a whole
            :class:`~sparkgraph.udfs.push.PushPlan` (:func:`~sparkgraph.udfs.push.auto_push`: a
            per-round threshold, or rounds, extra rounds and finishing in place). The ω walks of a
            source start from its residual flow and carry only its mass ((1-α)^rounds after
            ``rounds`` rounds); a source that finishes in place walks none.
        top_k: Keep only each source's ``top_k`` highest targets (ties: smaller id first);
            the pseudo-target ``n`` is kept besides them. None keeps every estimated entry.
        smooth_entries: None, or re-estimate each source's ``smooth_entries`` highest entries (0: the
            whole rows) by one step of the PPR equation (:mod:`sparkgraph.udfs.smoothing`; ``graph``
            built with ``smooth=True``; ``dangling`` source or stop), before ``top_k``: only those
            entries are returned, the positive ones.

    Returns:
        ``(source_index, target, score)``: index into ``sources``, target id and estimated
        π(source, target); scores of one source sum to 1 (up to walks cut at ``max_steps``
        under ``visits``, and before ``top_k`` or smoothing). Target ``n`` appears only under ``discard``.
        A source's rows are the same whatever other sources the batch holds.

    Example:
        >>> g = walk_graph(np.array([0, 1, 2]), np.array([1, 0]))
        >>> row, target, score = walk_scores(np.array([0]), g, 1000, 0.15, "visits", "source", 100, seed=1)
        >>> sorted(target.tolist())
        [0, 1]
    """
    plan = push if isinstance(push, PushPlan) else PushPlan(push)
    if smooth_entries is not None:
        check_policy(dangling)
        if graph.in_arcs is None:
            raise ValueError("smoothing needs the graph's in-arcs: build it with walk_graph(..., smooth=True)")
    return in_batches(sources, graph.n, lambda batch: _walk_batch(
        batch, graph, walks_per_source, restart_prob, estimator, dangling, max_steps, seed, plan, top_k,
        smooth_entries))


def _walk_batch(sources: np.ndarray, graph: WalkGraph, walks_per_source: int, restart_prob: float, estimator: str,
                dangling: str, max_steps: int, seed: int, plan: PushPlan, top_k: int | None,
                smooth_entries: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`walk_scores` for a batch within the dense layout's size."""
    n = graph.n
    stride = n + 1  # room for the pseudo-target n of discarded walks
    omega = walks_per_source
    visited: list[np.ndarray] = []  # keys source_index * stride + target, one per visit (worth α·scale)
    ended: list[np.ndarray] = []  # one per walk's end or absorption (worth scale)
    kept = None
    if plan.rounds > 0:
        kept, residual = push_flow(sources, graph.transition, plan.rounds, restart_prob, dangling,
                                   threshold=plan.threshold, extra_rounds=plan.extra_rounds,
                                   walks_to_beat=plan.walks_to_beat)
        owner, pos, scale = start_walkers(residual, omega, start_offsets(seed, sources))
    else:
        owner = np.repeat(np.arange(len(sources), dtype=np.int64), omega)
        pos = np.repeat(sources, omega)
        scale = np.full(len(sources), 1.0 / omega)
    walker = walker_keys(seed, sources, owner, omega)
    degree = np.diff(graph.indptr)
    visits = estimator == "visits"
    for step in range(max_steps + 1):
        if len(pos) == 0:
            break
        sink = degree[pos] == 0
        if dangling == "stop" and sink.any():
            # an absorbing vertex: the walk's whole remaining credit lands here
            ended.append(owner[sink] * stride + pos[sink])
            owner, pos, walker = owner[~sink], pos[~sink], walker[~sink]
            sink = np.zeros(len(pos), dtype=bool)
        draw = unit_draws(walker, step)
        stops = draw < restart_prob if step < max_steps else np.ones(len(pos), dtype=bool)
        if visits:
            visited.append(owner * stride + pos)
        else:
            ended.append(owner[stops] * stride + pos[stops])
        go = ~stops
        owner, pos, walker, sink, draw = owner[go], pos[go], walker[go], sink[go], draw[go]
        if dangling == "source" and sink.any():
            pos[sink] = sources[owner[sink]]
        elif dangling == "discard" and sink.any():
            ended.append(owner[sink] * stride + n)
            owner, pos, walker, draw, sink = owner[~sink], pos[~sink], walker[~sink], draw[~sink], sink[~sink]
        move = ~sink
        # the draw that did not stop the walker picks its arc: given u >= α, (u - α) / (1 - α) is uniform in [0, 1)
        pos[move] = next_hops(pos[move], (draw[move] - restart_prob) / (1 - restart_prob), graph)
    if smooth_entries is None:
        return _tally(_joined(visited), _joined(ended), scale, restart_prob, n, kept, top_k)
    scores = _tally(_joined(visited), _joined(ended), scale, restart_prob, n, kept, top_k=None, rows=False)
    if smooth_entries == 0:  # every entry: the whole rows' product
        row, col, score = rows_top_k(smoothed_all(scores, sources, graph.transition, degree == 0, restart_prob,
                                                  dangling), None)
    else:
        row, col, _ = rows_top_k(scores, smooth_entries)
        score = smoothed_rows(scores, row, col, sources, graph.in_arcs, degree == 0, restart_prob, dangling)
        positive = score > 0  # (under endpoints an entry none of whose in-neighbours saw a walk end)
        row, col, score = row[positive], col[positive], score[positive]
    return (row, col, score) if top_k is None else top_k_per_group(row, col, score, top_k)


def _joined(keys: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(keys) if keys else np.empty(0, np.int64)


def credit_scores(visits: np.ndarray, ends: np.ndarray, scale: np.ndarray | float, restart_prob: float) -> np.ndarray:
    """Scores from whole counts: ``visits·(α·scale) + ends·scale``, the one formula every strategy
    uses, so equal counts give equal scores bit for bit, however the counts were summed."""
    return visits * (restart_prob * scale) + ends * scale


def _tally(visited: np.ndarray, ended: np.ndarray, scale: np.ndarray, restart_prob: float, n: int,
           kept: np.ndarray | sp.csr_matrix | None, top_k: int | None, rows: bool = True
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | np.ndarray | sp.csr_matrix:
    """Count the visits and ends of each ``(source_index, target)`` key (``source_index * (n+1) +
    target``), turn the counts into scores (:func:`credit_scores`, each row at its ``scale``), then
    add the push's ``kept``. Returns ``(row, target, score)`` (:func:`rows_top_k`), or with ``rows``
    False the scores of the ``n`` targets as a matrix (dense, or CSR with sorted indices).

    Counts are whole numbers, exact in any order, so a source's scores do not depend on the order
    its walkers come in, and are the same in both layouts: a dense ``groups x (n+1)`` array under
    :func:`dense_layout`, else sparse matrices (scipy's COO to CSR conversion sums duplicates with
    a counting sort by row: ~10x faster than sorting the keys).
    """
    stride, groups = n + 1, len(scale)
    if dense_layout(n):
        def counts(keys):
            return np.bincount(keys, minlength=groups * stride).astype(np.float64).reshape(groups, stride)
        acc = credit_scores(counts(visited), counts(ended), scale[:, None], restart_prob)
        if kept is not None:
            acc += kept
        jump = acc[:, n]
    else:
        def counts(keys):
            return sp.csr_matrix((np.ones(len(keys)), (keys // stride, keys % stride)), shape=(groups, stride))
        v, e = counts(visited), counts(ended)
        v.sum_duplicates()
        e.sum_duplicates()
        # each count matrix has its own pattern: score it with the other count zero (adding 0.0 is exact)
        v.data = credit_scores(v.data, 0.0, scale[np.repeat(np.arange(groups), np.diff(v.indptr))], restart_prob)
        e.data = credit_scores(0.0, e.data, scale[np.repeat(np.arange(groups), np.diff(e.indptr))], restart_prob)
        acc = (v + e).tocsr()
        if kept is not None:
            acc = (acc + kept).tocsr()
        jump = acc[:, [n]].toarray().ravel()
    if not rows:
        scores = acc[:, :n]
        if sp.issparse(scores):
            scores = scores.tocsr()
            scores.sort_indices()
        return scores
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
