"""Exact flow from a batch of sources: the push of push-then-walk and of walk-index queries (numpy only).

π_s = Σ_t α(1-α)^t e_s P^t: ``rounds`` rounds of it settle the first terms exactly (``kept``), and
what is still moving (``residual``) is finished by walks (:mod:`sparkgraph.udfs.walks`) or by
fingerprints (:mod:`sparkgraph.udfs.compose`), or, where a bound says that beats the walks,
**in place**: placed where it stands, at a known L1 cost (:func:`in_place_ratio`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def transition_csr(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray | None) -> sp.csr_matrix:
    """Row-stochastic transition matrix of the CSR adjacency (rows of vertices without out-edges are empty)."""
    n = len(indptr) - 1
    weights = np.ones(len(indices)) if weights is None else np.asarray(weights, dtype=np.float64)
    degree = np.diff(indptr)
    row_sum = np.add.reduceat(weights, indptr[:-1][degree > 0]) if len(weights) else np.empty(0)
    totals = np.zeros(n)
    totals[degree > 0] = row_sum
    probs = weights / np.repeat(np.where(totals > 0, totals, 1.0), degree)
    return sp.csr_matrix((probs, indices, indptr), shape=(n, n))


DENSE_FLOW_ENTRIES = 4_000_000  # sources x vertices up to which a batch's push and tallies use dense arrays (32 MB each)
DENSE_MAX_VERTICES = 65_536  # on larger graphs a few rounds of flow cover a small part: dense would touch every arc


# A step of the vectorized walk loop costs about as much as this many arcs touched by the sparse
# push (one core; bench/ppr_push.py measured 3.6 on a 100k-vertex planted-partition graph, 7.3 on
# cnr-2000, 8.9 on a 100k-vertex Chung–Lu graph: the graphs large enough for the sparse layout;
# the lower price errs on a shorter push)
STEP_COST_SPARSE_ARCS = 2.0
SPARSE_PUSH_ROUNDS = 8  # at most, in the sparse layout; sources stop earlier by cost
DENSE_PUSH_ROUNDS = 8  # the dense layout: every source pushes these, then finishes in place or walks
# A dense round of one source costs an arc-term per arc and a few passes over its row of n
# vertices; a walk step costs about as much as this many of either (one core; bench/ppr_push.py
# reports a round in walk steps, measured and by this model)
STEP_COST_DENSE_ARCS = 500.0
STEP_COST_DENSE_VERTICES = 15.0
MAX_PUSH_ROUNDS = 50  # rounds in all, whatever the cost model allows ((1-α)^50 < 3e-4 at α=0.15)


@dataclass(frozen=True)
class PushPlan:
    """How far a batch pushes before its walks (:func:`auto_push`).

    Attributes:
        rounds: Rounds of exact flow every source pushes (at most, with ``threshold``; 0: plain walks).
        threshold: Flow per out-arc an entry needs to push in the first round, ``(1-α)^t`` times
            that after ``t`` pushes (:func:`push_threshold`, sparse layout); None: every entry pushes.
        extra_rounds: Rounds a source may push beyond ``rounds`` while it heads for finishing in
            place (needs ``rounds >= 2``: the trend takes two ratios).
        walks_to_beat: ω: a source finishes in place once that errs less than ω walks would
            (:func:`push_flow`, dense layout); None: every source walks its residual.
    """

    rounds: int
    threshold: float | None = None
    extra_rounds: int = 0
    walks_to_beat: int | None = None

    def __post_init__(self) -> None:
        if self.walks_to_beat is not None and self.threshold is not None:
            raise ValueError("a push plan finishes in place (dense layout) or has a threshold (sparse), not both")
        if self.extra_rounds and (self.walks_to_beat is None or self.rounds < 2):
            raise ValueError("extra_rounds need walks_to_beat and rounds >= 2")

    def describe(self) -> str:
        if self.threshold is not None:
            return (f"at most {self.rounds} push rounds, each costing a source at most what its walks cost "
                    f"(threshold {self.threshold:.3g} per out-arc)")
        if self.walks_to_beat is not None:
            return (f"{self.rounds} push rounds (up to {self.extra_rounds} more), then in place where its bound "
                    f"beats {self.walks_to_beat} walks")
        return f"{self.rounds} push rounds"


def auto_push(n: int, arcs: int, walks: int, restart_prob: float, dangling: str = "source") -> PushPlan:
    """Push rounds chosen by cost.

    A source's ω walks take ω/α steps.

    Sparse layout: a round costs the arcs it touches (the out-degrees of the vertices a source's
    flow stands on), which grows every round, fast in a social graph, slowly in a web graph
    with strong locality: every flow entry pushes while it holds enough flow per out-arc that the
    round costs the source at most what its walks cost (:func:`push_threshold`), at most
    ``SPARSE_PUSH_ROUNDS`` rounds; the rest waits for the walks.

    Dense layout (graphs of up to ``DENSE_MAX_VERTICES``): every round costs every source the
    same, ``arcs / STEP_COST_DENSE_ARCS + n / STEP_COST_DENSE_VERTICES`` walk steps. Each source
    pushes ``DENSE_PUSH_ROUNDS``, then **finishes in place** as soon as :func:`in_place_ratio`
    bounds the error of placing its flow where it stands under mass/√ω, the least L1 error ω walks
    reached on any graph we measured (Cora: 1.08·mass/√ω), which saves the walks. A source
    whose bound falls towards that line (a fast-mixing graph) may push on for as many rounds as
    its walks cost; one whose bound stalls (slow mixing) walks. So a source costs at most its 8
    rounds plus twice its walks. Under ``discard`` (the walk index) nothing finishes in place.

    Example:
        >>> auto_push(100_000, 2_000_000, 1000, 0.15)
        PushPlan(rounds=8, threshold=7.5e-05, extra_rounds=0, walks_to_beat=None)
        >>> auto_push(10_312, 667_966, 1000, 0.15).extra_rounds
        3
    """
    steps = walks / restart_prob
    if not dense_layout(n):
        return PushPlan(SPARSE_PUSH_ROUNDS, push_threshold(walks, restart_prob))
    if dangling not in FINISHING_POLICIES:
        return PushPlan(DENSE_PUSH_ROUNDS)
    per_round = arcs / STEP_COST_DENSE_ARCS + n / STEP_COST_DENSE_VERTICES
    extra = int(min(steps / max(per_round, 1e-9), MAX_PUSH_ROUNDS - DENSE_PUSH_ROUNDS))
    return PushPlan(DENSE_PUSH_ROUNDS, extra_rounds=extra, walks_to_beat=walks)


FINISHING_POLICIES = ("source", "stop")  # policies whose P is stochastic, as the in-place bound needs


def push_threshold(walks: int, restart_prob: float) -> float:
    """The flow per out-arc (a share of a source's whole flow) an entry needs to push in its first
    round; after ``t`` pushes it needs ``(1-α)^t`` times that.

    A per-round form of FORA's rule (Wang et al., KDD 2017: push while ``r(v) >= r_max·d(v)``). A
    source's ω walks take ω/α steps, the work of ``B = ω/α · STEP_COST_SPARSE_ARCS`` arcs; the
    threshold is ``1/B``. The flow left after ``t`` pushes holds at most ``(1-α)^t``, so the entries
    of mass ``x`` on vertices of out-degree ``d`` that push in round ``t`` touch
    ``Σd <= Σx / ((1-α)^t / B) <= B`` arcs: each round costs a source at most what its walks
    cost. (FORA's own ``r_max`` bounds all rounds together, loosely: on a social graph it stops
    after two rounds where the walks would pay for a third.) Every entry decides alone, so the
    rule is the same in a task that sees one shard of the graph (:mod:`sparkgraph.udfs.shard_push`).

    Example:
        >>> push_threshold(1000, 0.15)                           # 1 / (1000 / 0.15 · 2)
        7.5e-05
    """
    return restart_prob / (STEP_COST_SPARSE_ARCS * walks)


def dense_layout(n: int) -> bool:
    """Whether push and tallies on a graph of ``n`` vertices use dense arrays (``sources x (n+1)``).

    The graph decides, never the batch: the dense push runs in float32, the sparse one in
    float64, so a batch-dependent choice would make a source's estimate depend on its batch.
    """
    return n <= DENSE_MAX_VERTICES and n + 1 <= DENSE_FLOW_ENTRIES


def dense_batch(n: int) -> int:
    """Sources per batch that keep the dense arrays within ``DENSE_FLOW_ENTRIES`` entries."""
    return max(1, DENSE_FLOW_ENTRIES // (n + 1))


def in_batches(sources: np.ndarray, n: int, run: Callable[[np.ndarray], tuple[np.ndarray, ...]]
               ) -> tuple[np.ndarray, ...]:
    """``run(batch)`` over batches of :func:`dense_batch` sources under the dense layout (all
    sources at once otherwise), its ``(row, ...)`` results concatenated with rows renumbered."""
    sources = np.asarray(sources, dtype=np.int64)
    size = dense_batch(n) if dense_layout(n) else max(1, len(sources))
    parts = []
    for lo in range(0, max(1, len(sources)), size):
        row, *rest = run(sources[lo: lo + size])
        parts.append((row + lo, *rest))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def push_flow(sources: np.ndarray, transition: sp.csr_matrix, rounds: int, restart_prob: float,
              dangling: str, prune: float = 0.0, threshold: float | None = None, extra_rounds: int = 0,
              walks_to_beat: int | None = None
              ) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | sp.csr_matrix]:
    """Exact flow from the sources for ``rounds`` rounds (each entry or row its own number with
    ``threshold`` or ``walks_to_beat``): ``(kept, residual)``.

    ``kept`` (sources x n+1) is what those rounds settle exactly (α of the flow each round;
    column n holds the jump share under ``discard``); ``residual`` (sources x n) is the flow
    still moving, whose completion the walks estimate: π_s = kept + Σ_v residual(v) π_v.
    Entries below ``prune`` after a round stop moving and stay in ``residual`` as they are (the
    decomposition holds whatever round mass leaves the push at; pruning only bounds its cost).
    Graphs with a :func:`dense_layout` get dense numpy arrays (a few rounds of flow fill most of
    a small graph; callers keep batches to :func:`dense_batch` sources), larger ones sparse CSR
    matrices. Each row is computed from its own source alone, the same in any batch.

    ``threshold`` (sparse layout only): in round ``t`` (from 0) an entry holding less than
    ``threshold · (1-α)^t`` per out-arc of its vertex (one arc for a vertex without) stops pushing
    and stays in ``residual`` as it is (:func:`push_threshold`); each entry decides alone.

    ``walks_to_beat`` (dense layout, ``source`` or ``stop`` policy, not with ``prune``): from round
    ``rounds`` on, a row whose flow placed where it stands errs less than ``walks_to_beat`` walks would
    (:func:`in_place_ratio` <= 1/√walks_to_beat) **finishes in place**: its in-flight flow joins
    ``kept`` and its residual is zero (no walks), so ``kept`` is π_s within that bound. A row that
    has not may push up to ``extra_rounds`` more rounds while the trend of its ratio says it gets
    there within them (:func:`rounds_to_finish_in_place`); the others keep their residual for the walks.
    """
    if walks_to_beat is not None and prune > 0:
        raise ValueError("push_flow: walks_to_beat and prune do not go together (pruned flow has no bound)")
    n = transition.shape[0]
    if dense_layout(n):
        return _dense_push(sources, transition, rounds, restart_prob, dangling, prune, extra_rounds,
                           walks_to_beat)
    rows = np.arange(len(sources))
    sinks = np.flatnonzero(np.diff(transition.indptr) == 0)
    flow = sp.csr_matrix((np.ones(len(sources)), (rows, sources)), shape=(len(sources), n))
    kept = sp.csr_matrix((len(sources), n + 1))
    parked = sp.csr_matrix((len(sources), n))
    out_degree = np.diff(transition.indptr).astype(np.float64)
    for t in range(rounds):
        if threshold is not None:
            flow, stopped = _stop_thin_entries(flow, out_degree, threshold * (1 - restart_prob) ** t)
            parked = parked + stopped
            if not flow.nnz:
                break
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
        # a row's next product sums its terms in the order its entries are stored: store them by column
        # (scipy leaves a product's rows in an order that depends on the whole matrix's format)
        flow.sort_indices()
        if prune > 0:
            small = flow.copy()
            small.data[small.data >= prune] = 0
            flow.data[flow.data < prune] = 0
            parked = parked + small
        flow.eliminate_zeros()
    return kept.tocsr(), (flow + parked).tocsr()


def in_place_ratio(moving: np.ndarray, nxt: np.ndarray, restart_prob: float) -> np.ndarray:
    """Per row, a bound on the L1 error of placing the in-flight flow ``nxt`` where it stands, over its mass.

    With ``nxt = moving·P`` (one round: ``moving`` is (1-α) times the flow f), the rest of the flow
    settles into ``nxt·Π`` (Π: the PPR vectors as rows) and
    ``‖nxt - nxt·Π‖₁ = ‖Σ_t α(1-α)^t (nxt - nxt·Pᵗ)‖₁ <= ((1-α)/α)·‖nxt - nxt·P‖₁ <= ((1-α)/α)·‖moving - nxt‖₁``
    (``‖x - x·Pᵗ‖ <= t‖x - x·P‖``, and a stochastic P does not grow an L1 norm). Rows are
    summed each from its own entries, in the same order in any batch (:func:`row_sums`).

    Example:
        >>> moving = np.array([[0.85, 0.0]])                        # all flow on vertex 0 of a 2-cycle
        >>> in_place_ratio(moving, moving[:, ::-1], 0.15)          # it all moves: the bound is 2·(1-α)/α
        array([11.33333333])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1 - restart_prob) / restart_prob * row_sums(np.abs(moving - nxt)) / row_sums(nxt)


def row_sums(rows: np.ndarray) -> np.ndarray:
    """Each row's running sum in float64 (the terms added one after another, as ``np.cumsum``).

    Not numpy's ``sum`` of a row, which groups the terms pairwise by the array's shape and memory
    order, so a row could get another rounding in another batch. A column-major array of two rows
    or more is reduced column after column, which is each row's running sum at the speed of a
    vector add (undocumented numpy behaviour: ``tests/test_udfs.py`` pins it down); one row goes
    through ``np.cumsum``.
    """
    if rows.shape[0] == 1:
        return np.cumsum(rows[0], dtype=np.float64)[-1:]
    return np.add.reduce(np.asfortranarray(rows), axis=1, dtype=np.float64)


def rounds_to_finish_in_place(ratio: np.ndarray, previous_ratio: np.ndarray, walks: int) -> np.ndarray:
    """Rounds until :func:`in_place_ratio` falls to ``1/√walks``, extrapolated from its last two values
    (it falls geometrically once the flow mixes); infinite where it does not fall or
    ``previous_ratio`` is NaN.

    Example:
        >>> rounds_to_finish_in_place(np.array([0.2, 0.5, 0.2]), np.array([0.4, 0.4, np.nan]), 100)
        array([ 1., inf, inf])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = ratio / previous_ratio
        needed = np.log(ratio * np.sqrt(walks)) / -np.log(shrink)
    return np.where((shrink < 1) & np.isfinite(needed), needed, np.inf)


def _dense_push(sources: np.ndarray, transition: sp.csr_matrix, rounds: int, restart_prob: float, dangling: str,
                prune: float, extra_rounds: int, walks_to_beat: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`push_flow` under the dense layout, rows leaving the batch as they end (in place, or to walk)."""
    n = transition.shape[0]
    sinks = np.flatnonzero(np.diff(transition.indptr) == 0)
    kept = np.zeros((len(sources), n + 1))
    residual = np.zeros((len(sources), n), dtype=np.float32)
    # float32 flow (2.5x faster products; its rounding, ~1e-7 relative, is far below the walks'
    # error); kept sums in float64. The arrays below hold the rows still pushing (``active``); kept
    # itself until a row leaves, then a compact copy, each row written back once, when it leaves.
    active = np.arange(len(sources))
    active_kept = kept
    flow = np.zeros((len(sources), n), dtype=np.float32)
    flow[active, sources] = 1.0
    parked = np.zeros_like(flow) if prune > 0 else None
    previous_ratio = np.full(len(sources), np.nan)  # no trend before two ratios
    transposed = transition.T.tocsr().astype(np.float32)
    step = np.float32(1 - restart_prob)
    finishing = walks_to_beat is not None and dangling in FINISHING_POLICIES
    for r in range(rounds + (extra_rounds if finishing else 0)):
        active_kept[:, :n] += restart_prob * flow
        moving = step * flow
        if r == 0:  # the flow is still one-hot: its step is the sources' rows of P
            nxt = step * transition[sources[active]].toarray().astype(np.float32)
        else:  # P^T @ moving^T keeps the batch contiguous for scipy's multi-vector product
            nxt = (transposed @ moving.T).T
        _settle_sinks(nxt, active_kept, moving[:, sinks], sinks, np.arange(len(active)), sources[active], dangling, n)
        in_place = walking = np.zeros(len(active), dtype=bool)
        if finishing and r + 2 >= rounds:
            ratio = in_place_ratio(moving, nxt, restart_prob)
            if r + 1 >= rounds:
                in_place = ratio <= 1 / np.sqrt(walks_to_beat)  # its residual stays zero: no walks
                np.add(active_kept[:, :n], nxt, out=active_kept[:, :n], where=in_place[:, None])
                left = rounds + extra_rounds - (r + 1)
                walking = ~in_place & (rounds_to_finish_in_place(ratio, previous_ratio, walks_to_beat) > left)
            previous_ratio = ratio
        if parked is not None:
            small = nxt < prune
            parked[small] += nxt[small]
            nxt[small] = 0
        flow = nxt
        ending = in_place | walking
        if ending.any():
            if active_kept is not kept:
                kept[active[ending]] = active_kept[ending]
            residual[active[walking]] = flow[walking] if parked is None else flow[walking] + parked[walking]
            stay = ~ending
            active, flow, previous_ratio, active_kept = active[stay], flow[stay], previous_ratio[stay], active_kept[stay]
            parked = None if parked is None else parked[stay]
            if not len(active):
                break
    if active_kept is not kept:
        kept[active] = active_kept
    residual[active] = flow if parked is None else flow + parked
    return kept, residual


def _stop_thin_entries(flow: sp.csr_matrix, out_degree: np.ndarray, per_arc: float
                       ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(flow, stopped)``: the entries holding less than ``per_arc`` per out-arc of their vertex
    (one for a vertex without) move from ``flow`` to ``stopped``."""
    thin = flow.data < per_arc * np.maximum(out_degree[flow.indices], 1)
    running, stopped = flow.copy(), flow.copy()
    running.data[thin] = 0
    stopped.data[~thin] = 0
    for matrix in (running, stopped):
        matrix.eliminate_zeros()
    return running, stopped


def _settle_sinks(nxt: np.ndarray, kept: np.ndarray, stuck: np.ndarray, sinks: np.ndarray, rows: np.ndarray,
                  sources: np.ndarray, dangling: str, n: int) -> None:
    """Dense push: place the flow that stood on vertices without out-edges, by the dangling policy
    (a row's stuck mass summed by :func:`row_sums`)."""
    if not len(sinks):
        return
    if dangling == "stop":
        nxt[:, sinks] += stuck
        return
    mass = row_sums(stuck)
    if dangling == "source":
        nxt[rows, sources] += mass.astype(np.float32)
    else:
        kept[:, n] += mass
