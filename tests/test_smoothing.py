"""PPRParams.smooth: one step of the PPR equation applied to the Monte Carlo estimate.

Each tolerance is the exact reference's own error: exact PPR is the step's fixed point, so
smoothing it changes nothing; smoothing every entry maps the error e to (1-α)·e·P̃ with P̃
row-stochastic under the ``source`` policy, so a row's L1 error shrinks by (1-α) at least, whatever
the walks drew; Spark's tasks and the local twin run the same kernel, so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from ppr_bounds import dense_rows

from sparkgraph.datasets import load_graph, load_local
from sparkgraph.local.graph import LocalGraph
from sparkgraph.local.ppr import exact_ppr, monte_carlo_ppr
from sparkgraph.ppr import PPRParams, fully_ppr
from sparkgraph.udfs.push import transition_csr
from sparkgraph.udfs.smoothing import in_transition, smooth_candidates, smoothed_all, smoothed_rows
from sparkgraph.udfs.walks import walk_graph, walk_scores

ALPHA = 0.15


@pytest.fixture(scope="module")
def cora(spark):
    return load_graph(spark, "cora"), load_local("cora")


def _digraph_with_sinks(n: int = 300, seed: int = 0) -> LocalGraph:
    """A random directed graph in which 15 vertices have no out-arcs."""
    rng = np.random.default_rng(seed)
    a = (rng.random((n, n)) < 0.02).astype(float)
    np.fill_diagonal(a, 0)
    a[rng.choice(n, 15, replace=False)] = 0
    adjacency = sp.csr_matrix(a)
    adjacency.sort_indices()
    return LocalGraph(adjacency, np.arange(n), True, False)


@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_exact_ppr_is_the_fixed_point_of_the_smoothing_step(dangling):
    g = _digraph_with_sinks()
    a, sources = g.adjacency, np.arange(0, g.n, 7)
    tol = 1e-13
    exact = exact_ppr(g, sources, ALPHA, dangling=dangling, tol=tol)
    # the reference errs by tol in L1: one step moves it by at most (1 + (1-α)/α)·tol (the stop policy's
    # sinks take their arrivals, 1/α of a visit's credit)
    bound = (1 + (1 - ALPHA) / ALPHA) * tol
    transition = transition_csr(a.indptr, a.indices, None)
    sink = np.diff(a.indptr) == 0
    assert sink.sum() >= 15 and sink[sources].any()  # walks start at sinks too
    row, col = np.nonzero(exact > 0)
    for scores in (exact, sp.csr_matrix(exact)):  # the dense layout's arrays and the sparse layout's CSR
        again = smoothed_rows(scores, row, col, sources, in_transition(transition), sink, ALPHA, dangling)
        assert np.abs(again - exact[row, col]).max() < bound
        whole = smoothed_all(scores, sources, transition, sink, ALPHA, dangling)
        assert np.abs((whole.toarray() if sp.issparse(whole) else whole) - exact).max() < bound


def test_smoothing_every_entry_shrinks_each_rows_error_by_at_least_one_minus_alpha():
    g = _digraph_with_sinks(seed=1)
    a, sources = g.adjacency, np.arange(0, g.n, 5)
    exact = exact_ppr(g, sources, ALPHA, tol=1e-13)
    walked = walk_graph(a.indptr, a.indices, None, push=False, smooth=True)

    def estimate(smooth):
        row, col, score = walk_scores(sources, walked, 200, ALPHA, "visits", "source", 100, 4, 0, None, smooth)
        assert np.all(score > 0)
        return sp.csr_matrix((score, (row, col)), shape=(len(sources), g.n)).toarray()

    raw, smoothed = estimate(None), estimate(0)
    raw_error, smoothed_error = np.abs(raw - exact).sum(axis=1), np.abs(smoothed - exact).sum(axis=1)
    # smoothed - π = (1-α)(raw - π)P̃ for any raw estimate; the reference errs by 1e-13 on each side
    assert np.all(smoothed_error <= (1 - ALPHA) * raw_error + 1e-12)


def test_a_csr_row_and_a_dense_row_give_the_same_smoothed_numbers():
    g = _digraph_with_sinks(seed=2)
    a, sources = g.adjacency, np.arange(3, g.n, 11)
    walked = walk_graph(a.indptr, a.indices, None, push=True, smooth=True)
    row, col, score = walk_scores(sources, walked, 100, ALPHA, "visits", "source", 100, 2, 0)
    dense = sp.csr_matrix((score, (row, col)), shape=(len(sources), g.n)).toarray()
    rows, cols = np.nonzero(dense)
    sink = np.diff(a.indptr) == 0
    from_dense = smoothed_rows(dense, rows, cols, sources, walked.in_arcs, sink, ALPHA, "source")
    from_csr = smoothed_rows(sp.csr_matrix(dense), rows, cols, sources, walked.in_arcs, sink, ALPHA, "source")
    assert np.array_equal(from_dense, from_csr)


@pytest.mark.connect
@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_spark_smoothing_gives_the_twins_numbers(cora, dangling):
    """Cora, whose 486 papers that cite nothing are sinks, under both policies."""
    graph, local = cora
    sources = local.names[::90]
    params = PPRParams(walks_per_source=300, top_k=15, seed=3, smooth=True, dangling=dangling)
    assert smooth_candidates(params.top_k) == 35
    frame = fully_ppr(graph, params, sources=[int(s) for s in sources]).toPandas()
    assert frame.groupby("source").size().max() == 15
    spark_rows = dense_rows(frame, local.names, sources, local.n, local.ids_of)
    twin = monte_carlo_ppr(local, local.ids_of(sources), params).toarray()  # the 35 re-estimated entries
    kept = np.argsort(-twin, axis=1, kind="stable")[:, :15]
    top = np.zeros_like(twin)
    np.put_along_axis(top, kept, np.take_along_axis(twin, kept, axis=1), axis=1)
    assert np.array_equal(spark_rows, top)


@pytest.mark.parametrize("dangling", ["source", "stop"])
def test_both_layouts_and_any_batch_give_a_weighted_sources_smoothed_numbers(monkeypatch, dangling):
    """Without push the two layouts count the same walks, so the smoothed entries agree to the bit,
    and a source alone gets what it gets in its batch (weights spanning 1e-3 .. 1e3)."""
    from sparkgraph.udfs import push as push_module

    g = _digraph_with_sinks(seed=3)
    a = g.adjacency.copy()
    a.data = 10.0 ** np.random.default_rng(3).uniform(-3, 3, a.nnz)
    walked = walk_graph(a.indptr, a.indices, a.data, push=False, smooth=True)
    sources = np.arange(2, g.n, 9)

    def run(batch):
        row, col, score = walk_scores(batch, walked, 150, ALPHA, "visits", dangling, 100, 6, 0, 10, 30)
        return sp.csr_matrix((score, (row, col)), shape=(len(batch), g.n)).toarray()

    dense = run(sources)
    assert np.array_equal(run(sources[4:5])[0], dense[4])
    assert push_module.dense_layout(g.n)
    monkeypatch.setattr(push_module, "DENSE_MAX_VERTICES", 10)  # the sparse layout on the same graph
    assert not push_module.dense_layout(g.n)
    assert np.array_equal(run(sources), dense)
