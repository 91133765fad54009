"""Random walks over one shard of the graph: the distributed PPR strategy's kernel (numpy only).

The graph is cut into shards of consecutive dense ids, ``[lo, hi)``, each holding the CSR rows of
its vertices (columns are global ids). A task receives one shard and the walkers standing in it,
and walks them **as far as they stay inside**: a walker leaves the task only when it steps onto
another shard's vertex (or jumps back to a source there), so on a graph with locality most walks
finish in the task that started them.

Every step is the broadcast kernel's (:func:`sparkgraph.udfs.walks.walk_scores` without push):
walker ``j`` of source ``s`` draws from its own counter-based stream, keyed by ``(seed, s, j)``,
draw ``t`` at step ``t``, and picks its arc with :func:`~sparkgraph.udfs.walks.next_hops` on the
same per-row sums. Visits and ends are counted as whole numbers and turned into scores by the
same formula (:func:`~sparkgraph.udfs.walks.credit_scores`), so the distributed strategy's
estimates equal the broadcast strategy's and the local twin's **bit for bit**, whatever the
number of shards, batches or tasks.

Example:
    >>> from sparkgraph.udfs.walks import walk_graph
    >>> g = walk_graph(np.array([0, 1, 2]), np.array([1, 0]))          # shard [0, 2) of a 2-cycle
    >>> walkers = spawn(np.array([0]), 4, seed=1)
    >>> tally, leaving = walk_in_shard(walkers, g, 0, 2, 0.15, "visits", "source", 100, 2)
    >>> int(tally.visits.sum()) >= 4, len(leaving.pos)
    (True, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sparkgraph.udfs.hubs import Hubs
from sparkgraph.udfs.shard_push import UNIT
from sparkgraph.udfs.streams import unit_draws
from sparkgraph.udfs.walks import (
    WalkGraph,
    credit_scores,
    next_hops,
    start_offsets,
    start_walkers,
    top_k_per_group,
    walker_keys,
)


@dataclass
class Walkers:
    """Walkers in flight, one entry each: their source, stream key, steps taken and position."""

    source: np.ndarray  # int64
    key: np.ndarray  # uint64
    step: np.ndarray  # int64
    pos: np.ndarray  # int64

    def take(self, mask: np.ndarray) -> Walkers:
        return Walkers(self.source[mask], self.key[mask], self.step[mask], self.pos[mask])

    def __len__(self) -> int:
        return len(self.pos)

    @staticmethod
    def concat(parts: list[Walkers]) -> Walkers:
        if not parts:
            return Walkers(np.empty(0, np.int64), np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64))
        return Walkers(*(np.concatenate([getattr(w, f) for w in parts])
                         for f in ("source", "key", "step", "pos")))


@dataclass
class Tally:
    """Whole numbers per ``(source, target)``: visits (worth α·scale) and ends (worth scale) of the
    source's walkers, and ``flow``: units of flow its push kept there
    (:mod:`sparkgraph.udfs.shard_push`). At target :func:`mass_target` (``n + 1``), ``flow`` holds
    the residual its walkers carry, which sets their scale, mass / ω (1/ω without push)."""

    source: np.ndarray
    target: np.ndarray
    visits: np.ndarray
    ends: np.ndarray
    flow: np.ndarray

    def take(self, mask: np.ndarray) -> Tally:
        return Tally(self.source[mask], self.target[mask], self.visits[mask], self.ends[mask], self.flow[mask])

    @staticmethod
    def concat(parts: list[Tally]) -> Tally:
        return Tally(*(np.concatenate([getattr(t, name) for t in parts] or [np.empty(0, np.int64)])
                       for name in ("source", "target", "visits", "ends", "flow")))


def mass_target(n: int) -> int:
    """The pseudo-target of a :class:`Tally` that holds a source's residual mass (``n``: the jump share)."""
    return n + 1


def spawn(sources: np.ndarray, walks: int, seed: int) -> Walkers:
    """``walks`` walkers per source at the source, at step 0, on the source's own sub-streams
    (the broadcast kernel's walkers, without push)."""
    sources = np.asarray(sources, dtype=np.int64)
    owner = np.repeat(np.arange(len(sources)), walks)
    return Walkers(sources[owner], walker_keys(seed, sources, owner, walks), np.zeros(len(owner), np.int64),
                   sources[owner])


def spawn_from_residual(sources: np.ndarray, residual: sp.csr_matrix, walks: int, seed: int) -> Walkers:
    """``walks`` walkers per row of ``residual`` (one row per source, columns global ids) spread
    over it as the broadcast kernel spreads them (:func:`~sparkgraph.udfs.walks.start_walkers`,
    offsets from the source's own stream), at step 0."""
    sources = np.asarray(sources, dtype=np.int64)
    owner, pos, _ = start_walkers(residual, walks, start_offsets(seed, sources))
    return Walkers(sources[owner], walker_keys(seed, sources, owner, walks), np.zeros(len(owner), np.int64), pos)


def walk_in_shard(walkers: Walkers, graph: WalkGraph, lo: int, hi: int, restart_prob: float, estimator: str,
                  dangling: str, max_steps: int, n: int, hubs: Hubs | None = None, held: dict | None = None
                  ) -> tuple[Tally, Walkers]:
    """Walk ``walkers`` (all standing in ``[lo, hi)``) until each stops or leaves the shard.

    Args:
        walkers: The walkers.
        graph: The shard's rows ``lo..hi-1`` as a :class:`~sparkgraph.udfs.walks.WalkGraph`
            (columns are global ids).
        lo, hi: The shard's vertices.
        restart_prob, estimator, dangling, max_steps: As for
            :func:`~sparkgraph.udfs.walks.walk_scores`; ``discard`` ends count towards target ``n``.
        n: Vertices of the whole graph.
        hubs: The graph's split hubs (:class:`~sparkgraph.udfs.hubs.Hubs`; their rows in
            ``graph`` are empty): a walker stepping on from one of this shard's picks the block
            of its arc and leaves for it, at position ``-(block + 1)`` (:func:`resolve_pending`),
            unless the block is one of those ``held`` here (``{block: (columns, sums)}``, as for
            :meth:`~sparkgraph.udfs.hubs.Hubs.resolve`): then it takes the arc at once, as the
            block's shard would.

    Returns:
        ``(tally, leaving)``: the counts earned here, summed per (source, target), and the
        walkers now standing outside the shard.
    """
    degree, hub_of = np.diff(graph.indptr), None
    if hubs is not None and len(hubs):
        degree, hub_of = hubs.in_shard(lo, hi, degree)
    width = hi - lo + 1  # the shard's vertices, and one column for the pseudo-target n
    owner, sources = pd.factorize(walkers.source)  # a hash, not a sort
    sources = np.asarray(sources, dtype=np.int64)
    # source: an index into sources; step and pos are updated in place, so copied from the caller's
    w = Walkers(owner.astype(np.int64), walkers.key, walkers.step.copy(), walkers.pos.copy())
    visited, ended, leaving, finished = Events(), Events(), [], []
    while len(w):
        sink = degree[w.pos - lo] == 0
        if dangling == "stop" and sink.any():
            ended.add(w.source[sink], w.pos[sink] - lo)
            finished.append(w.source[sink])
            w = w.take(~sink)
            sink = np.zeros(len(w), dtype=bool)
        draw = unit_draws(w.key, w.step)
        stops = (draw < restart_prob) | (w.step >= max_steps)
        if estimator == "visits":
            visited.add(w.source, w.pos - lo)
        else:
            ended.add(w.source[stops], w.pos[stops] - lo)
        go = ~stops
        jump = go & sink
        if dangling == "source" and jump.any():
            w.pos[jump] = sources[w.source[jump]]
        elif dangling == "discard" and jump.any():
            ended.add(w.source[jump], np.full(int(jump.sum()), width - 1, np.int64))
            go &= ~sink
        finished.append(w.source[~go])
        move = go & ~sink
        w.pos[move] = _next_positions(w.pos[move] - lo, (draw[move] - restart_prob) / (1 - restart_prob), graph,
                                      hubs, hub_of, held or {})
        w.step += 1
        inside = (w.pos >= lo) & (w.pos < hi)
        out = go & ~inside
        if out.any():
            leaving.append(w.take(out))
        w = w.take(go & inside)  # one copy per step for the walkers that stay
    out = Walkers.concat(leaving)
    out.source = sources[out.source]
    done = np.bincount(np.concatenate(finished), minlength=len(sources)) if finished else np.zeros(0, np.int64)
    tally = Tally.concat([count_credits(visited, ended, sources, lo, width, n), finished_walkers(sources, done, n)])
    return tally, out


def _next_positions(rows: np.ndarray, uniform: np.ndarray, graph: WalkGraph, hubs: Hubs | None,
                    hub_of: np.ndarray | None, held: dict) -> np.ndarray:
    """The next vertex of walkers stepping on from shard rows ``rows``; from a split hub's row, the
    block of its arc as ``-(block + 1)``, or the arc's head when the block is ``held`` here."""
    if hub_of is None:
        return next_hops(rows, uniform, graph)
    hub = hub_of[rows]
    split = hub >= 0
    out = np.empty(len(rows), dtype=np.int64)
    out[~split] = next_hops(rows[~split], uniform[~split], graph)
    block = hubs.choose_blocks(hub[split], uniform[split])
    here = np.isin(block, np.fromiter(held, np.int64, len(held)))
    heads = -(block + 1)  # (a block held elsewhere: the walker leaves for it)
    if here.any():
        heads[here] = hubs.resolve(block[here], uniform[split][here], held)
    out[split] = heads
    return out


def resolve_pending(walkers: Walkers, hubs: Hubs, held: dict, restart_prob: float) -> Walkers:
    """Walkers sent to a block of a hub's row (position ``-(block + 1)``, step already counted) take
    their arc there, with the uniform they drew at the hub (recomputed from their stream):
    :meth:`~sparkgraph.udfs.hubs.Hubs.resolve` over the blocks ``held`` here."""
    pending = walkers.pos < 0
    if not pending.any():
        return walkers
    draw = unit_draws(walkers.key[pending], walkers.step[pending] - 1)
    pos = walkers.pos.copy()
    pos[pending] = hubs.resolve(-walkers.pos[pending] - 1, (draw - restart_prob) / (1 - restart_prob), held)
    return Walkers(walkers.source, walkers.key, walkers.step, pos)


def finished_walkers(sources: np.ndarray, done: np.ndarray, n: int) -> Tally:
    """Walkers that stopped, ``done[i]`` of source ``sources[i]``, as ends at :func:`mass_target`
    (where no estimate reads them): a source whose ends there reach ω has no walker left, and its
    counts are final (:func:`complete_sources`)."""
    has = done > 0
    zeros = np.zeros(int(has.sum()), np.int64)
    return Tally(sources[has], np.full(len(zeros), mass_target(n), np.int64), zeros, done[has].astype(np.int64), zeros)


def complete_sources(tally: Tally, walks: int, n: int) -> np.ndarray:
    """Which entries of a merged ``tally`` belong to sources whose ``walks`` walkers have all stopped
    (:func:`finished_walkers`): no count will come for them, so their scores are final. A source
    whose push kept all its flow starts no walker and never counts as complete (it waits for the end)."""
    at = tally.target == mass_target(n)
    return np.isin(tally.source, tally.source[at & (tally.ends == walks)])


class Events:
    """Visit or end events of a shard's walkers: owner indices and columns, gathered step by step."""

    def __init__(self):
        self.owners: list[np.ndarray] = []
        self.columns: list[np.ndarray] = []

    def add(self, owners: np.ndarray, columns: np.ndarray) -> None:
        self.owners.append(owners)
        self.columns.append(columns)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.owners:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(self.owners), np.concatenate(self.columns)


# an end counts in the high half of a packed count, a visit in the low half: a task never holds 2³²
# events (32 GiB of owners alone), so no count carries into the other half
_END = np.int64(1) << 32


def count_credits(visited: Events, ended: Events, sources: np.ndarray, lo: int, width: int, n: int) -> Tally:
    """Sum a shard's visit and end events per ``(source, target)``.

    Events are ``(owner, column)`` pairs (owner: an index into ``sources``; column: target - ``lo``,
    or ``width - 1`` for the pseudo-target ``n``). Visits count 1 and ends 2³² in one int64 sum
    per pair, which scipy's COO to CSR conversion sums by a counting sort over the owners (then
    each owner's columns are sorted).
    """
    (v_rows, v_cols), (e_rows, e_cols) = visited.arrays(), ended.arrays()
    weight = np.concatenate([np.ones(len(v_rows), np.int64), np.full(len(e_rows), _END)])
    packed = sp.csr_matrix((weight, (np.concatenate([v_rows, e_rows]), np.concatenate([v_cols, e_cols]))),
                           shape=(len(sources), width), dtype=np.int64)
    packed.sum_duplicates()
    coo = packed.tocoo()
    column = coo.col.astype(np.int64)
    target = np.where(column == width - 1, n, column + lo)
    return Tally(sources[coo.row], target, coo.data & (_END - 1), coo.data >> 32, np.zeros(len(target), np.int64))


def merge_tallies(tallies: list[Tally], n: int) -> Tally:
    """One :class:`Tally` from many, counts summed per (source, target) (a hash of the sources, a
    counting sort by them, then each source's targets sorted)."""
    t = Tally.concat(tallies)
    row, sources = pd.factorize(t.source)
    shape = (len(sources), mass_target(n) + 1)

    def summed(counts):  # the same coordinates for all three: their patterns and orders agree
        m = sp.csr_matrix((counts.astype(np.int64), (row, t.target)), shape=shape)
        m.sum_duplicates()
        return m.tocoo()

    visits, ends, flow = summed(t.visits), summed(t.ends), summed(t.flow)
    return Tally(np.asarray(sources, np.int64)[visits.row], visits.col.astype(np.int64), visits.data, ends.data,
                 flow.data)


def top_counts(tally: Tally, keep: int, restart_prob: float, n: int) -> Tally:
    """Each source's ``keep`` largest walker counts in ``tally`` by their credit, ``α·visits + ends``
    (one scale per source, so the credit ranks them as their scores do, up to rounding; equal
    credits: smaller target); entries that hold push flow, the jump share ``n`` or
    :func:`mass_target` always stay. A dropped entry's credit is at most the ``keep``-th largest of
    its source here, so a target summed over cut tallies falls short by at most the sum of those
    (``PPRParams.count_top``).

    Example:
        >>> t = Tally(np.zeros(3, np.int64), np.array([4, 5, 6]), np.array([3, 1, 2]), np.zeros(3, np.int64),
        ...           np.zeros(3, np.int64))
        >>> top_counts(t, 2, 0.15, 10).target.tolist()
        [4, 6]
    """
    fixed = (tally.flow > 0) | (tally.target >= n)
    counted = np.flatnonzero(~fixed)
    credit = restart_prob * tally.visits[counted] + tally.ends[counted]
    # (a tally is sorted by target within each source, so the smaller index is the smaller target)
    _, kept, _ = top_k_per_group(tally.source[counted], counted, credit, keep)
    mask = fixed.copy()
    mask[kept] = True
    return tally.take(mask)


def tally_scores(tally: Tally, walks: int, restart_prob: float, n: int, top_k: int | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source, target, score)`` from a merged tally of every walk and push of its sources: each
    source's ``top_k`` highest targets (ties: smaller id; None keeps all) and, besides them, the
    pseudo-target ``n`` of ``discard`` walks. A score is the walkers' credit
    (:func:`~sparkgraph.udfs.walks.credit_scores` at the source's scale: its residual mass / ω, or 1/ω
    without push) plus the flow its push kept there."""
    carried = tally.target == mass_target(n)
    pushed = carried & (tally.flow > 0)  # (the row also counts finished walkers, pushed or not)
    at = pd.Index(tally.source[pushed]).get_indexer(tally.source)  # -1: a source without push
    mass = np.r_[tally.flow[pushed], 0][at]
    scale = np.where(at >= 0, mass * UNIT / walks, 1.0 / walks)
    score = credit_scores(tally.visits.astype(np.float64), tally.ends.astype(np.float64), scale, restart_prob)
    score = score + tally.flow * UNIT
    jump = tally.target == n
    real = ~jump & ~carried & (score > 0)
    source, target, value = tally.source[real], tally.target[real], score[real]
    if top_k is not None:
        source, target, value = top_k_per_group(source, target, value, top_k)
    return (np.concatenate([source, tally.source[jump]]), np.concatenate([target, tally.target[jump]]),
            np.concatenate([value, score[jump]]))
