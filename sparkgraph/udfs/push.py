"""Exact flow from a batch of sources: the push of push-then-walk and of walk-index queries (numpy only).

π_s = Σ_t α(1-α)^t e_s P^t: ``rounds`` rounds of it settle the first terms exactly (``kept``), and
what is still moving (``residual``) is finished by walks (:mod:`sparkgraph.udfs.walks`) or by
fingerprints (:mod:`sparkgraph.udfs.compose`).
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
DENSE_PUSH_ROUNDS = 8  # the dense layout: every round costs the same (measured: bench/ppr_push.py)


@dataclass(frozen=True)
class PushPlan:
    """How far a batch pushes before its walks (:func:`auto_push`).

    Attributes:
        rounds: Rounds of exact flow at most (0: plain walks).
        budget: Arcs one source's push may touch in all (sparse layout); None: every source pushes ``rounds``.
    """

    rounds: int
    budget: float | None = None

    def describe(self) -> str:
        if self.budget is None:
            return f"{self.rounds} push rounds"
        return f"at most {self.rounds} push rounds, within {self.budget:,.0f} arcs per source"


def auto_push(n: int, walks: int, restart_prob: float) -> PushPlan:
    """Push rounds chosen by cost: the push of a source may cost as much as its walks do.

    A source's ω walks take ω/α steps; pushing spends at most that much too, so push-then-walk
    costs at most about twice plain walks and puts the time into exact flow, whose error is
    zero (each round takes a share α of the moving mass out of the walks' estimate). In the
    sparse layout a round costs the arcs it touches (the out-degrees of the vertices a source's
    flow stands on), which grows every round, fast in a social graph, slowly in a web graph
    with strong locality: each source pushes rounds while their arcs in all stay within
    ``ω/α · STEP_COST_SPARSE_ARCS``, at most ``SPARSE_PUSH_ROUNDS``. In the dense layout (graphs
    of up to ``DENSE_MAX_VERTICES``) every round costs the same for every source: a fixed
    ``DENSE_PUSH_ROUNDS``.

    Example:
        >>> auto_push(100_000, 1000, 0.15)
        PushPlan(rounds=8, budget=13333.333333333334)
    """
    if dense_layout(n):
        return PushPlan(DENSE_PUSH_ROUNDS)
    return PushPlan(SPARSE_PUSH_ROUNDS, walks / restart_prob * STEP_COST_SPARSE_ARCS)


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
              dangling: str, prune: float = 0.0, budget: float | None = None
              ) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | sp.csr_matrix]:
    """Exact flow from the sources for ``rounds`` rounds: ``(kept, residual)``.

    ``kept`` (sources x n+1) is what those rounds settle exactly (α of the flow each round;
    column n holds the jump share under ``discard``); ``residual`` (sources x n) is the flow
    still moving, whose completion the walks estimate: π_s = kept + Σ_v residual(v) π_v.
    Entries below ``prune`` after a round stop moving and stay in ``residual`` as they are (the
    decomposition holds whatever round mass leaves the push at; pruning only bounds its cost).
    Graphs with a :func:`dense_layout` get dense numpy arrays (a few rounds of flow fill most of
    a small graph; callers keep batches to :func:`dense_batch` sources), larger ones sparse CSR
    matrices. Each row is computed from its own source alone, the same in any batch.

    ``budget`` (sparse layout only): a row stops pushing before the round that would bring the arcs
    its rounds touched (the out-degrees of the vertices its flow stood on) over ``budget``; its flow
    stays in ``residual``. Rows stop one by one, each by its own flow alone (:func:`auto_push`).
    """
    n = transition.shape[0]
    rows = np.arange(len(sources))
    sinks = np.flatnonzero(np.diff(transition.indptr) == 0)
    if dense_layout(n):
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
    out_degree = np.diff(transition.indptr).astype(np.float64)
    spent = np.zeros(len(sources))
    for _ in range(rounds):
        if budget is not None:
            flow, stopped = _stop_costly_rows(flow, out_degree, spent, budget)
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


def _stop_costly_rows(flow: sp.csr_matrix, out_degree: np.ndarray, spent: np.ndarray, budget: float
                      ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(flow, stopped)``: the rows whose next round would bring their arcs touched (``spent``,
    updated here) over ``budget`` move from ``flow`` to ``stopped`` whole; the others stay as they are."""
    rows_of = np.repeat(np.arange(flow.shape[0]), np.diff(flow.indptr))
    costs = np.bincount(rows_of, weights=out_degree[flow.indices], minlength=flow.shape[0])
    costly = spent + costs > budget
    spent += np.where(costly, 0.0, costs)
    if not costly.any():
        return flow, sp.csr_matrix(flow.shape)
    keep = sp.diags((~costly).astype(np.float64))
    stop = sp.diags(costly.astype(np.float64))
    running, stopped = (keep @ flow).tocsr(), (stop @ flow).tocsr()
    for matrix in (running, stopped):
        matrix.eliminate_zeros()
        matrix.sort_indices()  # entries by column, as every round leaves them
    return running, stopped


def _settle_sinks(nxt: np.ndarray, kept: np.ndarray, stuck: np.ndarray, sinks: np.ndarray, rows: np.ndarray,
                  sources: np.ndarray, dangling: str, n: int) -> None:
    """Dense push: place the flow that stood on vertices without out-edges, by the dangling policy.

    A row's stuck mass is summed in order (a running sum): numpy's pairwise ``sum`` groups the
    terms by the array's shape, so it could give a source's row another rounding in another batch.
    """
    if not len(sinks):
        return
    if dangling == "stop":
        nxt[:, sinks] += stuck
        return
    mass = np.cumsum(stuck, axis=1, dtype=np.float64)[:, -1]
    if dangling == "source":
        nxt[rows, sources] += mass.astype(np.float32)
    else:
        kept[:, n] += mass
