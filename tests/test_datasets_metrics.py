"""Data set registry, seeded generators with ground truth, and metrics against their peers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from pyspark.sql import functions as F
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score

from sparkgraph import metrics
from sparkgraph.datasets import (
    chung_lu,
    degree_corrected_partition,
    load_graph,
    load_labels,
    load_local,
    planted_partition,
)
from sparkgraph.errors import DatasetNotFoundError
from sparkgraph.graph import Graph


def test_registry(spark):
    assert load_graph(spark, "cora").n == 2708
    assert load_labels("karate").shape == (34, 2)
    assert load_local("lesmis").m == 254
    with pytest.raises(DatasetNotFoundError, match="unknown data set 'kartae'"):
        load_local("kartae")


@pytest.mark.connect
def test_planted_partition_matches_its_model(spark):
    n, blocks, p_in, p_out = 2000, 4, 0.02, 0.001
    edges, labels = planted_partition(spark, n, blocks, p_in, p_out, seed=3, slices=4)
    pdf = edges.toPandas()
    again = planted_partition(spark, n, blocks, p_in, p_out, seed=3, slices=4)[0].toPandas()
    assert pdf.equals(again)  # same seed, same graph
    lab = labels.toPandas().set_index("node")["label"].to_numpy()
    assert (pdf["src"] < pdf["dst"]).all() and not pdf.duplicated().any()
    same = lab[pdf["src"]] == lab[pdf["dst"]]
    size = n // blocks
    pairs_in, pairs_out = blocks * size * (size - 1) / 2, n * (n - 1) / 2 - blocks * size * (size - 1) / 2
    for count, pairs, p in ((same.sum(), pairs_in, p_in), ((~same).sum(), pairs_out, p_out)):
        # binomial count: within 5 standard deviations of its mean (collapsing repeats removes O(p^2))
        mean, sd = pairs * p, np.sqrt(pairs * p * (1 - p))
        assert abs(count - mean) < 5 * sd + pairs * p * p
    g = Graph.from_edges(edges, labels.withColumnRenamed("node", "id"), directed=False)
    assert g.n == n


def test_chung_lu_degrees_follow_expected_degrees(spark):
    from sparkgraph.udfs.generators import chung_lu_weights

    n, mean = 5000, 8.0
    pdf = chung_lu(spark, n, exponent=2.5, mean_degree=mean, seed=1, slices=4).toPandas()
    deg = np.bincount(np.concatenate([pdf["src"], pdf["dst"]]), minlength=n)
    w = chung_lu_weights(n, 2.5, mean)
    assert abs(deg.mean() - mean) / mean < 0.1  # self-loops and repeats are dropped: slightly below
    assert np.corrcoef(deg, w)[0, 1] > 0.9
    assert deg[:10].mean() > 5 * mean  # a heavy tail at the low ids


@pytest.mark.connect
def test_degree_corrected_partition_has_hubs_inside_its_communities(spark):
    from sparkgraph.udfs.generators import chung_lu_weights

    n, blocks, mixing, mean = 6000, 6, 0.2, 10.0
    edges, labels = degree_corrected_partition(spark, n, blocks, mixing, 2.5, mean, seed=2, slices=4)
    pdf = edges.toPandas().sort_values(["src", "dst"], ignore_index=True)
    again = degree_corrected_partition(spark, n, blocks, mixing, 2.5, mean, seed=2, slices=4)[0].toPandas()
    assert pdf.equals(again.sort_values(["src", "dst"], ignore_index=True))  # same seed, same graph
    assert (pdf["src"] < pdf["dst"]).all() and not pdf.duplicated().any()
    lab = labels.toPandas().set_index("node")["label"].to_numpy()
    # a draw leaves its community with probability mixing * (1 - 1/blocks): a binomial share over the
    # draws, within 5 standard deviations (repeats collapse mostly inside communities: slack of 0.02)
    cross = float(np.mean(lab[pdf["src"]] != lab[pdf["dst"]]))
    expected = mixing * (1 - 1 / blocks)
    assert abs(cross - expected) < 5 * np.sqrt(expected * (1 - expected) / len(pdf)) + 0.02, cross
    deg = np.bincount(np.concatenate([pdf["src"], pdf["dst"]]), minlength=n)
    assert np.corrcoef(deg, chung_lu_weights(n, 2.5, mean))[0, 1] > 0.9
    for b in range(blocks):  # every community holds hubs: its largest degree is far above the mean
        assert deg[b::blocks].max() > 5 * mean


def test_ranking_metrics():
    exact = {1: 0.5, 2: 0.3, 3: 0.1, 4: 0.05}
    assert metrics.precision_at_k({1: 0.4, 2: 0.35, 4: 0.2}, exact, k=2) == 1.0
    assert metrics.precision_at_k({4: 0.9, 1: 0.1}, exact, k=2) == 0.5
    assert metrics.ndcg_at_k(exact, exact, k=3) == pytest.approx(1.0)
    assert metrics.ndcg_at_k({4: 1, 3: 0.5, 2: 0.1}, exact, k=3) < 0.6
    assert metrics.l1_error({1: 0.5, 5: 0.1}, exact) == pytest.approx(0.55)


def test_community_metrics_against_peers():
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 300), rng.integers(0, 5, 300)
    pred[:200] = truth[:200]
    assert metrics.nmi(truth, pred) == pytest.approx(normalized_mutual_info_score(truth, pred))
    assert metrics.ari(truth, pred) == pytest.approx(adjusted_rand_score(truth, pred))
    assert metrics.f1_communities([{1, 2, 3}], [{1, 2, 3}]) == 1.0
    karate = nx.karate_club_graph()
    labels = np.array([0 if karate.nodes[v]["club"] == "Mr. Hi" else 1 for v in karate])
    adj = sp.csr_matrix(nx.to_scipy_sparse_array(karate, weight="weight"))
    expected = nx.community.modularity(karate, [set(np.flatnonzero(labels == c)) for c in (0, 1)], weight="weight")
    assert metrics.modularity(adj, labels) == pytest.approx(expected)


def test_embedding_metrics_against_peers():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(50, 4))
    pos, neg = rng.integers(0, 50, (40, 2)), rng.integers(0, 50, (60, 2))
    scores = np.concatenate([np.einsum("ij,ij->i", emb[pos[:, 0]], emb[pos[:, 1]]),
                             np.einsum("ij,ij->i", emb[neg[:, 0]], emb[neg[:, 1]])])
    expected = roc_auc_score(np.r_[np.ones(40), np.zeros(60)], scores)
    assert metrics.link_prediction_auc(emb, pos, neg) == pytest.approx(expected)
    labels = (emb[:, 0] > 0).astype(int)
    micro, macro = metrics.node_classification_f1(emb, labels, train_fraction=0.5)
    assert micro > 0.8 and macro > 0.8


@pytest.mark.connect
def test_modularity_of_spark_labels_roundtrip(spark):
    """Labels from a generated graph score high modularity on their own graph (sanity of both)."""
    edges, labels = planted_partition(spark, 400, 4, 0.1, 0.002, seed=5, slices=2)
    pdf = edges.toPandas()
    adj = sp.coo_matrix((np.ones(len(pdf)), (pdf["src"], pdf["dst"])), shape=(400, 400))
    adj = (adj + adj.T).tocsr()
    lab = labels.orderBy("node").select(F.col("label")).toPandas()["label"].to_numpy()
    assert metrics.modularity(adj, lab) > 0.6
    assert metrics.modularity(adj, np.random.default_rng(0).permutation(lab)) < 0.05
