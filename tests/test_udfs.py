"""The executor kernels, tested directly with numpy (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sparkgraph.udfs.alias import alias_table
from sparkgraph.udfs.walks import csr_arrays, next_hops, push_flow, top_k_per_group, transition_csr


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
    hops = next_hops(np.zeros(draws, dtype=np.int64), indptr, indices, csr_arrays(indptr, weights),
                     np.random.default_rng(0))
    freq = np.bincount(hops, minlength=4)[1:] / draws
    # binomial standard error sqrt(p(1-p)/N) < 0.0012; 5 of them
    assert np.allclose(freq, [0.1, 0.3, 0.6], atol=0.006)
    assert set(next_hops(np.ones(100, dtype=np.int64), indptr, indices, None, np.random.default_rng(1))) == {0}


def test_top_k_per_group_keeps_the_highest_and_breaks_ties_by_item():
    group = np.array([0, 0, 0, 1, 1, 0])
    item = np.array([5, 3, 9, 1, 2, 4])
    score = np.array([0.1, 0.5, 0.5, 0.2, 0.3, 0.05])
    g, i, s = top_k_per_group(group, item, score, 2)
    assert list(zip(g.tolist(), i.tolist(), s.tolist(), strict=True)) == [(0, 3, 0.5), (0, 9, 0.5), (1, 2, 0.3), (1, 1, 0.2)]


@pytest.mark.parametrize("dangling", ["source", "stop", "discard"])
def test_push_flow_conserves_mass(dangling):
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 30)) < 0.1) * rng.random((30, 30))
    dense[:5] = 0  # five vertices without out-edges
    adj = sp.csr_matrix(dense)
    transition = transition_csr(adj.indptr.astype(np.int64), adj.indices.astype(np.int64),
                                csr_arrays(adj.indptr, adj.data))
    rows = np.asarray(transition.sum(axis=1)).ravel()
    assert np.allclose(rows[5:][np.diff(adj.indptr)[5:] > 0], 1.0) and np.all(rows[:5] == 0)
    sources = np.array([0, 7, 12])
    kept, residual = push_flow(sources, transition, 4, 0.15, dangling)
    total = np.asarray(kept.sum(axis=1)).ravel() + np.asarray(residual.sum(axis=1)).ravel()
    assert np.allclose(total, 1.0)
    assert kept.shape == (3, 31) and residual.shape == (3, 30)
    if dangling != "discard":
        assert kept[:, 30].nnz == 0
