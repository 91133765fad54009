"""Push over one shard of the graph, in fixed point: the distributed PPR strategy's push (numpy only).

The distributed strategy pushes exact flow from its sources before they walk (push-then-walk),
one round of pushes per round of its pipeline: a task receives one shard and the flow standing
on its vertices, and pushes every entry once: α of it is **kept** where it stands, the rest
splits over the vertex's out-arcs and travels on (to any shard), or the entry is **parked** as
residual, which the source's walkers finish.

Flow is counted in whole units of ``2**-FLOW_BITS`` (:data:`ONE` is a source's whole flow), so
the sums Spark makes in any order, over any partitioning, are exact: a source's kept, parked
and walked flow is the same whatever the shards, batches or tasks. Every split is exact too
(each arc's share is the difference of two rounded running shares, the last arc taking the rest),
so a source's kept and residual units add up to :data:`ONE` exactly.

Which entries push is the broadcast strategy's rule (:func:`~sparkgraph.udfs.push.push_threshold`),
every entry deciding alone: after ``t`` pushes, an entry of ``x`` units on a vertex of out-degree
``d`` pushes while ``x >= threshold · (1-α)^t · max(d, 1)`` and ``t < rounds``, so each round
costs a source at most what its walks cost.

Example:
    >>> from sparkgraph.udfs.walks import walk_graph
    >>> g = walk_graph(np.array([0, 1, 2]), np.array([1, 0]), push=False)    # a 2-cycle, one shard
    >>> kept, moved, parked = push_round(Flow.start(np.array([0])), g, 0, 2, 0.15, "source", 8, 0.0)
    >>> int(kept.amount[0] + moved.amount[0]) == ONE, moved.pos.tolist(), len(parked)
    (True, [1], 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sparkgraph.udfs.hubs import Hubs
from sparkgraph.udfs.walks import WalkGraph

FLOW_BITS = 60  # a source's flow is 2**60 units; its sums stay below 2**63 with room to spare
ONE = 1 << FLOW_BITS
UNIT = 2.0**-FLOW_BITS  # one unit of flow, as a float


@dataclass
class Flow:
    """Flow entries: ``amount`` units of a source's flow standing on ``pos``, and a counter
    ``step`` (pushes that brought it there, for flow; rounds still to wait, for parked flow)."""

    source: np.ndarray  # int64
    pos: np.ndarray  # int64
    amount: np.ndarray  # int64 units
    step: np.ndarray  # int64

    @staticmethod
    def start(sources: np.ndarray) -> Flow:
        """Each source's whole flow on itself, before any push."""
        sources = np.asarray(sources, dtype=np.int64)
        return Flow(sources, sources.copy(), np.full(len(sources), ONE, np.int64), np.zeros(len(sources), np.int64))

    @staticmethod
    def concat(parts: list[Flow]) -> Flow:
        if not parts:
            return Flow(*(np.empty(0, np.int64) for _ in range(4)))
        return Flow(*(np.concatenate([getattr(f, name) for f in parts]) for name in ("source", "pos", "amount", "step")))

    def take(self, mask: np.ndarray) -> Flow:
        return Flow(self.source[mask], self.pos[mask], self.amount[mask], self.step[mask])

    def __len__(self) -> int:
        return len(self.pos)


def summed(flow: Flow) -> Flow:
    """One entry per (source, pos): the amounts summed exactly, the largest ``step`` kept
    (a source's flow in one round shares one step); sorted by source, then pos."""
    if not len(flow):
        return flow
    width = int(flow.pos.max()) + 1
    if int(flow.source.max()) < (2**62) // width:  # one int64 key, (source, pos) in order: half lexsort's time
        order = np.argsort(flow.source * width + flow.pos, kind="stable")
    else:
        order = np.lexsort((flow.pos, flow.source))
    f = flow.take(order)
    first = np.r_[True, (f.source[1:] != f.source[:-1]) | (f.pos[1:] != f.pos[:-1])]
    starts = np.flatnonzero(first)
    return Flow(f.source[starts], f.pos[starts], np.add.reduceat(f.amount, starts),
                np.maximum.reduceat(f.step, starts))


def push_round(flow: Flow, graph: WalkGraph, lo: int, hi: int, restart_prob: float, dangling: str, rounds: int,
               threshold: float, hubs: Hubs | None = None) -> tuple[Flow, Flow, Flow]:
    """Push once every entry of ``flow`` (all standing in ``[lo, hi)``) that may: ``(kept, moved, parked)``.

    Args:
        flow: The flow (entries of one source and vertex are summed first); ``step``: pushes so far.
        graph: The shard's rows ``lo..hi-1`` (columns are global ids).
        lo, hi: The shard's vertices.
        restart_prob: α.
        dangling: ``source`` (flow on a vertex without out-arcs moves to its source) or ``stop``
            (it is kept there whole: the walk would end there).
        rounds: Pushes a source's flow makes at most.
        threshold: Units per out-arc an entry needs to push in its first round, ``(1-α)^t`` times
            that after ``t`` pushes (``ONE`` × :func:`~sparkgraph.udfs.push.push_threshold`; 0:
            every entry pushes, for ``rounds`` rounds).
        hubs: The graph's split hubs (:class:`~sparkgraph.udfs.hubs.Hubs`): their rows are
            elsewhere, so flow on them parks (a push over a hub's row would cost more than a
            source's walks, :func:`~sparkgraph.udfs.push.push_threshold`, unless ω is huge).

    Returns:
        ``kept``: units settled exactly, per (source, vertex); ``moved``: the pushed flow on
        its next vertices (any shard), ``step`` one more; ``parked``: the entries that did not
        push, as they are, for the walks. The three hold every unit of ``flow``.
    """
    if dangling not in ("source", "stop"):
        raise ValueError(f"push_round: dangling={dangling!r} has no push (use source or stop)")
    f = summed(flow)
    degree, hub_of = np.diff(graph.indptr), None
    if hubs is not None and len(hubs):
        degree, hub_of = hubs.in_shard(lo, hi, degree)
    degree = degree[f.pos - lo]
    sink = degree == 0
    absorbed = sink if dangling == "stop" else np.zeros(len(f), bool)
    needed = threshold * (1 - restart_prob) ** f.step.astype(np.float64) * np.maximum(degree, 1)
    pushes = ~absorbed & (f.step < rounds) & (f.amount.astype(np.float64) >= needed)
    if hub_of is not None:
        pushes &= hub_of[f.pos - lo] < 0
    parked = f.take(~absorbed & ~pushes)
    p = f.take(pushes)
    keep = np.minimum(np.floor(restart_prob * p.amount.astype(np.float64)).astype(np.int64), p.amount)
    moving = p.amount - keep
    kept = Flow.concat([f.take(absorbed), Flow(p.source, p.pos, keep, p.step)])
    jumping = sink[pushes]  # dangling == "source": the flow goes back to its source
    to_source = Flow(p.source[jumping], p.source[jumping], moving[jumping], p.step[jumping] + 1)
    spread = _split(p.take(~jumping), moving[~jumping], graph, lo)
    moved = Flow.concat([to_source, spread])
    return kept.take(kept.amount > 0), moved.take(moved.amount > 0), parked


def push_inside(flow: Flow, graph: WalkGraph, lo: int, hi: int, restart_prob: float, dangling: str, rounds: int,
                threshold: float, hubs: Hubs | None = None) -> tuple[np.ndarray, Flow, Flow]:
    """Push ``flow``, the whole flow of its sources (all in ``[lo, hi)``), round after round in this
    task while it stays in the shard: every round is :func:`push_round`, so every decision is the
    one the pipeline's rounds would make (which round a push happens in does not matter to it).

    Args:
        flow: The sources' whole flow (:meth:`Flow.start`, say).
        graph, lo, hi, restart_prob, dangling, rounds, threshold, hubs: As for :func:`push_round`.

    Returns:
        ``(whole, kept, parked)``: the sources (sorted) whose push ended with none of their flow
        outside the shard, and their kept and parked flow, all of it, one entry per (source,
        vertex) (:func:`summed`). A source whose flow steps out of the shard at some round gets
        nothing here: its rounds run in the pipeline, the first one again (one vertex's push).

    Example:
        >>> from sparkgraph.udfs.walks import walk_graph
        >>> g = walk_graph(np.array([0, 1, 2]), np.array([1, 0]), push=False)    # a 2-cycle, one shard
        >>> whole, kept, parked = push_inside(Flow.start(np.array([0])), g, 0, 2, 0.15, "source", 8, 0.0)
        >>> whole.tolist(), int(kept.amount.sum() + parked.amount.sum()) == ONE
        ([0], True)
    """
    whole = np.unique(flow.source)
    kept, parked = [], []
    while len(flow):
        k, moved, stopped = push_round(flow, graph, lo, hi, restart_prob, dangling, rounds, threshold, hubs)
        kept.append(k)
        parked.append(stopped)
        whole = np.setdiff1d(whole, moved.source[(moved.pos < lo) | (moved.pos >= hi)])
        flow = moved.take(np.isin(moved.source, whole))
    kept, parked = Flow.concat(kept), Flow.concat(parked)
    return whole, summed(kept.take(np.isin(kept.source, whole))), summed(parked.take(np.isin(parked.source, whole)))


def _split(entries: Flow, moving: np.ndarray, graph: WalkGraph, lo: int) -> Flow:
    """``moving`` units of each entry shared over its vertex's out-arcs, exactly: arc ``i`` of a row
    gets ``c_i - c_(i-1)``, with ``c_i`` the row's running share up to arc ``i`` rounded down
    (unweighted: ``moving // d`` each, the first ``moving % d`` arcs one unit more) and the last
    ``c`` the whole amount."""
    row = entries.pos - lo
    start, degree = graph.indptr[row], np.diff(graph.indptr)[row]
    owner = np.repeat(np.arange(len(row)), degree)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(degree) - degree, degree)
    arc = start[owner] + within
    if graph.cumweights is None:
        q, r = np.divmod(moving, np.maximum(degree, 1))
        share = q[owner] + (within < r[owner])
    else:
        cum = graph.cumweights.imag[arc]
        total = graph.cumweights.imag[(start + degree - 1)[owner]]
        amount = moving[owner]
        running = np.minimum(np.floor(amount.astype(np.float64) * (cum / total)).astype(np.int64), amount)
        last = within == degree[owner] - 1
        running[last] = amount[last]
        share = np.diff(np.r_[0, running])
        share[within == 0] = running[within == 0]
    return Flow(entries.source[owner], graph.indices[arc], share.astype(np.int64), entries.step[owner] + 1)


def residual_matrix(parked: Flow) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """``(sources, residual, mass)``: the parked flow of each source as a row of floats (units ×
    UNIT), its vertices in order, for :func:`~sparkgraph.udfs.walks.start_walkers`, and its units
    in all; entries of one (source, vertex) summed exactly first."""
    f = summed(parked)  # sorted by source, then vertex
    sources, first, row = np.unique(f.source, return_index=True, return_inverse=True)
    width = int(f.pos.max()) + 1 if len(f) else 1
    matrix = sp.csr_matrix((f.amount.astype(np.float64) * UNIT, (row, f.pos)), shape=(len(sources), width))
    matrix.sort_indices()
    mass = np.add.reduceat(f.amount, first) if len(f) else np.empty(0, np.int64)
    return sources, matrix, mass
