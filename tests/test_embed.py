"""FastRP: the local twin against the paper's formula, Spark against the twin, search and evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sparkgraph.datasets import load_graph, load_labels, load_local, planted_partition
from sparkgraph.embed import FastRPParams, fastrp, nearest, to_vectors
from sparkgraph.embed.evaluate import (
    collect_embedding,
    label_matrix,
    link_prediction,
    node_classification,
    split_edges,
)
from sparkgraph.graph import Graph
from sparkgraph.local.fastrp import fastrp as local_fastrp
from sparkgraph.local.graph import LocalGraph
from sparkgraph.udfs.projection import projection_rows, sparsity_for


def dense_rows(frame: pd.DataFrame, local: LocalGraph) -> np.ndarray:
    out = np.full((local.n, len(frame["embedding"].iloc[0])), np.nan, dtype=np.float32)
    out[local.ids_of(frame["id"].to_numpy())] = np.vstack(frame["embedding"].to_numpy())
    assert not np.isnan(out).any(), "every vertex gets an embedding"
    return out


# ---------------------------------------------------------------------- the projection
def test_projection_rows_are_a_pure_function_of_seed_and_id():
    rows = projection_rows(np.arange(1000), 64, 9.0, seed=3)
    again = projection_rows(np.array([999, 5, 0]), 64, 9.0, seed=3)  # any subset, any order
    assert np.array_equal(again, rows[[999, 5, 0]])
    assert not np.array_equal(projection_rows(np.arange(10), 64, 9.0, seed=4), rows[:10])
    assert set(np.unique(rows)) == {-3.0, 0.0, 3.0}
    # each entry is non-zero with probability 1/s = 1/9; 64,000 draws: 6 binomial sigmas
    share, sigma = (rows != 0).mean(), math.sqrt((1 / 9) * (8 / 9) / rows.size)
    assert abs(share - 1 / 9) < 6 * sigma and abs((rows > 0).mean() - (rows < 0).mean()) < 6 * sigma
    assert sparsity_for("sqrt_n", 10_000) == 100.0 and sparsity_for(3, 10_000) == 3.0


def test_local_twin_is_the_papers_formula_on_a_weighted_graph():
    """Dense matrices, written out: N₁ = M·L·R, Nᵢ = M·Nᵢ₋₁, Σ wᵢ·rownorm(Nᵢ) + self·rownorm(R)."""
    local = load_local("karate")
    params = FastRPParams(dimension=24, iteration_weights=(0.5, 1.0, 2.0), normalization_strength=-0.7,
                          self_influence=0.25, seed=11)
    a = local.adjacency.toarray()
    degree = a.sum(axis=1)
    m = a / degree[:, None]
    r = projection_rows(np.arange(local.n), 24, math.sqrt(local.n), seed=11).astype(np.float64)

    def rownorm(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    n_i = m @ (np.diag(degree**-0.7) @ r)
    expected = 0.25 * rownorm(r)
    for w in params.iteration_weights:
        expected += w * rownorm(n_i)
        n_i = m @ n_i
    assert np.allclose(local_fastrp(local, params), expected, atol=1e-5)  # float32 storage of each Nᵢ


# ---------------------------------------------------------------------- Spark = the twin
@pytest.fixture(scope="module")
def karate(spark) -> Graph:
    """Karate as its data set is read (undirected, weighted), built once for this module's tests."""
    return load_graph(spark, "karate")


@pytest.fixture(scope="module")
def cora(spark) -> Graph:
    """Cora as its data set is read (directed; 486 papers cite nothing), built once."""
    return load_graph(spark, "cora")


@pytest.mark.connect
@pytest.mark.parametrize("strategy", ["single", "blocks"])
def test_spark_equals_the_twin_on_karate_with_weights(karate, strategy):
    params = FastRPParams(dimension=32, normalization_strength=-0.5, self_influence=0.3, seed=1, strategy=strategy)
    got = dense_rows(fastrp(karate, params).toPandas(), load_local("karate"))
    expected = local_fastrp(load_local("karate"), params)
    # single: the twin's own kernel; blocks: the same float64 products summed block by block,
    # stored as float32 after each iteration: differences of a few float32 ulps at most
    assert np.array_equal(got, expected) if strategy == "single" else np.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("direction", ["out", "in", "both"])
def test_spark_equals_the_twin_on_a_directed_graph(cora, direction):
    graph, local = cora, load_local("cora")  # 486 papers cite nothing: rows of M empty
    params = FastRPParams(dimension=48, direction=direction, normalization_strength=-0.3, seed=4, strategy="blocks")
    expected = local_fastrp(local, params)
    got = dense_rows(fastrp(graph, params).toPandas(), local)  # 3 blocks of 1,024 vertices: 9 block pairs
    assert np.allclose(got, expected, atol=1e-5)
    if direction == "both":
        single = dense_rows(fastrp(graph, FastRPParams(**{**params.__dict__, "strategy": "single"})).toPandas(), local)
        assert np.array_equal(single, expected)


def test_isolated_vertices_get_their_own_starting_vector(spark):
    edges = spark.createDataFrame([("a", "b"), ("b", "c")], "src string, dst string")
    vertices = spark.createDataFrame([("a",), ("b",), ("c",), ("lonely",)], "id string")
    graph = Graph.from_edges(edges, vertices, directed=False)
    local = LocalGraph.from_pandas(pd.DataFrame({"src": ["a", "b"], "dst": ["b", "c"]}),
                                   pd.DataFrame({"id": ["a", "b", "c", "lonely"]}), directed=False)
    params = FastRPParams(dimension=8, iteration_weights=(1.0,), self_influence=1.0, seed=2)
    for strategy in ("single", "blocks"):
        got = dense_rows(fastrp(graph, FastRPParams(**{**params.__dict__, "strategy": strategy})).toPandas(), local)
        assert np.allclose(got, local_fastrp(local, params), atol=1e-6)
        # no neighbours: the propagated part is zero, only the (normalised) starting vector remains
        assert np.isclose(np.linalg.norm(got[local.ids_of(["lonely"])[0]]), 1.0, atol=1e-6)


@pytest.mark.connect
def test_features_fill_their_dimensions(spark, karate):
    graph, local = karate, load_local("karate")
    rng = np.random.default_rng(0)
    values = rng.normal(size=(local.n, 5))
    features = pd.DataFrame({"id": local.names, "values": list(values)})
    params = FastRPParams(dimension=16, feature_dim=4, seed=7)
    expected = local_fastrp(local, params, features)
    for strategy in ("single", "blocks"):
        table = spark.createDataFrame(features.assign(values=features["values"].map(list)))
        got = dense_rows(fastrp(graph, FastRPParams(**{**params.__dict__, "strategy": strategy}), table).toPandas(),
                         local)
        assert np.allclose(got, expected, atol=1e-5)
    without = local_fastrp(local, FastRPParams(dimension=16, seed=7))
    assert not np.allclose(expected, without, atol=1e-3)  # the features change the embedding


def test_same_seed_same_embedding_and_blocks_are_deterministic(cora):
    graph = cora
    params = FastRPParams(dimension=16, seed=9, strategy="blocks")
    first, second = (fastrp(graph, params).orderBy("id").toPandas() for _ in range(2))
    assert np.array_equal(np.vstack(first["embedding"]), np.vstack(second["embedding"]))
    # each iteration's checkpoint is freed once the next one is materialised (classic Spark): a run
    # holds the state its result is read from, whatever the number of iterations
    held = set(graph.spark.sparkContext._jsc.getPersistentRDDs().keySet())
    fastrp(graph, FastRPParams(dimension=16, seed=9, strategy="blocks", iteration_weights=(1.0,) * 6)).count()
    grown = set(graph.spark.sparkContext._jsc.getPersistentRDDs().keySet()) - held
    assert len(grown) <= 2, grown


# ---------------------------------------------------------------------- quality, search, ML vectors
def test_cora_embeddings_classify_the_papers(spark):
    local = load_local("cora")
    labels = label_matrix(load_labels("cora"), local.names)
    embedding = local_fastrp(local, FastRPParams(dimension=128, iteration_weights=(0.0, 1.0, 1.0, 1.0),
                                                 direction="both", seed=1))
    scores = node_classification(embedding, labels, train_fraction=0.5, repeats=3, C=1.0)
    chance = node_classification(np.random.default_rng(0).normal(size=embedding.shape), labels, 0.5, repeats=3)
    # 7 classes, the largest holds 30 %: a structureless embedding stays near that; FastRP reaches ~0.8
    assert chance["micro_f1"] < 0.4 and scores["micro_f1"] > 0.7, (scores, chance)


@pytest.mark.connect
def test_nearest_equals_brute_force_cosine(karate):
    graph, local = karate, load_local("karate")
    embeddings = fastrp(graph, FastRPParams(dimension=32, seed=3))
    vectors = collect_embedding(embeddings, local.names)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    found = nearest(embeddings, [1, 34], k=5).toPandas()
    for query in (1, 34):
        q = local.ids_of([query])[0]
        sims = unit @ unit[q]
        sims[q] = -np.inf
        best = np.argsort(-sims, kind="stable")[:5]
        rows = found[found["query"] == query].sort_values("rank")
        assert rows["neighbour"].tolist() == local.names[best].tolist()
        assert np.allclose(rows["similarity"], sims[best], atol=1e-5) and rows["rank"].tolist() == [1, 2, 3, 4, 5]
    assert to_vectors(embeddings).select("embedding").first()[0].size == 32  # a Spark ML DenseVector


def test_link_prediction_on_held_out_edges(spark):
    edges, _ = planted_partition(spark, 600, 6, 0.08, 0.002, seed=5, slices=2)
    local = LocalGraph.from_pandas(edges.toPandas(), directed=False)
    remaining, positive, negative = split_edges(local, 0.1, seed=1)
    assert len(positive) == len(negative) and remaining.m == local.m - len(positive)
    assert not np.asarray(local.adjacency[negative[:, 0], negative[:, 1]]).any()  # non-edges indeed
    embedding = local_fastrp(remaining, FastRPParams(dimension=64, seed=2))
    auc = link_prediction(embedding, remaining, positive, negative)
    # 89 % of the edges lie inside the 6 planted blocks, 1/6 of random pairs do: an oracle scoring
    # "same block" reaches AUC 0.86; chance is 0.5 ± 0.025 (about 270 pairs each): 0.7 is far above it
    assert 0.7 < auc["auc_cosine"] < 0.9 and 0.7 < auc["auc_hadamard"] < 0.9, auc
