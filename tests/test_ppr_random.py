"""PPR's randomness and arithmetic, pinned down exactly.

* Reproducible randomness: every source walks on its own counter-based stream of (seed, source),
  so its estimate is the same, bit for bit, whatever the partitioning, Arrow batch size, strategy
  batching or other sources, and the local twin reproduces the Spark broadcast numbers.
* Weighted sampling per row: a row's probabilities come from its own weights, whatever other rows hold.
* Exact identities of the push and of the walk index's composition, and the ``stop`` policy
  against networkx; no tolerance beyond floating-point rounding.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp
from conftest import shard_budget
from ppr_bounds import bound_for, dense_rows

from sparkgraph.datasets import chung_lu, load_graph, load_local
from sparkgraph.graph import Graph, GraphOptions
from sparkgraph.local.graph import LocalGraph
from sparkgraph.local.ppr import exact_ppr, monte_carlo_ppr
from sparkgraph.ppr import PPRParams, fully_ppr, round_rows
from sparkgraph.ppr.count_memory import COUNT_ENTRY_BYTES
from sparkgraph.udfs import hubs as hubs_module
from sparkgraph.udfs import push
from sparkgraph.udfs.compose import compose_scores
from sparkgraph.udfs.hubs import Hubs
from sparkgraph.udfs.packing import encode_chunk
from sparkgraph.udfs.push import push_flow, transition_csr
from sparkgraph.udfs.shard_push import ONE, UNIT, Flow, push_inside, push_round, residual_matrix, summed
from sparkgraph.udfs.shard_walks import (
    Tally,
    Walkers,
    complete_sources,
    mass_target,
    merge_tallies,
    resolve_pending,
    spawn,
    spawn_from_residual,
    tally_scores,
    top_counts,
    walk_in_shard,
)
from sparkgraph.udfs.streams import stream_keys, substream_keys, unit_draws
from sparkgraph.udfs.walks import WalkGraph, next_hops, row_cumweights, walk_graph, walk_scores

ALPHA = 0.15
fully_ppr_module = importlib.import_module("sparkgraph.ppr.fully_ppr")  # (the package exports the function)
distributed_module = importlib.import_module("sparkgraph.ppr.distributed")


SINKS = 5


def _weighted_digraph(seed: int = 3, n: int = 40) -> sp.csr_matrix:
    """A weighted digraph whose first SINKS vertices have no out-edges (every other vertex has one,
    and every vertex an in-edge), weights spanning 1e-7 .. 1e10."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, n)) < 0.12) * 10.0 ** rng.uniform(-7, 10, size=(n, n))
    ring = np.arange(n)
    dense[ring, (ring + 1) % n] += 10.0 ** rng.uniform(-7, 10, size=n)
    dense[:SINKS] = 0
    return sp.csr_matrix(dense)


def _as_dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _rows(result: tuple, count: int, width: int) -> np.ndarray:
    owner, target, score = result
    return sp.csr_matrix((score, (owner, target)), shape=(count, width)).toarray()


# ---------------------------------------------------------------------- the streams
def test_streams_are_pure_functions_of_seed_entity_and_counter():
    ids = np.array([0, 3, 17, 2**40])
    keys = stream_keys(5, ids, salt=1)
    # an entity's key does not depend on which other entities are asked for, nor on their order
    assert all(stream_keys(5, ids[[i]], salt=1)[0] == keys[i] for i in range(len(ids)))
    assert np.array_equal(stream_keys(5, ids[::-1], salt=1), keys[::-1])
    # seed, salt and entity all change the stream; draws are uniforms in [0, 1)
    assert len({*keys.tolist(), *stream_keys(6, ids, 1).tolist(), *stream_keys(5, ids, 2).tolist()}) == 12
    draws = unit_draws(substream_keys(stream_keys(0, np.zeros(200_000, np.int64)), np.arange(200_000)), 7)
    assert draws.min() >= 0 and draws.max() < 1
    # 200,000 draws in 10 equal bins: chi-square with 9 degrees of freedom, P(> 33.7) = 1e-4 (fixed seed:
    # this checks the hash's mixing once, it cannot flicker)
    counts = np.bincount((draws * 10).astype(int), minlength=10)
    assert ((counts - 20_000) ** 2 / 20_000).sum() < 33.7


# ---------------------------------------------------------------------- item 4: weighted sampling per row
def test_a_row_samples_its_own_weights_whatever_other_rows_hold():
    """Row 0 holds an arc of weight 1e10 before row 1's arcs of 1e-7 and 3e-7; one running sum over
    all arcs (float64 spacing near 1e10 is 2e-6) would send every walker of row 1 down one arc."""
    indptr = np.array([0, 2, 4, 5, 5, 5])
    indices = np.array([1, 2, 3, 4, 0])
    weights = np.array([1e10, 1.0, 1e-7, 3e-7, 2.5])
    keys = row_cumweights(indptr, weights)
    assert keys.imag.tolist() == [1e10, 1e10 + 1.0, 1e-7, 1e-7 + 3e-7, 2.5]  # each row sums from zero
    graph = walk_graph(indptr, indices, weights)
    assert np.allclose(graph.transition[1].toarray(), [[0, 0, 0, 0.25, 0.75]], rtol=1e-15, atol=0)
    draws = 400_000
    uniform = unit_draws(substream_keys(stream_keys(1, np.array([1])), np.arange(draws)), 0)
    hops = next_hops(np.ones(draws, dtype=np.int64), uniform, graph)
    share = np.mean(hops == 3)
    # binomial: standard error sqrt(0.25 · 0.75 / 400,000) = 6.8e-4; 5 of them (a fixed seed: no flicker)
    assert abs(share - 0.25) < 5 * 6.8e-4, share
    assert set(hops.tolist()) == {3, 4}
    # row 0 still takes its weight-1 arc with probability 1e-10: never in 400,000 draws
    assert set(next_hops(np.zeros(draws, dtype=np.int64), uniform, graph).tolist()) == {1}


def test_walks_on_weights_spanning_17_orders_of_magnitude_match_exact():
    adjacency = _weighted_digraph()
    local = LocalGraph.from_pandas(_edges_frame(adjacency), options=GraphOptions(weight="weight"))
    assert local.weighted and local.n == adjacency.shape[0]
    sources = np.arange(5, 40, 3)
    for push_rounds in (0, 3):
        params = PPRParams(walks_per_source=4000, push_rounds=push_rounds, seed=2)
        estimate = monte_carlo_ppr(local, sources, params).toarray()
        exact = exact_ppr(local, sources)
        assert np.all(np.abs(estimate - exact) <= bound_for(exact, params, local, sources))


def _edges_frame(adjacency: sp.csr_matrix) -> pd.DataFrame:
    coo = adjacency.tocoo()
    return pd.DataFrame({"src": coo.row.astype(np.int64), "dst": coo.col.astype(np.int64), "weight": coo.data})


# ---------------------------------------------------------------------- item 3: the kernel, batch by batch
@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("dangling,estimator,push_rounds", [("source", "visits", 0), ("source", "visits", 3),
                                                            ("stop", "endpoints", 3), ("discard", "visits", 2),
                                                            ("stop", "visits", 0)])
def test_a_source_gets_the_same_estimate_alone_or_in_any_batch(layout, dangling, estimator, push_rounds,
                                                               monkeypatch):
    if layout == "sparse":
        monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 0)
    adjacency = _weighted_digraph()
    graph = walk_graph(adjacency.indptr, adjacency.indices, adjacency.data)
    sources = np.array([0, 7, 12, 20, 33, 39])

    def run(batch):
        return _rows(walk_scores(batch, graph, 300, ALPHA, estimator, dangling, 100, 11, push_rounds),
                     len(batch), graph.n + 1)

    together = run(sources)
    for i, s in enumerate(sources):
        assert np.array_equal(run(np.array([s])), together[[i]]), s
    assert np.array_equal(run(sources[::-1]), together[::-1])
    # another seed gives other walks (the walk-free sink source 0 aside)
    other = _rows(walk_scores(sources, graph, 300, ALPHA, estimator, dangling, 100, 12, push_rounds), 6, graph.n + 1)
    assert not np.array_equal(other[1:], together[1:])


def test_the_dense_layout_batches_itself(monkeypatch):
    """A batch larger than the dense arrays allow is walked in pieces, with the same numbers."""
    adjacency = _weighted_digraph()
    graph = walk_graph(adjacency.indptr, adjacency.indices, adjacency.data)
    sources = np.arange(40)
    whole = _rows(walk_scores(sources, graph, 200, ALPHA, "visits", "source", 100, 4, 3), 40, 41)
    monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 3 * 41)  # three sources a piece
    assert push.dense_layout(40) and push.dense_batch(40) == 3
    assert np.array_equal(_rows(walk_scores(sources, graph, 200, ALPHA, "visits", "source", 100, 4, 3), 40, 41), whole)


# ---------------------------------------------------------------------- item 5: exact identities
def _dense_transition(adjacency: sp.csr_matrix, dangling: str, source: int) -> np.ndarray:
    """P with the rows of vertices without out-edges set by the policy (discard: left empty)."""
    dense = adjacency.toarray()
    out = dense.sum(axis=1, keepdims=True)
    p = np.divide(dense, out, out=np.zeros_like(dense), where=out > 0)
    sinks = np.flatnonzero(out.ravel() == 0)
    if dangling == "source":
        p[sinks, source] = 1.0
    elif dangling == "stop":
        p[sinks, sinks] = 1.0
    return p


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("dangling", ["source", "stop", "discard"])
def test_push_keeps_exactly_the_first_terms_of_the_series(layout, dangling, monkeypatch):
    """kept after T rounds = Σ_{t<T} α(1-α)^t e_s P^t and residual = (1-α)^T e_s P^T; under discard the
    flow reaching a vertex without out-edges leaves to column n. Tolerance: float32 rounding of the
    dense push (relative 6e-8 a round), float64 rounding of the sparse one."""
    if layout == "sparse":
        monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 0)
    adjacency = _weighted_digraph()
    n, rounds = adjacency.shape[0], 6
    transition = transition_csr(adjacency.indptr, adjacency.indices, adjacency.data)
    sources = np.array([0, 7, 12, 33])
    kept, residual = (_as_dense(m) for m in push_flow(sources, transition, rounds, ALPHA, dangling))
    tolerance = 1e-6 if layout == "dense" else 1e-13
    for i, s in enumerate(sources):
        p = _dense_transition(adjacency, dangling, s)
        state, expected, jumped = np.eye(n)[s], np.zeros(n), 0.0
        for t in range(rounds):
            expected += ALPHA * (1 - ALPHA) ** t * state
            if dangling == "discard":
                jumped += (1 - ALPHA) ** (t + 1) * state[:SINKS].sum()
            state = state @ p
        assert np.allclose(kept[i, :n], expected, rtol=0, atol=tolerance), s
        assert np.allclose(residual[i], (1 - ALPHA) ** rounds * state, rtol=0, atol=tolerance), s
        assert kept[i, n] == pytest.approx(jumped, abs=tolerance)


@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_each_flow_entry_stops_pushing_by_its_own_mass(dangling, monkeypatch):
    """With a threshold (sparse layout), in round t an entry of mass x on a vertex of out-degree d
    pushes while x >= threshold·(1-α)^t·max(d, 1), and otherwise stays in the residual as it is:
    kept and residual recomputed densely per source, whatever batch the source is in; sources
    park different shares at different rounds; and its walks are the same alone or in a batch."""
    monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 0)
    adjacency = _weighted_digraph()
    n, rounds, threshold = adjacency.shape[0], 8, 0.004
    arcs = np.maximum(np.diff(adjacency.indptr), 1)
    transition = transition_csr(adjacency.indptr, adjacency.indices, adjacency.data)
    sources = np.array([0, 7, 12, 33, 39])
    kept, residual = (_as_dense(m) for m in push_flow(sources, transition, rounds, ALPHA, dangling,
                                                       threshold=threshold))
    for i, s in enumerate(sources):
        p = _dense_transition(adjacency, dangling, s)
        flow, expected, parked = np.eye(n)[s], np.zeros(n), np.zeros(n)
        for t in range(rounds):
            thin = flow < threshold * (1 - ALPHA) ** t * arcs
            parked += np.where(thin, flow, 0.0)
            flow = np.where(thin, 0.0, flow)
            expected += ALPHA * flow
            flow = (1 - ALPHA) * flow @ p
        assert np.allclose(kept[i, :n], expected, rtol=0, atol=1e-13), s
        assert np.allclose(residual[i], parked + flow, rtol=0, atol=1e-13), s
    masses = residual.sum(axis=1)
    # flow parked before the last round leaves more than (1-α)^rounds, and each source its own share
    assert len(set(np.round(masses, 9).tolist())) == len(sources) and masses.max() > (1 - ALPHA) ** rounds + 0.01, masses
    graph = walk_graph(adjacency.indptr, adjacency.indices, adjacency.data)

    def run(batch):
        return _rows(walk_scores(batch, graph, 300, ALPHA, "visits", dangling, 100, 11,
                                 push.PushPlan(rounds, threshold)), len(batch), n + 1)

    together = run(sources)
    for i, s in enumerate(sources):
        assert np.array_equal(run(np.array([s])), together[[i]]), s


@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_the_in_place_ratio_bounds_the_error_of_placing_flow_where_it_stands(dangling):
    """For any in-flight flow x = moving·P, ‖x - x·Π‖₁ <= in_place_ratio · mass(x), Π the exact PPR
    vectors (P with the policy's rows for vertices without out-edges): checked on random flows, including
    one-hot ones, on the weighted digraph with sinks; no tolerance beyond float64 rounding."""
    adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    rng = np.random.default_rng(5)
    for source in (7, 20):
        p = _dense_transition(adjacency, dangling, source)
        ppr = ALPHA * np.linalg.inv(np.eye(n) - (1 - ALPHA) * p)  # row v: the exact PPR vector of v
        flows = np.vstack([rng.random((6, n)) * (rng.random((6, n)) < 0.3), np.eye(n)[[source, 0]]])
        moving = (1 - ALPHA) * flows
        nxt = moving @ p
        error = np.abs(nxt - nxt @ ppr).sum(axis=1)
        bound = push.in_place_ratio(moving, nxt, ALPHA) * nxt.sum(axis=1)
        assert np.all(error <= bound + 1e-12 * nxt.sum(axis=1)), (error, bound)  # (the inverse's rounding)
        if dangling == "stop":  # flow standing on a sink stays there: placing it is exact, and so is the bound
            assert bound[-1] == 0 and error[-1] < 1e-15


def test_rounds_to_finish_in_place_extrapolates_the_ratio_geometrically():
    """0.4 then 0.2 halves each round: 0.2·2^-k reaches 1/√100 = 0.1 at k = 1; 0.8 -> 0.4 needs 2; a ratio
    that does not fall, or has no previous value, never gets there."""
    ratio, previous = np.array([0.2, 0.4, 0.5, 0.2, 0.05]), np.array([0.4, 0.8, 0.4, np.nan, 0.1])
    assert np.allclose(push.rounds_to_finish_in_place(ratio, previous, 100)[:2], [1.0, 2.0], rtol=1e-12)
    assert np.isinf(push.rounds_to_finish_in_place(ratio, previous, 100)[2:4]).all()
    assert push.rounds_to_finish_in_place(ratio, previous, 100)[4] <= 0  # already under the line


def _finishing_reference(p: np.ndarray, source: int, plan) -> tuple[int, bool, np.ndarray, np.ndarray]:
    """The auto plan's rule for one source in float64: (rounds pushed, in place?, kept, residual)."""
    n = p.shape[0]
    flow, kept, previous = np.eye(n)[source], np.zeros(n), np.nan
    for r in range(plan.rounds + plan.extra_rounds):
        kept = kept + ALPHA * flow
        moving = (1 - ALPHA) * flow
        nxt = moving @ p
        if r + 2 >= plan.rounds:
            ratio = (1 - ALPHA) / ALPHA * np.abs(moving - nxt).sum() / nxt.sum()
            if r + 1 >= plan.rounds:
                if ratio <= 1 / np.sqrt(plan.walks_to_beat):
                    return r + 1, True, kept + nxt, np.zeros(n)
                left = plan.rounds + plan.extra_rounds - (r + 1)
                if push.rounds_to_finish_in_place(np.array([ratio]), np.array([previous]), plan.walks_to_beat)[0] > left:
                    return r + 1, False, kept, nxt
            previous = ratio
        flow = nxt
    return plan.rounds + plan.extra_rounds, False, kept, flow


@pytest.mark.parametrize("graph_name,dangling,endings", [("karate", "source", 3), ("digraph", "source", 2),
                                                          ("digraph", "stop", 2)])
def test_each_source_finishes_in_place_or_walks_by_its_own_bound(graph_name, dangling, endings):
    """The auto plan's dense push: after ``rounds`` a source whose bound beats ω walks finishes in place
    (its in-flight flow placed where it stands, no walks, L1 error <= mass/√ω); the others push on while
    their ratio's trend says they get there within ``extra_rounds``, then walk. Every source follows the
    rule computed in float64 from its own flow (float32 push: 1e-6), both endings happen, at ``endings``
    different rounds or more (karate mixes, so sources push on; the digraph's weights spanning 17 orders
    make nearly fixed paths, whose ratio does not fall), and a source gets the same numbers alone or in a batch."""
    if graph_name == "karate":
        local = load_local("karate")
        adjacency = local.adjacency  # weighted
    else:
        adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    transition = transition_csr(adjacency.indptr, adjacency.indices, adjacency.data)
    plan = push.PushPlan(3, extra_rounds=10, walks_to_beat=100)
    sources = np.arange(n)
    kept, residual = push_flow(sources, transition, plan.rounds, ALPHA, dangling, extra_rounds=plan.extra_rounds,
                               walks_to_beat=plan.walks_to_beat)
    in_place, ended = residual.sum(axis=1) == 0, []
    for s in sources:
        p = _dense_transition(adjacency, dangling, s)
        rounds, placed, expected_kept, expected_residual = _finishing_reference(p, s, plan)
        ended.append(rounds)
        assert placed == in_place[s], s
        assert np.allclose(kept[s, :n], expected_kept, rtol=0, atol=1e-6), s
        assert np.allclose(residual[s], expected_residual, rtol=0, atol=1e-6), s
        if placed:
            exact = ALPHA * np.linalg.inv(np.eye(n) - (1 - ALPHA) * p)[s]
            mass = (1 - ALPHA) ** rounds
            assert np.abs(kept[s, :n] - exact).sum() <= mass / np.sqrt(plan.walks_to_beat)
    assert np.allclose(kept[:, :n].sum(axis=1) + residual.sum(axis=1), 1.0)
    assert 2 <= in_place.sum() < n and len(set(ended)) >= endings, (in_place.sum(), ended)
    graph = walk_graph(adjacency.indptr, adjacency.indices, adjacency.data)

    def run(batch):
        return _rows(walk_scores(batch, graph, plan.walks_to_beat, ALPHA, "visits", dangling, 100, 11, plan),
                     len(batch), n + 1)

    together = run(sources)
    assert np.array_equal(together[in_place, :n], kept[in_place, :n])  # no walks
    for s in sources[::5]:
        assert np.array_equal(run(np.array([s])), together[[s]]), s


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_composing_exact_fingerprints_gives_exact_ppr(layout, dangling, monkeypatch):
    """PowerWalk's decomposition is an identity: with every fingerprint exact (for source: the
    discard walk's vector and its jump share J), π_s = (kept_s + Σ_v f(v) π_v) / (1 - J_s)."""
    if layout == "sparse":
        monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 0)
    adjacency = _weighted_digraph()
    local = LocalGraph.from_pandas(_edges_frame(adjacency), options=GraphOptions(weight="weight"))
    n = local.n
    transition = transition_csr(adjacency.indptr, adjacency.indices, adjacency.data)
    if dangling == "stop":
        fingerprints = np.hstack([exact_ppr(local, np.arange(n), ALPHA, "stop", tol=1e-14), np.zeros((n, 1))])
    else:  # the walks that end at a jump: x = α e_v (I - (1-α) P₀)⁻¹, J = (1-α) Σ over sinks of e_v (I - (1-α) P₀)⁻¹
        visits = np.linalg.inv(np.eye(n) - (1 - ALPHA) * _dense_transition(adjacency, "discard", 0))
        fingerprints = np.hstack([ALPHA * visits, (1 - ALPHA) * visits[:, :SINKS].sum(axis=1, keepdims=True)])
    sources = np.array([0, 7, 12, 33])
    for rounds, prune in ((0, 0.0), (3, 0.0), (6, 1e-3)):
        row, target, score = compose_scores(sources, transition, sp.csr_matrix(fingerprints), rounds, ALPHA,
                                            "discard" if dangling == "source" else "stop", prune, None)
        composed = sp.csr_matrix((score, (row, target)), shape=(len(sources), n)).toarray()
        tolerance = 1e-6 if layout == "dense" else 1e-12
        assert np.allclose(composed, exact_ppr(local, sources, ALPHA, dangling, tol=1e-14), rtol=0,
                           atol=tolerance), (rounds, prune)


def test_stop_policy_is_pagerank_with_self_loops_at_sinks():
    """Under stop, a walk that reaches a vertex without out-edges ends there: the same vector as
    networkx's personalized PageRank on the graph where each such vertex gets a self-loop."""
    local = load_local("cora")
    sinks = np.flatnonzero(local.out_degrees() == 0)
    assert len(sinks) > 400
    g = nx.DiGraph()
    g.add_nodes_from(range(local.n))
    coo = local.adjacency.tocoo()
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    g.add_weighted_edges_from((int(v), int(v), 1.0) for v in sinks)
    sources = np.array([0, int(sinks[0]), local.n // 2])
    pi = exact_ppr(local, sources, ALPHA, "stop", tol=1e-13)
    for i, s in enumerate(sources):
        ref = nx.pagerank(g, alpha=1 - ALPHA, personalization={int(s): 1.0}, tol=1e-15, max_iter=10_000)
        assert np.abs(pi[i] - np.array([ref[v] for v in range(local.n)])).sum() < 1e-9
    assert pi[1, sources[1]] == pytest.approx(1.0)  # a sink's own walks never leave it


# ---------------------------------------------------------------------- item 3: Spark against Spark, and the twin
@pytest.fixture(scope="module")
def cora(spark):
    return load_graph(spark, "cora"), load_local("cora")


def _frame(result) -> pd.DataFrame:
    return result.toPandas().sort_values(["source", "target"]).reset_index(drop=True)


def test_partitions_arrow_batches_and_chunks_do_not_change_an_estimate(spark, cora, monkeypatch):
    graph, local = cora
    sources = [int(s) for s in local.names[::45]]
    params = PPRParams(top_k=local.n, seed=21)
    monkeypatch.setattr(fully_ppr_module, "walk_tasks", lambda graph: 2)
    two = _frame(fully_ppr(graph, params, sources=sources))
    monkeypatch.setattr(fully_ppr_module, "walk_tasks", lambda graph: 7)
    seven = _frame(fully_ppr(graph, params, sources=sources))
    pd.testing.assert_frame_equal(two, seven, check_exact=True)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "3")
    try:
        small_batches = _frame(fully_ppr(graph, PPRParams(top_k=local.n, seed=21, push_sources_per_batch=5,
                                                          walks_per_batch=7000), sources=sources))
    finally:
        spark.conf.set(key, before)
    pd.testing.assert_frame_equal(two, small_batches, check_exact=True)
    assert len(two) > 20 * len(sources) and set(two["source"]) == set(sources)


def test_a_source_alone_and_the_local_twin_give_the_spark_batch_numbers(cora):
    graph, local = cora
    sources = local.names[::60]
    params = PPRParams(top_k=local.n, seed=8)
    batch = _frame(fully_ppr(graph, params, sources=[int(s) for s in sources]))
    alone = _frame(fully_ppr(graph, params, sources=[int(sources[3])]))
    pd.testing.assert_frame_equal(alone, batch[batch["source"] == sources[3]].reset_index(drop=True),
                                  check_exact=True)
    twin = monte_carlo_ppr(local, local.ids_of(sources), params).toarray()
    assert np.array_equal(dense_rows(batch, local.names, sources, local.n, local.ids_of), twin)


@pytest.mark.parametrize("push_rounds", [0, None])
def test_spark_and_the_twin_agree_on_weights_spanning_17_orders_of_magnitude(spark, push_rounds):
    edges = _edges_frame(_weighted_digraph())
    graph = Graph.from_edges(spark.createDataFrame(edges), weight="weight")
    local = LocalGraph.from_pandas(edges, options=GraphOptions(weight="weight"))
    assert (graph.n, graph.m) == (local.n, local.m)
    sources = local.names[5::4]
    params = PPRParams(walks_per_source=3000, top_k=local.n, push_rounds=push_rounds, seed=5)
    spark_rows = dense_rows(_frame(fully_ppr(graph, params, sources=[int(s) for s in sources])), local.names,
                            sources, local.n, local.ids_of)
    assert np.array_equal(spark_rows, monte_carlo_ppr(local, local.ids_of(sources), params).toarray())
    exact = exact_ppr(local, local.ids_of(sources))
    assert np.all(np.abs(spark_rows - exact) <= bound_for(exact, params, local, local.ids_of(sources)))


def _sharded_walks(adjacency: sp.csr_matrix, bounds: list[int], sources: np.ndarray, walks: int, estimator: str,
                   dangling: str, weighted: bool, hub_arcs: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distributed strategy's rounds in one process: route walkers to their shard, walk each
    shard, repeat until none is left; then merge the counts and score them (top 6)."""
    n = adjacency.shape[0]
    tallies = _walk_sharded(adjacency, bounds, spawn(sources, walks, seed=5), 0.3, estimator, dangling, 20, weighted,
                            hub_arcs)
    return tally_scores(merge_tallies(tallies, n), walks, 0.3, n, 6)


def _shard_graph(adjacency: sp.csr_matrix, bounds: list[int], k: int, weighted: bool):
    rows = adjacency[bounds[k]:bounds[k + 1]]
    return walk_graph(rows.indptr, rows.indices, rows.data if weighted else None, push=False)


def _split_hubs(adjacency: sp.csr_matrix, hub_arcs: int, shards: int, weighted: bool):
    """The rows of more than ``hub_arcs`` arcs cut into blocks as the distributed strategy cuts them,
    block ``g`` held by shard ``g mod shards``: ``(adjacency without the hubs' rows, hubs, held)``,
    ``held[k]``: shard k's blocks, ``{block: (columns, sums from zero)}``."""
    degree = np.diff(adjacency.indptr)
    vertex = np.flatnonzero(degree > hub_arcs)
    blocks = [(adjacency.indices[a:min(a + hub_arcs, adjacency.indptr[v + 1])],
               adjacency.data[a:min(a + hub_arcs, adjacency.indptr[v + 1])])
              for v in vertex for a in range(adjacency.indptr[v], adjacency.indptr[v + 1], hub_arcs)]
    held = [{} for _ in range(shards)]
    for g, (columns, weights) in enumerate(blocks):
        held[g % shards][g] = (columns, np.cumsum(weights) if weighted else None)
    totals = np.array([np.cumsum(w)[-1] for _, w in blocks]) if weighted else None
    rest = adjacency.copy()
    for v in vertex:
        rest.data[rest.indptr[v]:rest.indptr[v + 1]] = 0
    rest.eliminate_zeros()
    return rest, Hubs.of(vertex, degree[vertex], hub_arcs, totals), held


def _walk_sharded(adjacency, bounds, carried, restart_prob, estimator, dangling, max_steps, weighted,
                  hub_arcs=None) -> list:
    """Walk ``carried`` shard by shard until every walk ends: the tallies. After every round, the
    sources the tallies call complete (every walker stopped) are exactly those with no walker left.
    ``hub_arcs``: rows of more arcs are split into blocks over the shards (:func:`_split_hubs`); a
    walker at a hub whose block its shard holds takes its arc at once, so one shard sends none on."""
    n, shards = adjacency.shape[0], len(bounds) - 1
    hubs, held = Hubs.none(), [{}] * shards
    if hub_arcs is not None:
        adjacency, hubs, held = _split_hubs(adjacency, hub_arcs, shards, weighted)
    tallies = []
    sources, walks = np.unique(carried.source, return_counts=True)
    assert len(set(walks)) <= 1, "every source starts the same number of walkers"
    while len(carried):
        shard = np.where(carried.pos < 0, (-carried.pos - 1) % shards,
                         np.searchsorted(bounds, carried.pos, side="right") - 1)
        moved = []
        for k in range(shards):
            here = resolve_pending(carried.take(shard == k), hubs, held[k], restart_prob)
            inside = (here.pos >= bounds[k]) & (here.pos < bounds[k + 1])
            tally, leaving = walk_in_shard(here.take(inside), _shard_graph(adjacency, bounds, k, weighted), bounds[k],
                                           bounds[k + 1], restart_prob, estimator, dangling, max_steps, n, hubs,
                                           held[k])
            assert shards > 1 or not (leaving.pos < 0).any()
            tallies.append(tally)
            moved += [here.take(~inside), leaving]
        carried = Walkers.concat(moved)
        merged = merge_tallies(tallies, n)
        complete = np.unique(merged.source[complete_sources(merged, int(walks[0]), n)])
        assert np.array_equal(complete, np.setdiff1d(sources, carried.source))
    return tallies


def _push_sharded(adjacency, bounds, sources, restart_prob, dangling, rounds, threshold, weighted, hub_arcs=None):
    """The distributed push in one process: every round pushes each shard's flow once. ``(kept, parked)``.
    ``hub_arcs``: rows of more arcs are split hubs (:func:`_split_hubs`), whose flow parks."""
    hubs = Hubs.none()
    if hub_arcs is not None:
        adjacency, hubs, _ = _split_hubs(adjacency, hub_arcs, len(bounds) - 1, weighted)
    kept, parked, flow = [], [], Flow.start(sources)
    while len(flow):
        shard = np.searchsorted(bounds, flow.pos, side="right") - 1
        moved = []
        for k in range(len(bounds) - 1):
            k_, m_, p_ = push_round(flow.take(shard == k), _shard_graph(adjacency, bounds, k, weighted), bounds[k],
                                    bounds[k + 1], restart_prob, dangling, rounds, threshold, hubs)
            kept.append(k_)
            moved.append(m_)
            parked.append(p_)
        flow = Flow.concat(moved)
    return summed(Flow.concat(kept)), summed(Flow.concat(parked))


def _units(flow, sources, n) -> np.ndarray:
    """Flow entries as dense rows, one per source, in units of a source's flow."""
    rows = np.zeros((len(sources), n))
    np.add.at(rows, (np.searchsorted(sources, flow.source), flow.pos), flow.amount * UNIT)
    return rows


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_the_sharded_push_is_exact_whatever_the_shards(dangling, weighted):
    """The distributed push, shards of 1 to 40 vertices: the same integer units whatever the shards
    (and with the rows of more than 7 arcs split hubs, whose flow parks); every source's units add
    up to its whole flow exactly; π_s = kept + Σ_v parked(v)·π_v (the
    decomposition push-then-walk rests on) to float64 rounding; and, every entry pushing for T
    rounds under ``source``, kept = Σ_{t<T} α(1-α)^t e_s Pᵗ. (π_v here is the walk from v whose
    jumps go to s, as the source's walkers do: P with each sink's row e_s, or e_v under ``stop``.)"""
    adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    if not weighted:
        adjacency = adjacency.copy()
        adjacency.data[:] = 1.0
    sources = np.array([0, 3, 9, 22, 39])  # two sinks among them
    transition = transition_csr(adjacency.indptr, adjacency.indices, adjacency.data if weighted else None).toarray()

    def walks_of(s):  # row v: the PPR vector of a walk from v whose jumps go to s
        p = transition.copy()
        p[np.arange(SINKS), s if dangling == "source" else np.arange(SINKS)] = 1.0
        return 0.15 * np.linalg.inv(np.eye(n) - 0.85 * p)

    for rounds, threshold, hub_arcs in ((4, 0.0, None), (8, ONE * push.push_threshold(30, 0.15), None), (4, 0.0, 7)):
        runs = [_push_sharded(adjacency, bounds, sources, 0.15, dangling, rounds, threshold, weighted, hub_arcs)
                for bounds in ([0, n], [0, SINKS, 6, 23, n], list(range(n + 1)))]
        for kept, parked in runs[1:]:
            for got, want in ((kept, runs[0][0]), (parked, runs[0][1])):
                assert all(np.array_equal(getattr(got, f), getattr(want, f)) for f in ("source", "pos", "amount"))
        kept, parked = runs[0]
        totals = [kept.amount[kept.source == s].sum() + parked.amount[parked.source == s].sum() for s in sources]
        assert totals == [ONE] * len(sources)
        k, r = _units(kept, sources, n), _units(parked, sources, n)
        for i, s in enumerate(sources):
            pi = walks_of(s)
            assert np.abs(k[i] + r[i] @ pi - pi[s]).max() < 1e-12
        assert len(parked) > 0
        if hub_arcs is not None:  # the flow on a split hub (a row of more than 7 arcs) parks there
            hub = np.flatnonzero(np.diff(adjacency.indptr) > hub_arcs)
            assert np.isin(parked.pos, hub).any() and not np.isin(kept.pos, hub).any()
    if dangling == "source":
        kept, _ = _push_sharded(adjacency, [0, 7, n], sources, 0.15, dangling, 4, 0.0, weighted)
        series = np.zeros((len(sources), n))
        state = np.eye(n)[sources]
        for t in range(4):
            series += 0.15 * 0.85**t * state
            nxt = state @ transition
            nxt[np.arange(len(sources)), sources] += state[:, :SINKS].sum(axis=1)
            state = nxt
        assert np.abs(_units(kept, sources, n) - series).max() < 1e-15


@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_a_push_that_stays_in_its_shard_ends_in_one_call_as_its_rounds_would(dangling):
    """push_inside, every vertex a source: over one shard every source's push ends in the call, and
    over the shards [0, SINKS, 6, 23, n] exactly the sources whose round-by-round push
    (:func:`_push_sharded`) never put flow outside their shard do (the sinks' shard keeps its
    sources' flow; most others leave). Their kept and parked units are the rounds', bit for bit."""
    adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    threshold = ONE * push.push_threshold(30, 0.15)
    for bounds in ([0, n], [0, SINKS, 6, 23, n]):
        whole_counts = []
        for k in range(len(bounds) - 1):
            lo, hi = bounds[k], bounds[k + 1]
            mine = np.arange(lo, hi)
            whole, kept, parked = push_inside(Flow.start(mine), _shard_graph(adjacency, bounds, k, True), lo, hi,
                                              0.15, dangling, 8, threshold)
            rounds = {int(s): _push_sharded(adjacency, bounds, [s], 0.15, dangling, 8, threshold, True) for s in mine}
            stayed = [s for s, flows in rounds.items()
                      if all(((f.pos >= lo) & (f.pos < hi)).all() for f in flows)]
            assert whole.tolist() == stayed
            want_kept, want_parked = (summed(Flow.concat([rounds[s][i] for s in stayed])) for i in (0, 1))
            for got, want in ((summed(kept), want_kept), (summed(parked), want_parked)):
                assert all(np.array_equal(getattr(got, f), getattr(want, f)) for f in ("source", "pos", "amount"))
            whole_counts.append((len(whole), len(mine)))
        if len(bounds) == 2:
            assert whole_counts == [(n, n)]
        else:
            assert whole_counts[0] == (SINKS, SINKS) and sum(w for w, _ in whole_counts) < n


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("dangling,estimator", [("source", "visits"), ("stop", "endpoints"), ("stop", "visits"),
                                                ("discard", "visits"), ("discard", "endpoints")])
def test_sharded_walks_equal_the_broadcast_kernel(dangling, estimator, weighted, monkeypatch):
    """The kernel alone: shards of 1 to 17 vertices (a shard of sinks only among them), walkers
    routed between them, give walk_scores' rows bit for bit; and so with the rows of more than 3
    arcs split into blocks of 3 held by other shards (hubs: the walker picks the block in its
    hub's shard, the arc in the block's; walk_scores sums such rows block by block); no sources
    give no rows."""
    adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    sources = np.array([0, 3, 9, 22, 39])
    for hub_arcs in (None, 3):
        if hub_arcs is not None:
            monkeypatch.setattr(hubs_module, "HUB_ARCS", hub_arcs)
        graph = walk_graph(adjacency.indptr, adjacency.indices, adjacency.data if weighted else None, push=False)
        row, target, score = walk_scores(sources, graph, 300, 0.3, estimator, dangling, 20, 5, 0, 6)
        expected = sorted(zip(sources[row].tolist(), target.tolist(), score.tolist(), strict=True))
        for bounds in ([0, n], [0, SINKS, 6, 23, n], list(range(n + 1))):
            got = _sharded_walks(adjacency, bounds, sources, 300, estimator, dangling, weighted, hub_arcs)
            assert sorted(zip(*(a.tolist() for a in got), strict=True)) == expected, (bounds, hub_arcs)
    assert all(len(a) == 0 for a in _sharded_walks(adjacency, [0, n], np.empty(0, np.int64), 300, estimator, dangling,
                                                  weighted))


def test_a_hub_walker_picks_the_broadcast_kernels_arc_in_two_steps(monkeypatch):
    """The distributed pick at a split hub (the block from the blocks' running totals, then the arc
    within the block) is ``next_hops`` over the row summed block by block, for uniforms placed at
    every arc's running sum and its float neighbours, where rounding decides; one cumsum of the
    row would pick another arc for some of them, so this checks the offsets, not only the routing."""
    monkeypatch.setattr(hubs_module, "HUB_ARCS", 7)
    rng = np.random.default_rng(4)
    weights = 10.0 ** rng.uniform(-7, 10, 50)
    columns = np.sort(rng.choice(1000, 50, replace=False))
    graph = walk_graph(np.array([0, 50]), columns, weights, push=False)
    sequential = np.cumsum(weights)
    points = np.concatenate([graph.cumweights.imag, sequential]) / graph.cumweights[-1].imag
    uniform = np.unique(np.concatenate([points, np.nextafter(points, 0), np.nextafter(points, 1)]))
    uniform = uniform[uniform < 1]
    at_hub = np.zeros(len(uniform), np.int64)
    blocks = {g: (columns[a:a + 7], np.cumsum(weights[a:a + 7])) for g, a in enumerate(range(0, 50, 7))}
    hubs = Hubs.of(np.array([0]), np.array([50]), 7, np.array([sums[-1] for _, sums in blocks.values()]))
    two_step = hubs.resolve(hubs.choose_blocks(at_hub, uniform), uniform, blocks)
    assert np.array_equal(two_step, next_hops(at_hub, uniform, graph))
    one_cumsum = next_hops(at_hub, uniform, WalkGraph(np.array([0, 50]), columns, sequential * 1j, None))
    assert (one_cumsum != two_step).any()
    unweighted = Hubs.of(np.array([0]), np.array([50]), 7)
    plain = walk_graph(np.array([0, 50]), columns, push=False)
    assert np.array_equal(unweighted.resolve(unweighted.choose_blocks(at_hub, uniform), uniform,
                                             {g: (c, None) for g, (c, _) in blocks.items()}),
                          next_hops(at_hub, uniform, plain))


def test_a_hubs_row_summed_block_by_block_keeps_its_probabilities():
    """A row cut into blocks (weights 1e-7 .. 1e10) is sampled with each arc's exact share, to float64
    precision of the row's total: the blocked running sums differ from one cumsum of the row by
    rounding alone, and ``next_hops`` over a fine grid of uniforms picks each arc in proportion."""
    rng = np.random.default_rng(4)
    weights = 10.0 ** rng.uniform(-7, 10, 50)
    indptr = np.array([0, 50])
    for block_arcs in (1, 3, 7, 50):
        sums = hubs_module.block_cumsums(indptr, weights, block_arcs)
        assert np.all(np.diff(sums) >= 0)
        assert np.abs(sums - np.cumsum(weights)).max() <= 1e-14 * weights.sum()
    graph = WalkGraph(indptr, np.arange(50), hubs_module.block_cumsums(indptr, weights, 7) * 1j, None)
    grid = (np.arange(200_000) + 0.5) / 200_000
    picks = np.bincount(next_hops(np.zeros(len(grid), np.int64), grid, graph), minlength=50) / len(grid)
    assert np.abs(picks - weights / weights.sum()).max() <= 1 / len(grid)


@pytest.fixture(scope="module")
def weighted_sinks(spark):
    """The weighted digraph with sinks, as a Spark graph and as the local twin's graph."""
    edges = _edges_frame(_weighted_digraph())
    graph = Graph.from_edges(spark.createDataFrame(edges), weight="weight")
    return graph, LocalGraph.from_pandas(edges, options=GraphOptions(weight="weight"))


# (two cases: the kernel test above pins every policy and estimator; here the Spark plumbing, which
# does not depend on them, and one-second rounds keep make test under 15 minutes)
@pytest.mark.parametrize("dangling,estimator", [("source", "visits"), ("stop", "endpoints")])
def test_the_distributed_strategy_gives_the_twins_numbers_whatever_the_shards_and_batches(
        weighted_sinks, dangling, estimator, monkeypatch, caplog):
    """Sharded walks step exactly as the broadcast kernel does, on the sources' own streams, and
    count whole visits: the same numbers as the twin (and so as broadcast without push), bit for bit,
    in one shard, one task and one batch (what 2,500 walkers get; every source scored in its task), and
    over 3 or 4 shards of about 10 vertices (a small ``shard_max_bytes``: most steps cross a shard; the
    kernel test above takes one per vertex), each held by two or three tasks (pipelined batches of 150
    walkers take two tasks per unit of parallelism), and in one shard held by that many tasks, in cut rows
    (shards packed in chunks of a few arcs), counts merged every other
    round (sources whose walkers have all stopped are scored at a merge, the others at the end);
    on a graph with sinks, weights spanning 17 orders of magnitude. Under ``source`` the pipelined
    run also splits the rows of more than 3 arcs into blocks held by other shards (hubs; a step
    from one takes two rounds, so one case is enough), against the twin, which sums such rows block
    by block."""
    graph, local = weighted_sinks
    sources = local.names[[0, 3, 9, 22, 31]]  # two sinks among them
    params = PPRParams(restart_prob=0.3, walks_per_source=500, top_k=local.n, strategy="distributed", push_rounds=0,
                       max_steps=30, dangling=dangling, estimator=estimator, seed=5)
    twin = monte_carlo_ppr(local, local.ids_of(sources), params).toarray()
    caplog.set_level(logging.INFO, logger="sparkgraph.ppr.distributed")
    default = fully_ppr(graph, params, sources=[int(s) for s in sources])
    assert np.array_equal(dense_rows(_frame(default), local.names, sources, local.n, local.ids_of), twin)
    monkeypatch.setattr(distributed_module, "ROW_ENTRIES", 7)  # walkers and counts cut into rows of 7
    monkeypatch.setattr(distributed_module, "ENTRIES_PER_CHUNK", 15)  # shards packed in chunks of 3 rows (inner bounds cut some)
    monkeypatch.setattr(distributed_module, "MERGE_EVERY", 2)  # counts merged every other round
    pipelined = dataclasses.replace(params, walks_per_batch=150,  # 500·5 / (150·tasks): two or three batches
                                    shard_max_bytes=shard_budget(graph, 4))
    if estimator == "endpoints":  # counts of one source at a time held: a batch per source
        pipelined = dataclasses.replace(pipelined, counts_max_bytes=1)
    if dangling == "source":
        monkeypatch.setattr(hubs_module, "HUB_ARCS", 3)
        twin = monte_carlo_ppr(local, local.ids_of(sources), params).toarray()
    rows = dense_rows(_frame(fully_ppr(graph, pipelined, sources=[int(s) for s in sources])), local.names, sources,
                      local.n, local.ids_of)
    assert np.array_equal(rows, twin)
    replicated = dataclasses.replace(pipelined, shard_max_bytes=PPRParams().shard_max_bytes)  # one shard, copied
    assert np.array_equal(dense_rows(_frame(fully_ppr(graph, replicated, sources=[int(s) for s in sources])),
                                     local.names, sources, local.n, local.ids_of), twin)
    runs = _batches_and_shards(caplog)
    assert runs[0] == (1, 1, 1, 1, 1)
    (batches, shards, replicas, by_work, by_counts), (replicated_batches, one_shard, copies, _, one) = runs[1:]
    assert 2 <= by_work <= 3 and shards >= 3 and replicas >= 2  # (4 shards asked for: cuts of 32 vertices may merge)
    assert (batches, by_counts) == ((5, 5) if estimator == "endpoints" else (by_work, 1))
    assert replicated_batches >= 2 and one_shard == 1 and copies >= 4 and one == 1  # (one shard: no counts held)
    if dangling == "source":
        assert "30 hubs of more than 3 out-arcs split into 76 blocks" in caplog.text
    assert sum(_scored_at_merges(caplog)) > 0, "some sources were scored before the end"
    exact = exact_ppr(local, local.ids_of(sources), params.restart_prob, dangling)
    assert np.all(np.abs(rows - exact) <= bound_for(exact, params, local, local.ids_of(sources))), "and the twin is within its bound of exact"


@pytest.mark.connect
def test_pipelined_batches_over_several_shards_give_the_twins_numbers_in_both_lanes(weighted_sinks, monkeypatch,
                                                                                   caplog):
    """The plumbing the test above checks in the classic lane, in the Connect lane too (where
    Databricks serverless runs it): five batches (the counts of one source held at a time), pipelined
    over 3 or 4 shards in cut rows, counts merged every other round and finished sources scored at a
    merge: the twin's numbers, bit for bit."""
    graph, local = weighted_sinks
    sources = local.names[[0, 3, 9, 22, 31]]
    params = PPRParams(restart_prob=0.3, walks_per_source=500, top_k=local.n, strategy="distributed", push_rounds=0,
                       max_steps=30, dangling="stop", estimator="endpoints", seed=5, walks_per_batch=150,
                       shard_max_bytes=shard_budget(graph, 4), counts_max_bytes=1)
    twin = monte_carlo_ppr(local, local.ids_of(sources), params).toarray()
    monkeypatch.setattr(distributed_module, "ROW_ENTRIES", 7)
    monkeypatch.setattr(distributed_module, "MERGE_EVERY", 2)
    caplog.set_level(logging.INFO, logger="sparkgraph.ppr.distributed")
    rows = dense_rows(_frame(fully_ppr(graph, params, sources=[int(s) for s in sources])), local.names, sources,
                      local.n, local.ids_of)
    assert np.array_equal(rows, twin)
    ((batches, shards, _, _, by_counts),) = _batches_and_shards(caplog)
    assert (batches, by_counts) == (5, 5) and shards >= 3
    assert sum(_scored_at_merges(caplog)) > 0, "some sources were scored before the end"


def test_batches_grow_to_the_counts_measured_held_and_give_the_same_numbers(cora, monkeypatch, caplog):
    """On a graph with locality the count estimate (every step crossing a shard) asks for far more
    batches than the counts need: all of Cora's sources over 3 shards, planned in about 150
    batches, are dealt in a few dozen once the merges (every 4 rounds here) measure the counts
    held; the batches grow at most twofold per merge, so the counts held stay within twice the
    budget; and the numbers are broadcast's, bit for bit (a source's batch changes nothing)."""
    graph, _ = cora
    monkeypatch.setattr(distributed_module, "MERGE_EVERY", 4)
    caplog.set_level(logging.INFO, logger="sparkgraph.ppr.distributed")
    common = {"walks_per_source": 50, "top_k": 10, "push_rounds": 0, "seed": 3, "max_steps": 20}
    budget = 2_000_000
    sharded = fully_ppr(graph, PPRParams(strategy="distributed", shard_max_bytes=shard_budget(graph, 3),
                                         counts_max_bytes=budget, **common))
    ((planned, shards, replicas, _, by_counts),) = _batches_and_shards(caplog)
    merges = [re.search(r"\((\d+) entries held\), \d+ scores .*, (\d+) batches \((\d+) sources each", r.getMessage())
              for r in caplog.records]
    held, batches, sizes = zip(*((int(m.group(1)), int(m.group(2)), int(m.group(3))) for m in merges if m),
                               strict=True)
    assert planned == by_counts >= 100 and shards == 3
    assert batches[-1] <= planned / 5, "the batches grew to the counts measured"
    grown = zip((graph.n / planned, *sizes), sizes, strict=False)
    assert all(later <= 2 * earlier + 1 for earlier, later in grown), "at most twofold per merge"
    assert max(held) * COUNT_ENTRY_BYTES <= 2 * shards * replicas * budget
    broadcast = fully_ppr(graph, PPRParams(strategy="broadcast", **common))
    pd.testing.assert_frame_equal(_frame(sharded), _frame(broadcast), check_exact=True)


def _batches_and_shards(caplog) -> list[tuple[int, int, int, int, int]]:
    """The batches, shards and replicas per shard of each distributed run, and the batches the walks
    per batch and the counts held asked for, from its log."""
    found = (re.search(r"sources in (\d+) batches, (\d+) shards, (\d+) replicas, .* walks per batch: (\d+), "
                       r"by the counts held, counts_max_bytes: (\d+)", r.getMessage()) for r in caplog.records)
    return [tuple(int(m.group(i)) for i in range(1, 6)) for m in found if m]


def _scored_at_merges(caplog) -> list[int]:
    """The entries each merge of a distributed run scored as final, from its log."""
    found = (re.search(r"(\d+) scores of finished sources final", r.getMessage()) for r in caplog.records)
    return [int(m.group(1)) for m in found if m]


def _distributed_push_in_one_process(adjacency, sources, params, threshold) -> np.ndarray:
    """The distributed strategy with push, step by step in one process on one shard: push,
    residual to walkers, walks, counts, scores (every target); dense rows, one per source."""
    n = adjacency.shape[0]
    p = params
    kept, parked = _push_sharded(adjacency, [0, n], sources, p.restart_prob, p.dangling, 8, threshold, True)
    owners, residual, mass = residual_matrix(parked)
    walkers = spawn_from_residual(owners, residual, p.walks_per_source, p.seed)
    tallies = _walk_sharded(adjacency, [0, n], walkers, p.restart_prob, p.estimator, p.dangling, p.max_steps, True)
    zeros = np.zeros((2, len(kept)), np.int64)
    tallies += [Tally(kept.source, kept.pos, *zeros, kept.amount),
                Tally(owners, np.full(len(owners), mass_target(n)), *np.zeros((2, len(owners)), np.int64), mass)]
    row, target, score = tally_scores(merge_tallies(tallies, n), p.walks_per_source, p.restart_prob, n, None)
    return sp.csr_matrix((score, (np.searchsorted(sources, row), target)), shape=(len(sources), n)).toarray()


def test_top_counts_keeps_each_sources_largest_walker_counts_and_every_flow_and_mass_entry():
    """The cut ``count_top`` makes: per source, the ``keep`` largest credits (α·visits + ends; ties:
    smaller target) of its walker counts, and every entry holding push flow, the jump share or the
    residual mass, whatever it counts."""
    rng = np.random.default_rng(4)
    n, size = 50, 3000
    raw = Tally(rng.integers(0, 6, size), rng.integers(0, n + 2, size), rng.integers(0, 4, size),
                rng.integers(0, 3, size), np.where(rng.random(size) < 0.05, rng.integers(1, 9, size), 0))
    tally = merge_tallies([raw], n)
    kept = top_counts(tally, 7, 0.15, n)
    frame = pd.DataFrame(vars(tally)).assign(credit=lambda f: 0.15 * f.visits + f.ends)
    frame["fixed"] = (frame.flow > 0) | (frame.target >= n)
    frame["kept"] = frame.set_index(["source", "target"]).index.isin(pd.MultiIndex.from_arrays([kept.source, kept.target]))
    assert frame[frame.fixed].kept.all() and len(kept.source) == frame.kept.sum()
    for _, counted in frame[~frame.fixed].groupby("source"):
        assert counted.kept.sum() == min(7, len(counted))
        ranked = counted.sort_values(["credit", "target"], ascending=[False, True])
        assert ranked.kept.tolist() == sorted(ranked.kept.tolist(), reverse=True), "the kept ones lead the ranking"


def test_count_top_changes_nothing_over_one_shard_and_only_lowers_estimates_over_several(weighted_sinks, monkeypatch,
                                                                                         caplog):
    """``count_top``: over one shard every source is scored whole in its task, nothing is cut (the
    same rows as without it); over four shards the counts shipped between rounds and those kept by
    merges (every other round here) are cut (the round test below pins the cut), so no estimate is
    above the uncut one (the twin's)."""
    graph, local = weighted_sinks
    sources = local.names[[0, 3, 9, 22, 31]]
    params = PPRParams(restart_prob=0.3, walks_per_source=500, top_k=3, strategy="distributed", push_rounds=0,
                       max_steps=30, seed=5)
    chosen = [int(s) for s in sources]
    whole = _frame(fully_ppr(graph, params, sources=chosen))
    pd.testing.assert_frame_equal(_frame(fully_ppr(graph, dataclasses.replace(params, count_top=3), sources=chosen)),
                                  whole, check_exact=True)
    sharded = dataclasses.replace(params, count_top=3, shard_max_bytes=shard_budget(graph, 4))
    monkeypatch.setattr(distributed_module, "MERGE_EVERY", 2)
    caplog.set_level(logging.INFO, logger="sparkgraph.ppr.distributed")
    cut = dense_rows(_frame(fully_ppr(graph, sharded, sources=chosen)), local.names, sources, local.n, local.ids_of)
    twin = monte_carlo_ppr(local, local.ids_of(sources), dataclasses.replace(params, top_k=local.n)).toarray()
    listed = cut > 0
    assert 0 < listed.sum() <= 3 * len(sources) and np.all(cut[listed] <= twin[listed])
    assert len(_scored_at_merges(caplog)) >= 2, "merges ran (and kept trimmed counts of sources still walking)"


def test_a_merge_keeps_the_count_top_largest_counts_of_sources_still_walking():
    """A merge of one bucket's count rows (no Spark): a source whose ω walkers have all stopped is
    scored from its whole counts; the summed counts of a source still walking are trimmed by
    ``trim`` (here :func:`~sparkgraph.udfs.shard_walks.top_counts` to 3), its residual mass kept."""
    n, walks, rng = 30, 10, np.random.default_rng(8)
    sources = np.repeat([4, 6], 40)
    targets = rng.integers(0, n, 80)
    visits = rng.integers(1, 5, 80)
    zeros = np.zeros(80, np.int64)
    stopped = Tally(np.array([4, 6]), np.full(2, mass_target(n)), np.zeros(2, np.int64), np.array([walks, 3]),
                    np.zeros(2, np.int64))  # source 4: all 10 walkers stopped; source 6: 3 of them
    rows = pa.concat_tables([round_rows.count_rows(Tally(sources, targets, visits, zeros, zeros), 2, 16),
                             round_rows.count_rows(stopped, 2, 16)])
    rows = rows.select(round_rows.COUNT_COLUMNS + ["score"])  # (one bucket: both sources are even)

    def finish(tally):
        return tally_scores(tally, walks, 0.15, n, 5)

    out = round_rows.merge_bucket(rows, 2, n, 16, walks, finish, lambda t: top_counts(t, 3, 0.15, n))
    scored = out.column("score").is_valid().to_numpy(zero_copy_only=False)
    merged = merge_tallies([Tally(sources, targets, visits, zeros, zeros), stopped], n)
    final = round_rows.flat(out.filter(pa.array(scored)), "score")
    np.testing.assert_array_equal(final, finish(merged.take(merged.source == 4))[2])
    kept = merge_tallies([round_rows.tally_of(out.filter(pa.array(~scored)))], n)
    expected = top_counts(merged.take(merged.source == 6), 3, 0.15, n)
    for field in ("source", "target", "visits", "ends"):
        np.testing.assert_array_equal(np.sort(getattr(kept, field)), np.sort(getattr(expected, field)))
    assert len(kept.source) == 4, "three counts and the walkers that stopped"


def test_a_round_ships_only_the_count_top_largest_counts_of_sources_still_walking():
    """The round function over the first of two shards (no Spark): the walkers of the sources that
    are not sinks leave it, so their counts travel on; with ``count_top`` the call ships exactly
    :func:`~sparkgraph.udfs.shard_walks.top_counts` of what it ships without, fewer entries (the
    kernel test above pins that flow and mass entries stay whole)."""
    adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    rows, cols = np.repeat(np.arange(n), np.diff(adjacency.indptr)), adjacency.indices.astype(np.int64)
    bound = 17
    cut = adjacency.indptr[bound]
    shard_rows = pa.table({"shard": pa.array([7], pa.int32()), "block": pa.nulls(1, pa.int64()),
                           "payload": pa.array([encode_chunk(rows[:cut], cols[:cut], adjacency.data[:cut], 0, bound)]),
                           "first": pa.array([0], pa.int64())})
    layout = distributed_module.Layout(np.array([0, bound, n]), np.array([7, 3]), 1)
    sources = np.array([0, 3, 9, 12])  # two sinks among them

    def shipped(count_top: int | None) -> pd.DataFrame:
        params = PPRParams(restart_prob=0.3, walks_per_source=60, top_k=3, dangling="source", max_steps=30, seed=5,
                           push_rounds=0, strategy="distributed", count_top=count_top)
        walk = distributed_module._walk_round(
            layout, params, "source", n, 4, distributed_module.ROW_ENTRIES, distributed_module.ShardPush.of(params, "source", 2),
            Hubs.none(), lambda tally: tally_scores(tally, 60, 0.3, n, 3), 0)
        spawned = round_rows.grouped_rows(round_rows.SPAWN, layout.route(sources, sources),
                                              {"source": sources}, distributed_module.ROW_ENTRIES)
        out = walk(spawned.select(round_rows.WALKER_COLUMNS), shard_rows)
        scored = out.column("score").is_valid().to_numpy(zero_copy_only=False)  # (the sinks' walks end here)
        counts = out.filter(pa.array((out.column("kind").to_numpy() == round_rows.COUNTS) & ~scored))
        tally = merge_tallies([round_rows.tally_of(counts)], n)
        return pd.DataFrame(vars(tally)).sort_values(["source", "target"]).reset_index(drop=True)

    whole = shipped(None)
    expected = top_counts(Tally(*(whole[c].to_numpy() for c in ("source", "target", "visits", "ends", "flow"))),
                          3, 0.3, n)
    got = shipped(3)
    assert len(got) < len(whole)
    pd.testing.assert_frame_equal(got, pd.DataFrame(vars(expected)).reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("push_rounds", [0, 8])
def test_a_round_over_one_shard_scores_every_source_in_its_task(push_rounds):
    """The round function itself (Arrow tables in and out, no Spark), the weighted digraph with sinks
    as one shard held by two replicas: each replica gets the sources its route sends it, every new
    source (two at a time) pushes to the end (push_rounds 8) and walks within the call, and the call emits only
    their final scores, no walker, flow or count, bit for bit those of the same kernels run round by
    round in one process."""
    adjacency = _weighted_digraph()
    n = adjacency.shape[0]
    sources = np.array([0, 3, 9, 22, 31, 39])  # two sinks among them
    params = PPRParams(restart_prob=0.3, walks_per_source=60, dangling="source", max_steps=30, seed=5,
                       push_rounds=push_rounds, strategy="distributed",
                       walks_per_batch=120, push_sources_per_batch=2)  # (new sources taken two at a time)
    if push_rounds:
        expected = _distributed_push_in_one_process(adjacency, sources, params, ONE * push.push_threshold(60, 0.3))
    else:
        tallies = _walk_sharded(adjacency, [0, n], spawn(sources, 60, 5), 0.3, "visits", "source", 30, True)
        row, target, score = tally_scores(merge_tallies(tallies, n), 60, 0.3, n, None)
        expected = sp.csr_matrix((score, (np.searchsorted(sources, row), target)), shape=(len(sources), n)).toarray()
    layout = distributed_module.Layout(np.array([0, n]), np.array([7, 3]), 2)
    rows = np.repeat(np.arange(n), np.diff(adjacency.indptr))
    cols = adjacency.indices.astype(np.int64)
    cut = adjacency.indptr[17]  # the shard packed in two chunks, rows 17.. first (a task reads them in row order)
    chunks = [encode_chunk(rows[cut:], cols[cut:], adjacency.data[cut:], 17, n),
              encode_chunk(rows[:cut], cols[:cut], adjacency.data[:cut], 0, 17)]
    walk = distributed_module._walk_round(
        layout, params, "source", n, 4, distributed_module.ROW_ENTRIES, distributed_module.ShardPush.of(params, "source", 1),
        Hubs.none(), lambda tally: tally_scores(tally, 60, 0.3, n, None), 0)
    spawned = round_rows.grouped_rows(round_rows.SPAWN, layout.route(sources, sources), {"source": sources},
                                          distributed_module.ROW_ENTRIES)
    routes = spawned.column("shard").to_numpy()
    assert set(routes) == {7, 3}, "the sources are dealt over both replicas"
    got = np.zeros_like(expected)
    for route in (7, 3):
        shard_rows = pa.table({"shard": pa.array([route] * 2, pa.int32()), "payload": pa.array(chunks, pa.binary()),
                               "block": pa.nulls(2, pa.int64()), "first": pa.array([17, 0], pa.int64())})
        out = walk(spawned.filter(pa.array(routes == route)).select(round_rows.WALKER_COLUMNS), shard_rows)
        entries = out.column("pos").combine_chunks().value_lengths().to_numpy(zero_copy_only=False)
        scored = out.column("score").is_valid().to_numpy(zero_copy_only=False)
        assert entries[~scored].sum() == 0, "no walker, flow or count leaves the call"
        source, target, score = (round_rows.flat(out.filter(pa.array(scored)), c) for c in ("source", "pos", "score"))
        got[np.searchsorted(sources, source), target] += score
    assert np.array_equal(got, expected)


# (not in the Connect lane, which keeps make test under 15 minutes: the push adds no Spark call the lane's
# distributed cases do not make, only numpy inside their tasks)
def test_the_distributed_push_gives_the_same_numbers_whatever_the_shards_and_batches(
        weighted_sinks, monkeypatch, caplog):
    """Push-then-walk in the distributed strategy (push_rounds=8: at most 8 rounds, by the per-round
    threshold) on the weighted digraph with sinks: the numbers of the same kernels run in one
    process, bit for bit: over one shard (each source pushes to the end and walks in its first task
    call, in one round), and over 4 shards of about 10 vertices, each held by two tasks (most pushes
    and steps cross a shard; the kernel test above takes other cuts), in pipelined batches, rows cut
    at 7 entries, counts merged every other round; and within the estimator's bound of exact (the
    residual's walkers carry at most the source's mass, so the push-free band holds, ppr_bounds).
    Under ``source`` with visits only: the plumbing does not depend on the policy (the sharded push's
    kernel test pins both), and the sharded run takes ~35 s of one-second rounds."""
    dangling, estimator = "source", "visits"
    graph, local = weighted_sinks
    names = local.names[[0, 3, 9, 22, 31]]  # two sinks among them
    sources = np.sort(local.ids_of(names))
    names = local.names[sources]
    params = PPRParams(restart_prob=0.3, walks_per_source=40, top_k=local.n, strategy="distributed",
                       max_steps=30, dangling=dangling, estimator=estimator, seed=5, push_rounds=8)
    expected = _distributed_push_in_one_process(local.adjacency, sources, params, ONE * push.push_threshold(40, 0.3))
    caplog.set_level(logging.INFO, logger="sparkgraph.ppr.distributed")
    one_shard = dense_rows(_frame(fully_ppr(graph, params, sources=[int(s) for s in names])), local.names, names,
                           local.n, local.ids_of)
    assert np.array_equal(one_shard, expected), "one shard: every source pushes to the end in its first task call"
    assert "distributed ppr: 1 rounds" in caplog.text  # (and walks there: nothing is left for a later round)
    monkeypatch.setattr(distributed_module, "ROW_ENTRIES", 7)
    monkeypatch.setattr(distributed_module, "ENTRIES_PER_CHUNK", 15)
    monkeypatch.setattr(distributed_module, "MERGE_EVERY", 2)
    pipelined = dataclasses.replace(params, walks_per_batch=10,  # 40·5 / (10·tasks): two or three batches
                                    shard_max_bytes=shard_budget(graph, 4))
    rows = dense_rows(_frame(fully_ppr(graph, pipelined, sources=[int(s) for s in names])), local.names, names,
                      local.n, local.ids_of)
    assert np.array_equal(rows, expected)
    (one_batch, one, _, _, _), (batches, shards, replicas, _, by_counts) = _batches_and_shards(caplog)
    assert one_batch == one == 1 and batches >= 2 and shards == 4 and replicas == 2 and by_counts == 1
    assert sum(_scored_at_merges(caplog)) > 0, "some sources were scored before the end"
    exact = exact_ppr(local, sources, params.restart_prob, dangling)
    assert np.all(np.abs(rows - exact) <= bound_for(exact, params, local, sources))


def test_the_walk_indexs_discard_walks_are_the_same_in_both_strategies(weighted_sinks):
    """The walk index's walks end at a jump and count it as target -1: sharded or broadcast, the
    same rows (top-k besides the jump share) bit for bit."""
    graph, local = weighted_sinks
    ids = graph.to_ids([int(s) for s in local.names[[0, 8, 17, 30]]], what="source")
    frames = [_frame(fully_ppr_module.dense_scores(graph, ids, PPRParams(walks_per_source=400, top_k=6, push_rounds=0,
                                                                         strategy=strategy, seed=9, max_steps=30),
                                                   dangling="discard"))
              for strategy in ("broadcast", "distributed")]  # (max_steps 30: a sharded run takes a round per step)
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    assert (frames[0]["target"] == -1).sum() >= 3 and frames[0].groupby("source").size().max() == 7


def test_sources_of_a_large_graph_push_by_cost_the_same_on_spark_and_in_the_twin(spark):
    """Above DENSE_MAX_VERTICES the auto push lets every entry stop by its own mass: on a Chung–Lu
    graph the sources leave different residual masses, and Spark's numbers are the twin's, bit for bit."""
    edges = chung_lu(spark, push.DENSE_MAX_VERTICES + 4_000, 2.5, 8.0, seed=3, slices=2)
    graph = Graph.from_edges(edges, directed=False)
    local = LocalGraph.from_pandas(edges.toPandas(), options=GraphOptions(directed=False))
    assert local.n == graph.n > push.DENSE_MAX_VERTICES
    params = PPRParams(walks_per_source=300, top_k=local.n, seed=4)
    plan = params.push_plan(local.n, local.num_arcs)
    assert plan.threshold is not None
    sources = local.names[np.random.default_rng(2).choice(local.n, 12, replace=False)]
    ids = local.ids_of(sources)
    transition = transition_csr(local.adjacency.indptr, local.adjacency.indices, None)
    _, residual = push_flow(ids, transition, plan.rounds, ALPHA, "source", threshold=plan.threshold)
    masses = np.asarray(residual.sum(axis=1)).ravel()
    assert len(set(np.round(masses, 9).tolist())) >= 6 and masses.min() >= (1 - ALPHA) ** plan.rounds - 1e-12, masses
    spark_rows = dense_rows(_frame(fully_ppr(graph, params, sources=[int(s) for s in sources])), local.names,
                            sources, local.n, local.ids_of)
    assert np.array_equal(spark_rows, monte_carlo_ppr(local, ids, params).toarray())
