"""Personalized PageRank: every distributed estimate against the exact local twin.

Tolerances come from the estimators' error bounds (tests/ppr_bounds.py), not from tuning.
"""

from __future__ import annotations

import dataclasses
import logging

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import shard_budget
from ppr_bounds import bound_for, dense_rows
from pyspark.sql import functions as F

from sparkgraph import metrics
from sparkgraph.datasets import graph_options, load_graph, load_local, planted_partition
from sparkgraph.errors import GraphTooLargeError, ParameterError, UnknownVertexError
from sparkgraph.graph import Graph, GraphOptions
from sparkgraph.local.graph import LocalGraph
from sparkgraph.local.ppr import exact_ppr, monte_carlo_ppr
from sparkgraph.ppr import (
    PPRParams,
    QueryParams,
    WalkIndex,
    WalkIndexParams,
    build_walk_index,
    fully_ppr,
    query,
)
from sparkgraph.ppr.distributed import shard_bounds
from sparkgraph.ppr.fully_ppr import describe_method
from sparkgraph.udfs import hubs as hubs_module


def sample_sources(local: LocalGraph, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return local.names[np.sort(rng.choice(local.n, size=min(count, local.n), replace=False))]


def check_against_exact(result, local: LocalGraph, sources, params: PPRParams, exact=None) -> dict:
    """Every entry within the simultaneous bound; returns the mean precision@10 and L1."""
    estimate = dense_rows(result.toPandas(), local.names, sources, local.n, local.ids_of)
    if exact is None:
        exact = exact_ppr(local, local.ids_of(sources), params.restart_prob, params.dangling)
    bound = bound_for(exact, params, local, local.ids_of(sources))
    worst = np.max(np.abs(estimate - exact) - bound)
    assert worst <= 0, f"an entry is {worst:.4g} outside its bound"
    return {
        "precision": float(np.mean([metrics.precision_at_k(estimate[i], exact[i], 10) for i in range(len(sources))])),
        "l1": float(np.mean(np.abs(estimate - exact).sum(axis=1))),
        "estimate": estimate,
        "exact": exact,
    }


@pytest.fixture(scope="module")
def karate(spark) -> Graph:
    """Karate as its data set is read (undirected, weighted), built once for this module's tests: every
    algorithm takes the graph as it is, and building it is a few Spark jobs of its own."""
    return load_graph(spark, "karate")


@pytest.fixture(scope="module")
def cora(spark) -> Graph:
    """Cora as its data set is read (directed, 486 papers without references), built once."""
    return load_graph(spark, "cora")


# ---------------------------------------------------------------------- the exact twin
@pytest.mark.parametrize("name", ["karate", "cora"])
def test_exact_twin_matches_networkx(name):
    local = load_local(name)
    g = nx.DiGraph()
    g.add_nodes_from(range(local.n))
    coo = local.adjacency.tocoo()
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    sources = np.array([0, local.n // 2, local.n - 1])
    pi = exact_ppr(local, sources)
    for i, s in enumerate(sources):
        # networkx sends dangling mass to the personalization vector: our "source" policy
        ref = nx.pagerank(g, alpha=0.85, personalization={int(s): 1.0}, tol=1e-14, max_iter=10_000)
        assert np.abs(pi[i] - np.array([ref[v] for v in range(local.n)])).sum() < 1e-8
        assert pi[i].sum() == pytest.approx(1.0, abs=1e-9)


def test_the_benchmarks_matched_power_iteration_is_exact_ppr_cut_short():
    """bench/ppr.py's exact peer (power iteration stopped at matched accuracy) computes what it says:
    on Cora (486 sinks, `source` policy) it converges to the exact twin, and its accuracy curve stops
    at the first iteration as good as the target."""
    from bench._ppr_peer import _iterate, accuracy_by_iterations
    from sparkgraph.local.ppr import transition_matrix

    local = load_local("cora")
    sources = np.array([0, 7, local.n - 1])
    exact = exact_ppr(local, sources)
    p, sink = transition_matrix(local)
    assert len(sink) > 0
    pi = _iterate(p.T.tocsr(), sink, sources, 0.15, 200, np.float64)
    assert np.abs(pi - exact).sum(axis=1).max() < 1e-10  # (1-α)^200 of the mass is still moving: ~1e-14
    curve = accuracy_by_iterations(local, sources, exact, 0.15, precision=1.0, l1=0.05)
    assert [t for t, _, _ in curve] == list(range(1, len(curve) + 1))
    assert curve[-1][1] == 1.0 and curve[-1][2] <= 0.05
    assert all(p < 1.0 or e > 0.05 for _, p, e in curve[:-1])
    assert all(b[2] < a[2] for a, b in zip(curve, curve[1:], strict=False))  # the L1 error falls every iteration


def test_the_benchmarks_graphx_peer_is_ppr(spark, tmp_path):
    """bench/ppr.py's JVM peer (GraphX's runParallelPersonalizedPageRank, from Python through the
    gateway) computes PPR: on karate (no sinks) T iterations from the source leave at most (1-α)^T of the
    mass misplaced, so its vectors are within 2·0.85^30 = 0.015 of exact in L1 after 30."""
    from bench._graphx_peer import graphx_ppr, write_edge_list

    local = load_local("karate")
    adjacency = local.adjacency.astype(bool).astype(np.float64).tocsr()  # GraphX walks arcs unweighted
    local = LocalGraph(adjacency, local.names, False, False)
    sources = np.array([0, 5, 33])
    estimate, seconds = graphx_ppr(spark, write_edge_list(local, str(tmp_path / "edges.txt")), sources, local.n, 30,
                                   0.15, str(tmp_path))
    exact = exact_ppr(local, sources)
    assert seconds > 0 and np.abs(estimate - exact).sum(axis=1).max() <= 2 * 0.85**30


def test_dangling_policies_differ_and_stop_keeps_mass_at_sinks():
    local = load_local("cora")
    sinks = np.flatnonzero(local.out_degrees() == 0)
    source = np.array([int(np.flatnonzero(local.out_degrees() > 0)[0])])
    to_source, stop = exact_ppr(local, source, dangling="source"), exact_ppr(local, source, dangling="stop")
    assert np.abs(to_source - stop).sum() > 0.05
    # with "stop" every walk that reaches a sink ends there: sinks hold more mass than under "source"
    assert stop[0, sinks].sum() > to_source[0, sinks].sum()


@pytest.mark.parametrize("estimator,push", [("visits", 0), ("endpoints", 0), ("visits", 4), ("endpoints", 3)])
@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_numpy_monte_carlo_twin_within_bound(estimator, push, dangling):
    local = load_local("cora")
    sources = local.names[np.arange(0, local.n, 97)]
    params = PPRParams(walks_per_source=2000, estimator=estimator, push_rounds=push, dangling=dangling, seed=5)
    estimate = monte_carlo_ppr(local, local.ids_of(sources), params).toarray()
    exact = exact_ppr(local, local.ids_of(sources), dangling=dangling)
    assert np.all(np.abs(estimate - exact) <= bound_for(exact, params, local, local.ids_of(sources)))


def test_push_then_walk_beats_plain_walks_on_a_dense_graph(shared_data):
    """BlogCatalog (mean degree 65): at ω=1000, pushing 4 rounds first cuts the L1 error, and the auto
    plan (8 rounds, then in place where its bound beats the walks) cuts it far further."""
    local = load_local("blogcatalog")
    sources = local.ids_of(sample_sources(local, 40, seed=6))
    exact = exact_ppr(local, sources)
    errors = {}
    for push in (0, 4, None):
        params = PPRParams(push_rounds=push, seed=6)
        estimate = monte_carlo_ppr(local, sources, params).toarray()
        errors[push] = np.abs(estimate - exact).sum(axis=1).mean()
        assert np.all(np.abs(estimate - exact) <= bound_for(exact, params, local, sources))
    assert PPRParams().push_plan(local.n, local.num_arcs).rounds == 8
    # each walker carries the residual mass / ω, so the walks' error scales with that mass: 0.85^4 = 0.52x
    # plain walks'. A source finishing in place errs by at most 0.85^8 / √1000 = 0.0086 (errors[4] is about
    # 0.36): a mean under a tenth of errors[4] needs nearly every source to finish in place
    assert errors[4] < 0.75 * errors[0] and errors[None] < 0.1 * errors[4], errors


# ---------------------------------------------------------------------- broadcast strategy, real graphs
def test_cora_default_settings_precision_and_bound(cora):
    """Directed, 486 dangling papers, default settings (ω=1000, visits, dangling=source)."""
    graph, local = cora, load_local("cora")
    sources = sample_sources(local, 40)
    params = PPRParams(top_k=local.n)  # every entry, so the bound is checked everywhere
    stats = check_against_exact(fully_ppr(graph, params, sources=list(sources)), local, sources, params)
    assert stats["precision"] >= 0.9


def test_cora_endpoint_estimator_with_stop_policy(cora):
    graph, local = cora, load_local("cora")
    sources = sample_sources(local, 30, seed=1)
    params = PPRParams(walks_per_source=2000, estimator="endpoints", dangling="stop", top_k=local.n, seed=2)
    stats = check_against_exact(fully_ppr(graph, params, sources=list(sources)), local, sources, params)
    assert stats["precision"] >= 0.9


def test_cond_mat_real_weights(spark, shared_data):
    from sparkgraph.io import read_graph

    graph = read_graph(spark, str(shared_data / "cond-mat-1999" / "edges.tsv.gz"), graph_options("cond-mat-1999"))
    local = load_local("cond-mat-1999")
    assert graph.weighted and local.weighted
    sources = sample_sources(local, 25, seed=2)
    params = PPRParams(top_k=local.n, seed=3)
    stats = check_against_exact(fully_ppr(graph, params, sources=list(sources)), local, sources, params)
    assert stats["precision"] >= 0.9


@pytest.mark.connect
def test_generated_planted_partition_graph(spark):
    edges, _ = planted_partition(spark, 1500, 5, 0.03, 0.002, seed=11, slices=2)
    graph = Graph.from_edges(edges, directed=False)
    local = LocalGraph.from_pandas(edges.toPandas(), directed=False)
    assert (graph.n, graph.m) == (local.n, local.m)
    sources = sample_sources(local, 25, seed=4)
    params = PPRParams(top_k=local.n, seed=4)
    stats = check_against_exact(fully_ppr(graph, params, sources=list(sources)), local, sources, params)
    assert stats["precision"] >= 0.9


def test_weights_matter_and_each_version_matches_its_twin(spark):
    """Karate's interaction counts change PPR well beyond the Monte Carlo error."""
    sources = np.array([1, 9, 34])
    results = {}
    for weighted in (True, False):
        options = GraphOptions(directed=False, weight="weight" if weighted else None)
        graph, local = load_graph(spark, "karate", options), load_local("karate", options)
        params = PPRParams(walks_per_source=4000, top_k=34, seed=7)
        results[weighted] = check_against_exact(fully_ppr(graph, params, sources=list(sources)), local, sources, params)
    # the exact vectors differ (a fact of the data) ...
    assert np.abs(results[True]["exact"] - results[False]["exact"]).sum(axis=1).min() > 0.1
    # ... and each estimate is far closer to its own twin than to the other one
    for weighted in (True, False):
        est = results[weighted]["estimate"]
        own = np.abs(est - results[weighted]["exact"]).sum()
        other = np.abs(est - results[not weighted]["exact"]).sum()
        assert own < 0.5 * other, (weighted, own, other)


def test_same_seed_same_result_and_top_k(karate):
    graph = karate
    params = PPRParams(walks_per_source=500, top_k=5, seed=9)
    first = fully_ppr(graph, params, sources=[1, 34]).orderBy("source", "target").toPandas()
    second = fully_ppr(graph, params, sources=[1, 34]).orderBy("source", "target").toPandas()
    assert first.equals(second)
    assert first.groupby("source").size().tolist() == [5, 5]
    # every source ranks itself first on karate (π(s, s) >= α)
    top = first.sort_values("score", ascending=False).groupby("source").head(1)
    assert sorted(zip(top["source"], top["target"], strict=True)) == [(1, 1), (34, 34)]


# ---------------------------------------------------------------------- distributed strategy
def test_distributed_strategy_equals_broadcast_without_push_and_is_within_bound_of_exact(karate, monkeypatch, caplog):
    """The sharded walks are the broadcast kernel's walks (test_ppr_random pins it on more graphs, and
    the top-k cut of both strategies): the same rows, bit for bit, here with the rows of more than
    5 arcs split into blocks (hubs: 7 of karate's vertices, 1 and 34 among the sources; 4,500
    walkers take one shard, so a step from a hub takes a round to its block in the same shard;
    test_ppr_random crosses shards); and so within the estimator's bound of exact."""
    monkeypatch.setattr(hubs_module, "HUB_ARCS", 5)
    caplog.set_level(logging.INFO, logger="sparkgraph.ppr.distributed")
    graph, local = karate, load_local("karate")
    sources = np.array([1, 12, 34])
    params = {strategy: PPRParams(restart_prob=0.3, walks_per_source=1500, top_k=local.n, push_rounds=0,
                                  strategy=strategy, seed=13) for strategy in ("distributed", "broadcast")}
    results = {strategy: fully_ppr(graph, p, sources=list(sources)) for strategy, p in params.items()}
    frames = {k: r.toPandas().sort_values(["source", "target"]).reset_index(drop=True) for k, r in results.items()}
    pd.testing.assert_frame_equal(frames["distributed"], frames["broadcast"], check_exact=True)
    assert "7 hubs of more than 5 out-arcs split into 19 blocks" in caplog.text
    assert "3 sources in 1 batches, 1 shards, 1 replicas" in caplog.text  # (4,500 walkers: under one batch)
    check_against_exact(results["distributed"], local, sources, params["distributed"])


def test_the_distributed_strategy_pushes_by_default_over_one_shard_only(karate):
    """The push the run reports (the strategy's own choice, :class:`ShardPush`): under auto, the
    sparse layout's rule over one shard, none over two; a number of rounds wherever it is given.
    And the walk index passes its memory budgets to its walks."""
    one, two = (PPRParams(strategy="distributed", shard_max_bytes=budget)
                for budget in (PPRParams().shard_max_bytes, shard_budget(karate, 2)))
    assert describe_method(karate, one).startswith("distributed strategy, at most 8 push rounds, an entry pushing")
    assert describe_method(karate, two) == "distributed strategy, no push (the walks start at the sources)"
    assert describe_method(karate, dataclasses.replace(two, push_rounds=3)).startswith(
        "distributed strategy, at most 3 push rounds")
    walks = WalkIndexParams(broadcast_max_bytes=1000, shard_max_bytes=100).walk_params()
    assert (walks.broadcast_max_bytes, walks.shard_max_bytes) == (1000, 100)


@pytest.mark.connect
def test_distributed_strategy_equals_its_truncated_expectation(karate, monkeypatch):
    """Walks cut after 8 steps (a few Spark rounds, so both lanes run it): the visit estimator's
    expectation is then the PPR series cut after 8 terms, Σ_{t<=8} α(1-α)^t e_s P^t, computed here
    densely; with the rows of more than 10 arcs (vertices 1, 33, 34) split into blocks, as a huge
    hub's would be, over two shards (walks cross them, and the blocks alternate between them)."""
    monkeypatch.setattr(hubs_module, "HUB_ARCS", 10)
    graph, local = karate, load_local("karate")
    sources = np.array([1, 34])
    params = PPRParams(walks_per_source=2000, top_k=local.n, strategy="distributed", max_steps=8, seed=5,
                       push_rounds=0,  # (a push would settle flow beyond the 8 steps)
                       shard_max_bytes=shard_budget(graph, 2))
    assert len(shard_bounds(graph, params.shard_max_bytes)) - 1 == 2
    estimate = dense_rows(fully_ppr(graph, params, sources=list(sources)).toPandas(), local.names, sources, local.n,
                          local.ids_of)
    adjacency = local.adjacency.toarray()
    transition = adjacency / adjacency.sum(axis=1, keepdims=True)  # karate has no vertex without edges
    alpha, state = params.restart_prob, np.eye(local.n)[local.ids_of(sources)]
    expected = np.zeros_like(state)
    for t in range(params.max_steps + 1):
        expected += alpha * (1 - alpha) ** t * state
        state = state @ transition
    assert np.all(np.abs(estimate - expected) <= bound_for(expected, params, local, local.ids_of(sources)))


# ---------------------------------------------------------------------- the walk index
@pytest.mark.connect
def test_walk_index_queries_beat_fingerprints(spark, cora, tmp_path):
    graph, local = cora, load_local("cora")
    index = build_walk_index(graph, WalkIndexParams(walks_per_vertex=200, fingerprint_size=50, seed=1))
    sizes = (index.fingerprints.groupBy("vertex")
             .agg(F.sum((F.col("target") != -1).cast("int")).alias("kept"),
                  F.sum((F.col("target") == -1).cast("int")).alias("jump")).toPandas())
    assert len(sizes) == local.n and sizes["kept"].max() == 50 and sizes["jump"].max() <= 1
    index.save(str(tmp_path / "index"))
    loaded = WalkIndex.load(spark, str(tmp_path / "index"))
    sources = sample_sources(local, 30, seed=5)
    exact = exact_ppr(local, local.ids_of(sources))
    composed, joined = (dense_rows(query(loaded, list(sources), QueryParams(top_k=local.n, strategy=strategy))
                                   .toPandas(), local.names, sources, local.n, local.ids_of)
                        for strategy in ("broadcast", "distributed"))
    # the same decomposition over the same fingerprints: the strategies differ only by float32 rounding
    assert np.allclose(composed, joined, atol=1e-6)
    alone = dense_rows(loaded.fingerprint_scores(list(sources)).toPandas(), local.names, sources, local.n,
                       local.ids_of)
    l1_composed = np.abs(composed - exact).sum(axis=1).mean()
    l1_alone = np.abs(alone - exact).sum(axis=1).mean()
    # the composed vector mixes many fingerprints (many more walks): at least twice as accurate
    assert l1_composed < 0.5 * l1_alone, (l1_composed, l1_alone)
    precision = np.mean([metrics.precision_at_k(composed[i], exact[i], 10) for i in range(len(sources))])
    assert precision >= 0.9
    # released: an index over the driver budget is refused; within it, it is broadcast again
    loaded.unpersist()
    with pytest.raises(GraphTooLargeError, match="ships .* to every task, over the .* use strategy='distributed'"):
        query(loaded, list(sources[:3]), QueryParams(strategy="broadcast", broadcast_max_bytes=1000))
    again = dense_rows(query(loaded, list(sources[:3]), QueryParams(top_k=local.n, strategy="broadcast")).toPandas(),
                       local.names, sources[:3], local.n, local.ids_of)
    assert np.allclose(again, composed[:3])


# ---------------------------------------------------------------------- bad input
@pytest.mark.connect
def test_bad_sources_and_parameters(karate):
    graph = karate
    with pytest.raises(UnknownVertexError, match=r"source ids not in the graph: \[99\]"):
        fully_ppr(graph, PPRParams(), sources=[1, 99])
    with pytest.raises(ParameterError, match="restart_prob=1.5 must be in"):
        PPRParams(restart_prob=1.5)
    with pytest.raises(ParameterError, match="estimator='mean' is not known"):
        PPRParams(estimator="mean")
    with pytest.raises(ParameterError, match="dangling='discard' is not known"):
        WalkIndexParams(dangling="discard")
    with pytest.raises(ParameterError, match="push_rounds=60 must be in \\[0, 50\\]"):
        PPRParams(push_rounds=60)
    with pytest.raises(ParameterError, match="strategy='joins' is not known; use one of auto, broadcast, distributed"):
        QueryParams(strategy="joins")
