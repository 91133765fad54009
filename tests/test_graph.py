"""The Graph model: ids, direction, duplicate and self-loop policies, validation, local twin."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sparkgraph.datasets import load_graph, load_local
from sparkgraph.errors import (
    EmptyGraphError,
    InvalidWeightError,
    MissingColumnError,
    NullIdError,
    ParameterError,
    UnknownVertexError,
)
from sparkgraph.fs import is_connect
from sparkgraph.graph import Graph, connect_plan_nodes
from sparkgraph.local import LocalGraph


@pytest.fixture(scope="module")
def karate(spark) -> Graph:
    """Karate as its data set is read (undirected, weighted), built once for this module's tests."""
    return load_graph(spark, "karate")


def arcs(graph: Graph) -> dict[tuple, float]:
    named = graph.to_names(graph.edges, "src", "dst").collect()
    return {(r["src"], r["dst"]): r["weight"] for r in named}


@pytest.mark.connect
def test_string_ids_round_trip(spark):
    df = spark.createDataFrame([("alice", "bob"), ("bob", "carol"), ("carol", "alice")], ["src", "dst"])
    g = Graph.from_edges(df)
    assert (g.n, g.m, g.directed, g.weighted) == (3, 3, True, False)
    assert sorted(r["name"] for r in g.vertices.collect()) == ["alice", "bob", "carol"]
    # dense ids follow the sorted order of the caller's ids
    assert {r["name"]: r["id"] for r in g.vertices.collect()} == {"alice": 0, "bob": 1, "carol": 2}
    assert arcs(g) == {("alice", "bob"): 1.0, ("bob", "carol"): 1.0, ("carol", "alice"): 1.0}


def test_integer_ids_of_int_type_round_trip(spark):
    df = spark.createDataFrame([(10, 30), (30, 20)], "a int, b int")
    g = Graph.from_edges(df, src="a", dst="b")
    assert arcs(g) == {(10, 30): 1.0, (30, 20): 1.0}
    assert sorted(r["id"] for r in g.to_ids([30, 10]).collect()) == [0, 2]


def test_undirected_stores_both_directions_and_merges_reversed_duplicates(spark):
    df = spark.createDataFrame([("a", "b", 1.0), ("b", "a", 2.0), ("b", "c", 4.0), ("c", "c", 1.0)],
                               ["src", "dst", "w"])
    g = Graph.from_edges(df, directed=False, weight="w")
    assert arcs(g) == {("a", "b"): 3.0, ("b", "a"): 3.0, ("b", "c"): 4.0, ("c", "b"): 4.0, ("c", "c"): 1.0}
    assert (g.m, g.num_arcs) == (3, 5)


@pytest.mark.parametrize("policy,expected", [("sum", 6.0), ("max", 3.0), ("first", 2.0)])
def test_duplicate_policies(spark, policy, expected):
    df = spark.createDataFrame([(1, 2, 2.0), (1, 2, 3.0), (1, 2, 1.0), (2, 1, 5.0)], "src long, dst long, w double")
    g = Graph.from_edges(df.coalesce(1), weight="w", duplicates=policy)
    assert arcs(g) == {(1, 2): expected, (2, 1): 5.0}


def test_self_loop_policies(spark):
    df = spark.createDataFrame([(1, 1), (1, 2)], "src long, dst long")
    assert arcs(Graph.from_edges(df)) == {(1, 1): 1.0, (1, 2): 1.0}
    dropped = Graph.from_edges(df, self_loops="drop")
    assert arcs(dropped) == {(1, 2): 1.0}
    assert dropped.n == 2  # vertex 1 still has an edge


def test_vertices_table_keeps_isolated_vertices(spark):
    edges = spark.createDataFrame([("a", "b")], ["src", "dst"])
    vertices = spark.createDataFrame([("a",), ("b",), ("z",)], ["id"])
    g = Graph.from_edges(edges, vertices)
    assert g.n == 3
    degrees = {r["id"]: r["out_degree"] for r in g.to_names(g.out_degrees(), "id").collect()}
    assert degrees == {"a": 1, "b": 0, "z": 0}


def _driver_rows(df) -> set:
    """The plan's leaves of rows made on the driver: over Connect the plan nodes themselves (the graph
    builds a tiny one of its own), on classic Spark a marker when the analysed plan has any."""
    if is_connect(df.sparkSession):
        return {id(node) for node in connect_plan_nodes(df._plan) if type(node).__name__.endswith("LocalRelation")}
    return {"LocalRelation"} if "LocalRelation" in df._jdf.queryExecution().analyzed().toString() else set()


@pytest.mark.connect
def test_a_graph_from_driver_memory_does_not_carry_its_rows_in_every_plan(spark):
    """Rows made on the driver (pandas, lists) sit in the plan (a LocalRelation; over Connect an uploaded
    cached one), which Spark compares at every query of the cached graph (2M arcs: 2.4 s per count,
    10.7 s over Connect); the graph cuts that lineage."""
    pdf = pd.DataFrame({"src": [1, 2, 3, 3], "dst": [2, 3, 1, 4]})
    vertices = spark.createDataFrame(pd.DataFrame({"id": [1, 2, 3, 4, 5]}))
    edges = spark.createDataFrame(pdf)
    given = _driver_rows(edges) | _driver_rows(vertices)
    assert given
    g = Graph.from_edges(edges, vertices)
    for frame in (g.edges, g.vertices):
        assert not _driver_rows(frame) & given
    assert (g.n, g.m) == (5, 4)
    pairs = g.to_names(g.edges, "src", "dst").select("src", "dst").toPandas()
    assert sorted(map(tuple, pairs.to_numpy().tolist())) == [(1, 2), (2, 3), (3, 1), (3, 4)]


@pytest.mark.connect
def test_graphframe_like_objects_are_read_through_vertices_and_edges(spark):
    gf = SimpleNamespace(vertices=spark.createDataFrame([(1,), (2,), (3,)], "id long"),
                         edges=spark.createDataFrame([(1, 2)], "src long, dst long"))
    g = Graph.from_graphframe(gf)
    assert (g.n, g.m) == (3, 1)
    with pytest.raises(ParameterError, match="GraphFrame-like"):
        Graph.from_graphframe(object())


def test_facts_of_a_real_weighted_graph(karate):
    g = karate
    facts = g.stats()
    assert (facts["vertices"], facts["edges"], facts["arcs"]) == (34, 78, 156)
    # README: total weight 231 over 78 undirected edges -> 462 over both directions
    assert facts["total_arc_weight"] == 462.0
    assert facts["max_out_degree"] == 17


# ---------------------------------------------------------------------- validation
def _raises(exc, match, build):
    with pytest.raises(exc, match=match) as info:
        build()
    assert "\n" not in str(info.value)  # one line
    return info


def test_missing_column(spark):
    df = spark.createDataFrame([(1, 2)], "a long, b long")
    _raises(MissingColumnError, "no column 'src'.*rename it", lambda: Graph.from_edges(df))
    df2 = spark.createDataFrame([(1, 2)], "src long, dst long")
    _raises(MissingColumnError, "'w'", lambda: Graph.from_edges(df2, weight="w"))


def test_null_ids(spark):
    df = spark.createDataFrame([("a", None), ("b", "c")], "src string, dst string")
    _raises(NullIdError, "1 edges have a null 'dst'.*dropna", lambda: Graph.from_edges(df))


@pytest.mark.parametrize("bad,word", [(math.nan, "NaN"), (math.inf, "infinite"), (-1.0, "negative"),
                                      (0.0, "zero"), (None, "null")])
def test_bad_weights(spark, bad, word):
    df = spark.createDataFrame([(1, 2, 1.0), (2, 3, bad)], "src long, dst long, w double")
    _raises(InvalidWeightError, f"a {word} weight.*finite and > 0", lambda: Graph.from_edges(df, weight="w"))


def test_non_numeric_weight(spark):
    df = spark.createDataFrame([(1, 2, "heavy")], "src long, dst long, w string")
    _raises(InvalidWeightError, "not numeric", lambda: Graph.from_edges(df, weight="w"))


def test_empty_edge_set(spark):
    df = spark.createDataFrame([], "src long, dst long")
    _raises(EmptyGraphError, "edge set is empty", lambda: Graph.from_edges(df))


def test_edges_referring_to_unknown_vertices(spark):
    edges = spark.createDataFrame([("a", "b"), ("a", "q")], ["src", "dst"])
    vertices = spark.createDataFrame([("a",), ("b",)], ["id"])
    _raises(UnknownVertexError, r"missing from the vertices table, e.g. \['q'\]", lambda: Graph.from_edges(edges, vertices))


def test_mismatched_id_types_and_bad_policies(spark):
    df = spark.createDataFrame([("a", 1)], "src string, dst long")
    _raises(ParameterError, "different id types", lambda: Graph.from_edges(df))
    _raises(ParameterError, "duplicates='avg'", lambda: Graph.from_edges(df, duplicates="avg"))


@pytest.mark.connect
def test_unknown_ids_are_named(karate):
    g = karate
    _raises(UnknownVertexError, r"source ids not in the graph: \[99\]", lambda: g.to_ids([1, 99], what="source"))


# ---------------------------------------------------------------------- the local twin
@pytest.mark.connect
def test_local_twin_equals_distributed_graph_on_real_data(spark, shared_data):
    from sparkgraph.datasets import graph_options
    from sparkgraph.io import read_graph

    g = read_graph(spark, str(shared_data / "cond-mat-1999" / "edges.tsv.gz"), graph_options("cond-mat-1999"))
    collected = LocalGraph.from_graph(g)
    from_file = load_local("cond-mat-1999")
    assert (from_file.n, from_file.m) == (16264, 47594) == (g.n, g.m)
    assert np.array_equal(collected.names, from_file.names)
    assert abs(collected.adjacency - from_file.adjacency).max() == 0


def test_local_twin_applies_the_same_policies():
    table = pd.DataFrame({"src": ["b", "a", "a", "c"], "dst": ["a", "b", "b", "c"], "w": [1.0, 2.0, 5.0, 1.0]})
    lg = LocalGraph.from_pandas(table, directed=False, weight="w", duplicates="first", self_loops="drop")
    assert lg.names.tolist() == ["a", "b"]
    assert lg.adjacency.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(InvalidWeightError):
        LocalGraph.from_pandas(table.assign(w=[1.0, -1.0, 1.0, 1.0]), weight="w")


def test_collecting_checks_the_driver_budget(karate):
    from sparkgraph.errors import GraphTooLargeError

    g = karate
    _raises(GraphTooLargeError, "over the .* budget", lambda: LocalGraph.from_graph(g, max_bytes=1000))
