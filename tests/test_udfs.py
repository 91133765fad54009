"""The executor kernels, tested directly with numpy (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sparkgraph.udfs import push
from sparkgraph.udfs.alias import alias_table
from sparkgraph.udfs.push import push_flow, transition_csr
from sparkgraph.udfs.walks import (
    next_hops,
    start_walkers,
    top_k_per_group,
    walk_graph,
    walk_scores,
)


def test_alias_table_reproduces_the_distribution_exactly():
    weights = np.array([1.0, 3.0, 0.5, 2.5, 3.0, 0.01])
    prob, alias = alias_table(weights)
    n = len(weights)
    implied = np.zeros(n)
    for i in range(n):
        implied[i] += prob[i] / n
        implied[alias[i]] += (1 - prob[i]) / n
    assert np.allclose(implied, weights / weights.sum())


def test_weighted_next_hops_follow_the_weights():
    # vertex 0 -> {1: 1, 2: 3, 3: 6}; vertex 1 -> {0: 1}
    indptr = np.array([0, 3, 4, 4, 4])
    indices = np.array([1, 2, 3, 0])
    weights = np.array([1.0, 3.0, 6.0, 1.0])
    draws = 200_000
    uniform = np.random.default_rng(0).random(draws)
    hops = next_hops(np.zeros(draws, dtype=np.int64), uniform, walk_graph(indptr, indices, weights))
    freq = np.bincount(hops, minlength=4)[1:] / draws
    # binomial standard error sqrt(p(1-p)/N) < 0.0012; 5 of them
    assert np.allclose(freq, [0.1, 0.3, 0.6], atol=0.006)
    assert set(next_hops(np.ones(100, dtype=np.int64), uniform[:100], walk_graph(indptr, indices))) == {0}


def test_top_k_per_group_keeps_the_highest_and_breaks_ties_by_item():
    group = np.array([0, 0, 0, 1, 1, 0])
    item = np.array([5, 3, 9, 1, 2, 4])
    score = np.array([0.1, 0.5, 0.5, 0.2, 0.3, 0.05])
    g, i, s = top_k_per_group(group, item, score, 2)
    assert list(zip(g.tolist(), i.tolist(), s.tolist(), strict=True)) == [(0, 3, 0.5), (0, 9, 0.5), (1, 2, 0.3), (1, 1, 0.2)]


def _small_graph() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """A weighted 30-vertex digraph whose first five vertices have no out-edges, and its transitions."""
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 30)) < 0.1) * rng.random((30, 30))
    dense[:5] = 0
    adj = sp.csr_matrix(dense)
    return adj, transition_csr(adj.indptr.astype(np.int64), adj.indices.astype(np.int64), adj.data)


def _as_dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("dangling", ["source", "stop", "discard"])
def test_push_flow_conserves_mass(dangling, layout, monkeypatch):
    if layout == "sparse":
        monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 0)
    adj, transition = _small_graph()
    rows = np.asarray(transition.sum(axis=1)).ravel()
    assert np.allclose(rows[5:][np.diff(adj.indptr)[5:] > 0], 1.0) and np.all(rows[:5] == 0)
    sources = np.array([0, 7, 12])
    kept, residual = push_flow(sources, transition, 4, 0.15, dangling)
    if layout == "dense":  # finishing in place moves flow from residual to kept, none lost
        placed = push_flow(sources, transition, 2, 0.15, dangling, extra_rounds=6, walks_to_beat=4)
        assert np.allclose(placed[0].sum(axis=1) + placed[1].sum(axis=1), 1.0)
    assert sp.issparse(kept) == (layout == "sparse")
    kept, residual = _as_dense(kept), _as_dense(residual)
    assert np.allclose(kept.sum(axis=1) + residual.sum(axis=1), 1.0)
    assert kept.shape == (3, 31) and residual.shape == (3, 30)
    if dangling != "discard":
        assert not kept[:, 30].any()


@pytest.mark.parametrize("dangling", ["source", "stop", "discard"])
def test_dense_and_sparse_layouts_give_the_same_estimates(dangling, monkeypatch):
    """Same seed, same walks: the dense (float32 push, bincount tallies, partition top-k) and the
    sparse (float64 push, sorted tallies, lexsort top-k) paths agree to float32 rounding."""
    adj, _ = _small_graph()
    sources = np.array([0, 7, 12, 20])
    args = (sources, walk_graph(adj.indptr, adj.indices, adj.data), 500, 0.15, "visits", dangling, 100, 9)
    results = {}
    for layout, limit in (("dense", push.DENSE_FLOW_ENTRIES), ("sparse", 0)):
        monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", limit)
        for k in (None, 5):
            owner, target, score = walk_scores(*args, push=3, top_k=k)
            results[layout, k] = sp.csr_matrix((score, (owner, target)), shape=(4, 31)).toarray()
    for k in (None, 5):
        assert np.allclose(results["dense", k], results["sparse", k], atol=1e-6)
    full, top = results["dense", None], results["dense", 5]
    # a source's total is α · (residual / ω) · (visits of its ω walks), each walk's visits geometric with
    # variance (1-α)/α², so its standard deviation is at most sqrt((1-α)/ω); 4 of them
    assert np.allclose(full.sum(axis=1), 1.0, atol=4 * np.sqrt(0.85 / 500))
    assert ((top[:, :30] > 0).sum(axis=1) == np.minimum(5, (full[:, :30] > 0).sum(axis=1))).all()
    for row in range(4):  # the kept five are the five highest, and the jump share stays
        assert top[row, :30][top[row, :30] > 0].min() >= np.sort(full[row, :30])[-5]
    assert np.array_equal(top[:, 30], full[:, 30])


@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_a_batch_without_walkers(layout, monkeypatch):
    """A source without out-edges under discard: the push settles everything, no walker starts."""
    if layout == "sparse":
        monkeypatch.setattr(push, "DENSE_FLOW_ENTRIES", 0)
    adj, _ = _small_graph()
    owner, target, score = walk_scores(np.array([0]), walk_graph(adj.indptr, adj.indices, adj.data), 100, 0.15,
                                       "visits", "discard", 100, 0, push=2, top_k=5)
    assert sorted(zip(target.tolist(), score.tolist(), strict=True)) == [(0, pytest.approx(0.15)), (30, pytest.approx(0.85))]


@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_walkers_start_by_systematic_sampling(layout):
    """Systematic sampling gives each residual entry of share p either floor(ωp) or ceil(ωp) walkers
    (exactly, up to rounding at a boundary), and every walker carries its row's mass / ω."""
    rng = np.random.default_rng(4)
    residual = ((rng.random((64, 300)) < 0.3) * rng.random((64, 300)) * 1e-2).astype(np.float32)
    residual[5] = 0  # a row without residual starts no walker
    walks = 1000
    start = residual if layout == "dense" else sp.csr_matrix(residual)
    owner, position, scale = start_walkers(start, walks, np.random.default_rng(1).random(64))
    counts = np.zeros(residual.shape)
    np.add.at(counts, (owner, position), 1)
    mass = residual.sum(axis=1, dtype=np.float64)
    expected = walks * residual / np.where(mass > 0, mass, 1)[:, None]
    assert np.all(counts >= np.floor(expected) - 1) and np.all(counts <= np.ceil(expected) + 1)
    assert np.all(counts[residual == 0] == 0) and counts[5].sum() == 0
    assert np.allclose(scale, mass / walks)


@pytest.mark.parametrize("order", ["C", "F"])
def test_row_sums_are_running_sums_whatever_the_batch(order):
    """push.row_sums adds each row's terms one after another in float64, so a row's sum is the same alone
    or in any batch (numpy's own sum of a lone row groups the terms pairwise: another rounding)."""
    rng = np.random.default_rng(3)
    rows = np.asarray(rng.random((64, 10_000)).astype(np.float32) ** 4, order=order)
    running = np.array([np.cumsum(row, dtype=np.float64)[-1] for row in rows])
    assert np.array_equal(push.row_sums(rows), running)
    for lo, size in ((0, 1), (5, 2), (9, 7), (20, 44)):
        assert np.array_equal(push.row_sums(np.asarray(rows[lo: lo + size], order=order)), running[lo: lo + size])


def test_finishing_in_place_refuses_what_it_cannot_bound():
    """Pruned flow has no in-place bound, a threshold belongs to the sparse layout, and a trend needs two rounds."""
    _, transition = _small_graph()
    with pytest.raises(ValueError, match="prune"):
        push_flow(np.array([7]), transition, 4, 0.15, "source", prune=1e-4, walks_to_beat=100)
    with pytest.raises(ValueError, match="not both"):
        push.PushPlan(8, threshold=1e-4, walks_to_beat=100)
    with pytest.raises(ValueError, match="rounds >= 2"):
        push.PushPlan(1, extra_rounds=3, walks_to_beat=100)
