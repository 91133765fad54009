"""MinHash + LSH communities: the kernel against datasketch, Spark against the local twin, estimates
and candidates against their error bounds, communities and seed queries against planted truth.

Bounds used here:
* A MinHash estimate of Jaccard J from k permutations is a mean of k indicators of mean J:
  standard deviation σ = sqrt(J(1-J)/k). Over N pairs we require |estimate - J| <= 4.5σ + 1/k
  (1/k: one permutation's worth of rounding) for all but 0.1% of the pairs (a Gaussian leaves
  7e-6 beyond 4.5σ; the allowance covers the skew of the binomial at small J).
* A pair of Jaccard s shares a bucket in at least one of b bands of r rows with probability
  P(s) = 1 - (1 - s^r)^b. The number of exact pairs found is a sum of such Bernoulli draws:
  it must lie within 4.5 sqrt(Σ P(1-P)) + 1% of the pairs of Σ P (pairs share vertices, so
  the draws are not independent; the 1% allows for that).
* The recall band rule makes P(t) >= min_recall = 0.95, so every one of the N pairs of Jaccard at
  least t is found with probability p_i >= 0.95 and the expected recall is at least 0.95. Its
  standard deviation is sqrt(Σ p_i(1-p_i)) / N <= sqrt(0.95 * 0.05 / N) (p(1-p) falls for p past
  1/2): the measured recall must be at least 0.95 - 4.5 sqrt(0.95 * 0.05 / N).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from datasketch import MinHash

from sparkgraph.community import (
    CommunityParams,
    LSHParams,
    MinHashParams,
    lsh_candidates,
    lsh_communities,
    minhash_signatures,
    neighbour_sets,
    optimal_bands,
    recall_bands,
    set_signatures,
)
from sparkgraph.community.index import CommunityIndex, build_community_index
from sparkgraph.community.minhash import signature_length
from sparkgraph.community.params import CommunityIndexParams, candidate_probability
from sparkgraph.datasets import load_graph, load_local, planted_partition
from sparkgraph.errors import MissingColumnError
from sparkgraph.graph import Graph
from sparkgraph.local.community import exact_jaccard, grow_community, similar_pairs
from sparkgraph.local.community import minhash_signatures as local_signatures
from sparkgraph.local.graph import LocalGraph
from sparkgraph.metrics import ari, nmi
from sparkgraph.udfs.minhash import band_keys, datasketch_hashfunc, permutations, signatures


def persisted(spark) -> set[int]:
    """Ids of the RDDs the JVM holds persisted (classic Spark; tests only)."""
    return set(spark.sparkContext._jsc.getPersistentRDDs().keySet())


def dense(frame: pd.DataFrame, n: int) -> np.ndarray:
    out = np.full((n, len(frame["signature"].iloc[0])), -1, dtype=np.int64)
    out[frame["id"].to_numpy()] = np.vstack(frame["signature"].to_numpy())
    assert (out >= 0).all(), "every vertex has a signature"
    return out


# ---------------------------------------------------------------------- the kernel
@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_signatures_equal_datasketch(scheme):
    """datasketch 2.0.0 MinHash(seed, num_perm, scheme, hashfunc=datasketch_hashfunc) row for row."""
    rng = np.random.default_rng(0)
    sets = [rng.choice(10**9, size=int(s), replace=False) for s in rng.integers(0, 300, size=40)] + [[], [7, 7, 7]]
    offsets = np.r_[0, np.cumsum([len(s) for s in sets])]
    elements = np.concatenate([np.asarray(s, dtype=np.int64) for s in sets])
    a, b = permutations(96, 42, scheme)
    ours = signatures(offsets, elements, a, b, scheme)
    for row, members in zip(ours, sets, strict=True):
        m = MinHash(num_perm=96, seed=42, hashfunc=datasketch_hashfunc, scheme=scheme)
        m.update_batch([int(x) for x in members])
        assert np.array_equal(row, m.hashvalues.astype(np.int64))


def test_signatures_do_not_depend_on_chunking(monkeypatch):
    import sparkgraph.udfs.minhash as kernel

    offsets, elements = np.array([0, 5000, 5001, 9000]), np.arange(9000)
    a, b = permutations(64, 3)
    whole = signatures(offsets, elements, a, b)
    monkeypatch.setattr(kernel, "CHUNK_CELLS", 64 * 7)  # 7 elements per chunk: sets cut across chunks
    assert np.array_equal(signatures(offsets, elements, a, b), whole)


def test_bands_are_chosen_as_datasketch_does():
    from datasketch.lsh import _optimal_param

    for threshold, num_perm in [(0.5, 128), (0.2, 128), (0.8, 64)]:
        assert optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert LSHParams(bands=20, rows=5).banding(128) == (20, 5)
    assert LSHParams(threshold=0.5, band_rule="datasketch").banding(128) == _optimal_param(0.5, 128, 0.5, 0.5)


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 128), (0.3, 64), (0.2, 128), (0.8, 64), (0.1, 64)])
def test_recall_rule_is_the_steepest_curve_reaching_min_recall(threshold, num_perm):
    bands, rows = LSHParams(threshold=threshold).banding(num_perm)
    assert (bands, rows) == recall_bands(threshold, num_perm, 0.95) and bands == num_perm // rows
    assert candidate_probability(threshold, bands, rows) >= 0.95
    assert all(candidate_probability(threshold, num_perm // r, r) < 0.95 for r in range(rows + 1, num_perm + 1))
    assert recall_bands(0.5, 128) == (42, 3)


# ---------------------------------------------------------------------- estimates (local twin)
def test_estimated_jaccard_within_the_minhash_bound():
    local = load_local("cora")
    params = MinHashParams(num_perm=128, neighbourhood="all", seed=5)
    sigs = local_signatures(local, params)
    jac = exact_jaccard(local, params).tocoo()
    keep = jac.row < jac.col
    u, v, exact = jac.row[keep], jac.col[keep], jac.data[keep]
    estimate = (sigs[u] == sigs[v]).mean(axis=1)
    sigma = np.sqrt(exact * (1 - exact) / 128)
    outside = np.abs(estimate - exact) > 4.5 * sigma + 1 / 128
    assert len(exact) > 10_000
    assert outside.mean() <= 1e-3, (outside.sum(), len(exact))
    # unbiased: the mean error over all pairs is far below one permutation's worth
    assert abs((estimate - exact).mean()) < 4.5 * np.sqrt((sigma**2).sum()) / len(exact) + 1e-3


# ---------------------------------------------------------------------- Spark against the twin
@pytest.fixture(scope="module")
def cora(spark):
    return load_graph(spark, "cora")


@pytest.fixture(scope="module")
def karate(spark):
    return load_graph(spark, "karate")


@pytest.mark.connect
def test_spark_signatures_equal_the_twin_and_datasketch(karate):
    graph = karate
    params = MinHashParams(num_perm=32, seed=9)
    ours = dense(minhash_signatures(graph, params).toPandas(), graph.n)
    local = load_local("karate")
    assert np.array_equal(ours, local_signatures(local, params))
    sets = neighbour_sets(graph, params).toPandas()
    for vid, members in zip(sets["id"], sets["members"], strict=True):
        m = MinHash(num_perm=32, seed=9, hashfunc=datasketch_hashfunc)
        m.update_batch([int(x) for x in members])
        assert np.array_equal(ours[vid], m.hashvalues.astype(np.int64))
    # the same signatures from sets given directly; the length travels in the column's metadata
    direct = set_signatures(neighbour_sets(graph, params), params)
    assert np.array_equal(dense(direct.toPandas(), graph.n), ours)
    assert signature_length(direct) == 32 == direct.schema["signature"].metadata["num_perm"]
    bare = direct.sparkSession.createDataFrame(direct.collect(), "id long, signature array<long>")
    assert not bare.schema["signature"].metadata
    assert signature_length(bare) == 32  # read from a row


@pytest.mark.connect
def test_set_signatures_of_any_sets_equal_datasketch(spark):
    """Sets that are not neighbourhoods: large and repeated members, one-element and empty sets."""
    rows = [(7, [3, 10**12, 5]), (8, [10**12, 3, 5, 5]), (9, [2**40 + 1]), (11, [])]
    sets = spark.createDataFrame(rows, "id long, members array<long>")
    got = {r["id"]: r["signature"] for r in set_signatures(sets, MinHashParams(num_perm=24, seed=5)).collect()}
    assert sorted(got) == [7, 8, 9, 11]
    for vid, members in rows:
        m = MinHash(num_perm=24, seed=5, hashfunc=datasketch_hashfunc)
        m.update_batch(members)
        assert got[vid] == m.hashvalues.astype(np.int64).tolist(), vid
    assert got[7] == got[8]


def test_signature_length_needs_a_signature_column(spark):
    with pytest.raises(MissingColumnError, match="signature"):
        signature_length(spark.range(3))


@pytest.mark.parametrize("neighbourhood", ["in", "out"])
def test_directed_neighbourhoods_match_the_twin(cora, neighbourhood):
    params = MinHashParams(num_perm=16, neighbourhood=neighbourhood, include_self=False)
    ours = dense(minhash_signatures(cora, params).toPandas(), cora.n)
    assert np.array_equal(ours, local_signatures(load_local("cora"), params))


def test_candidate_recall_follows_the_s_curve(cora):
    mp, lp = MinHashParams(num_perm=64, seed=2), LSHParams(threshold=0.3, exact_check=True)  # recall rule
    bands, rows = lp.banding(64)
    assert (bands, rows) == (32, 2)  # P(0.3) = 0.951
    before = persisted(cora.spark)
    sigs = minhash_signatures(cora, mp).cache()
    cands = lsh_candidates(sigs, lp, neighbour_sets(cora, mp))
    found = cands.pairs.toPandas()
    cands.unpersist()
    sigs.unpersist()
    assert persisted(cora.spark) <= before, "lsh_candidates leaves nothing cached once released"
    assert (found["u"] < found["v"]).all() and not found.duplicated(["u", "v"]).any()
    u, v, exact = similar_pairs(load_local("cora"), mp, threshold=0.3)
    truth = pd.DataFrame({"u": u, "v": v, "j": exact})
    merged = truth.merge(found, on=["u", "v"], how="left")
    hit = merged["jaccard"].notna().to_numpy()
    p = candidate_probability(truth["j"].to_numpy(), bands, rows)
    slack = 4.5 * np.sqrt((p * (1 - p)).sum()) + 0.01 * len(p)
    assert abs(hit.sum() - p.sum()) <= slack, (hit.sum(), p.sum(), slack)
    n = len(p)
    assert n > 1000
    assert hit.mean() >= 0.95 - 4.5 * np.sqrt(0.95 * 0.05 / n), (hit.mean(), n)
    # the exact re-check of the candidates equals the twin's Jaccard
    check = found.merge(truth, on=["u", "v"])
    assert np.allclose(check["exact"], check["j"])


def test_oversized_buckets_are_split_and_counted(karate):
    from sparkgraph.community.lsh import band_table

    graph, params = karate, MinHashParams(num_perm=16, seed=1)
    keys = band_keys(local_signatures(load_local("karate"), params), 16, 1)  # the twin's buckets, uncapped
    _, sizes = np.unique(np.c_[np.tile(np.arange(16), (graph.n, 1)).ravel(), keys.ravel()], axis=0, return_counts=True)
    before = persisted(graph.spark)
    table, split, dropped = band_table(minhash_signatures(graph, params), 16, 1, 3)
    assert split == (sizes > 3).sum() > 0
    big = sizes[sizes > 3]
    parts = np.ceil(big / 3).astype(int)
    dealt = [np.bincount(np.arange(s) % p) for s, p in zip(big, parts, strict=True)]  # round-robin sizes
    assert dropped == int((big * (big - 1) / 2).sum() - sum((d * (d - 1) / 2).sum() for d in dealt))
    assert table.groupBy("band", "key").count().agg({"count": "max"}).first()[0] <= 3
    table.unpersist()  # the caller owns the returned table; nothing else stays cached
    assert persisted(graph.spark) <= before


# ---------------------------------------------------------------------- communities
def planted(spark, mixing: float, seed: int = 5, n: int = 300, blocks: int = 3, degree: float = 60.0):
    size = n // blocks
    p_in, p_out = (1 - mixing) * degree / (size - 1), mixing * degree / (n - size)
    edges, labels = planted_partition(spark, n, blocks, p_in, p_out, seed=seed)
    graph = Graph.from_edges(edges, labels.withColumnRenamed("node", "id"), directed=False)
    return graph, labels.toPandas()


def scores(result, labels: pd.DataFrame) -> tuple[float, float]:
    found = result.communities.toPandas().merge(labels, left_on="id", right_on="node")
    assert len(found) == len(labels)
    return nmi(found["label"], found["community"]), ari(found["label"], found["community"])


def test_label_propagation_recovers_a_planted_partition(spark):
    graph, labels = planted(spark, mixing=0.3)
    params = CommunityParams(minhash=MinHashParams(num_perm=128), lsh=LSHParams(threshold=0.1), rounds=5)
    result = lsh_communities(graph, params)
    assert (result.bands, result.rows, result.threshold) == (*recall_bands(0.1, 128), 0.1)
    got_nmi, got_ari = scores(result, labels)
    assert got_nmi >= 0.9 and got_ari >= 0.9, (got_nmi, got_ari, result.sizes.limit(5).toPandas())
    result.unpersist()


def test_components_recover_a_planted_partition_whatever_the_partitioning(spark):
    # components join on a single similar pair: a denser graph (within-block Jaccard about 0.33, across
    # at most 0.14 exactly) and a threshold 4.5σ above the largest cross pair at 128 permutations
    graph, labels = planted(spark, mixing=0.1, seed=6, degree=90.0)
    params = CommunityParams(minhash=MinHashParams(num_perm=128), lsh=LSHParams(threshold=0.3), method="components")
    result = lsh_communities(graph, params)
    got_nmi, got_ari = scores(result, labels)
    assert got_nmi >= 0.9 and got_ari >= 0.9, (got_nmi, got_ari, result.sizes.limit(5).toPandas())
    assert result.sizes.agg({"size": "sum"}).first()[0] == graph.n
    shuffled = Graph(graph.edges.repartition(7, "dst"), graph.vertices.repartition(3), graph.n, graph.m,
                     graph.num_arcs, graph.options, graph.id_type)
    again = lsh_communities(shuffled, params)
    assert again.similar_pairs == result.similar_pairs
    first = result.communities.toPandas().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, again.communities.toPandas().sort_values("id").reset_index(drop=True))
    result.unpersist()
    again.unpersist()


def test_partition_scores_on_spark_equal_the_numpy_metrics(spark):
    from sparkgraph.community.report import partition_scores

    rng = np.random.default_rng(3)
    truth, found = rng.integers(0, 4, 500), rng.integers(0, 9, 500)
    found[:300] = truth[:300] * 10  # partly agreeing
    as_frame = lambda col, values: spark.createDataFrame(  # noqa: E731
        pd.DataFrame({"id": np.arange(500), col: values}))
    got = partition_scores(as_frame("community", found), as_frame("label", truth))
    assert got["vertices"] == 500
    assert got["nmi"] == pytest.approx(nmi(truth, found), abs=1e-12)
    assert got["ari"] == pytest.approx(ari(truth, found), abs=1e-12)


@pytest.mark.connect
def test_label_propagation_splits_weakly_joined_cliques(spark):
    from sparkgraph.community.components import label_propagation

    cliques = [(a, b, 1.0) for group in (range(0, 4), range(4, 8)) for a in group for b in group if a < b]
    edges = spark.createDataFrame(cliques + [(3, 4, 0.1)], "u long, v long, weight double")
    labels = label_propagation(edges, spark.range(8).select("id"), rounds=3)
    assert dict(labels.toPandas().itertuples(index=False)) == {**dict.fromkeys(range(4), 0), **dict.fromkeys(range(4, 8), 4)}


@pytest.mark.connect
def test_components_of_a_path_take_few_rounds(spark):
    from sparkgraph.community.components import connected_components

    n = 64
    edges = spark.createDataFrame([(i, i + 1) for i in range(n - 1)] + [(100, 101)], "u long, v long")
    vertices = spark.createDataFrame([(i,) for i in range(n)] + [(100,), (101,), (200,)], "id long")
    labels, rounds = connected_components(edges, vertices)
    got = dict(labels.toPandas().itertuples(index=False))
    assert all(got[i] == 0 for i in range(n)) and got[101] == 100 and got[200] == 200
    assert rounds <= 2 * int(np.log2(n)) + 2


# ---------------------------------------------------------------------- seed queries
@pytest.fixture(scope="module")
def planted_index(spark, tmp_path_factory):
    graph, labels = planted(spark, mixing=0.2, seed=8)
    path = str(tmp_path_factory.mktemp("community") / "index")
    params = CommunityIndexParams(minhash=MinHashParams(num_perm=64, seed=4), lsh=LSHParams(threshold=0.1))
    facts = build_community_index(graph, path, params)
    local = LocalGraph.from_graph(graph)
    return path, params, facts, labels, local


def test_query_recovers_a_planted_community(planted_index):
    path, params, facts, labels, local = planted_index
    index = CommunityIndex.load(path, params)
    assert (index.bands, index.rows) == (facts["bands"], facts["rows"]) == recall_bands(0.1, 64)
    truth = set(labels.loc[labels["label"] == 1, "node"])
    seeds = sorted(truth)[:3]
    found = index.query(seeds, size=len(truth))
    assert list(found["id"][:3]) == seeds and (found["step"][:3] == 0).all() and len(found) == len(truth)
    recall = len(set(found["id"]) & truth) / len(truth)
    assert recall >= 0.9, recall
    exact = grow_community(local, params.minhash, seeds, size=len(truth))
    assert len(set(exact["id"]) & truth) / len(truth) >= 0.9
    jaccard = exact_jaccard(local, params.minhash)  # many queries share it
    assert grow_community(local, params.minhash, seeds, size=len(truth), jaccard=jaccard).equals(exact)
    assert index.query(seeds, size=len(truth)).equals(found)  # deterministic
    everyone = len(index.candidates(index.ids_of(seeds)))
    assert index.query(seeds, size=len(truth), max_candidates=everyone).equals(found)
    assert len(truth) * 20 >= everyone and index.query(seeds, size=len(truth), max_candidates=None).equals(found)
    capped = index.query(seeds, size=len(truth), max_candidates=2 * len(truth))
    assert len(set(capped["id"]) & truth) / len(truth) >= 0.9
    assert found["score"].between(0, 1).all()


@pytest.mark.connect
def test_index_loads_through_spark_as_through_pyarrow(spark, planted_index, monkeypatch):
    """A path the client cannot open (a remote cluster, Spark Connect) is read through Spark."""
    import sparkgraph.community.index as index_module

    path, params, _, _, _ = planted_index
    here = CommunityIndex.load(path, params, spark=spark)
    monkeypatch.setattr(index_module, "client_reads_directly", lambda spark, uri: False)
    remote = CommunityIndex.load(path, params, spark=spark)
    for name in ("names", "signatures", "vertex_keys", "keys", "key_ids"):
        assert np.array_equal(getattr(remote, name), getattr(here, name)), name
    assert remote.query([1, 2, 3], size=20).equals(here.query([1, 2, 3], size=20))
    with pytest.raises(Exception, match="not a saved community index"):
        CommunityIndex.load(path + "-missing", spark=spark)


def test_index_refuses_other_params_and_bad_seeds(planted_index):
    from sparkgraph.errors import ParameterError, UnknownVertexError

    path, params, _, _, _ = planted_index
    with pytest.raises(ParameterError, match="was built with"):
        CommunityIndex.load(path, CommunityIndexParams(minhash=MinHashParams(num_perm=32)))
    index = CommunityIndex.load(path)
    with pytest.raises(UnknownVertexError, match=r"\[9999\]"):
        index.query([1, 9999], size=5)
    with pytest.raises(ParameterError, match="seed ids given twice: \\[1\\]"):
        index.query([1, 1], size=5)
    with pytest.raises(ParameterError, match="size=1 must be"):
        index.query([1, 2], size=1)
