"""The k-medoids executor kernels (sparkgraph.udfs.kmedoids), tested with numpy only (no Spark).

FasterPAM is checked field by field against the ``kmedoids`` package (the Rust reference, run
sequentially with ``n_cpu=1``) from the same initial medoids.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from sparkgraph.errors import InputError, ParameterError
from sparkgraph.udfs.kmedoids import (
    METRICS,
    PamResult,
    alternating,
    assign,
    dissimilarity_matrix,
    fasterpam,
    init_medoids,
    pairwise,
    pam_loss,
)


def blobs(n: int, centers: int, dim: int, seed: int, spread: float = 1.0) -> np.ndarray:
    """n points around ``centers`` random centres in [-10, 10]^dim (seeded)."""
    rng = np.random.default_rng(seed)
    middle = rng.uniform(-10, 10, (centers, dim))
    return middle[rng.integers(0, centers, n)] + spread * rng.standard_normal((n, dim))


def assert_same_as_rust(diss: np.ndarray, start: np.ndarray, max_iter: int = 100) -> PamResult:
    kmedoids = pytest.importorskip("kmedoids")
    ours = fasterpam(diss, start, max_iter=max_iter)
    theirs = kmedoids.fasterpam(diss, start.copy(), max_iter=max_iter, n_cpu=1)
    assert ours.loss == theirs.loss  # to the last bit: the same sums in the same order
    assert ours.medoids.tolist() == theirs.medoids.astype(np.int64).tolist()
    assert ours.labels.tolist() == theirs.labels.astype(np.int64).tolist()
    assert (ours.n_iter, ours.n_swaps) == (theirs.n_iter, theirs.n_swap)
    return ours


# ---- FasterPAM against the kmedoids package -------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_fasterpam_equals_the_rust_fasterpam_from_the_same_start(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(200, 500)), int(rng.integers(3, 21))
    points = blobs(n, centers=int(rng.integers(2, 12)), dim=int(rng.integers(2, 9)), seed=seed)
    diss = dissimilarity_matrix(points, "euclidean")
    start = rng.choice(n, k, replace=False)
    result = assert_same_as_rust(diss, start)
    assert result.n_swaps > 0  # the case exercises swaps, not only the initial assignment
    assert_same_as_rust(diss, start, max_iter=1)


@pytest.mark.parametrize("seed", range(4))
def test_fasterpam_equals_the_rust_fasterpam_on_a_matrix_with_ties(seed):
    # small integer distances: many points equally near two medoids, many swaps of equal gain
    rng = np.random.default_rng(100 + seed)
    n, k = 300, int(rng.integers(3, 15))
    diss = np.round(dissimilarity_matrix(rng.uniform(0, 4, (n, 3)), "euclidean"))
    start = rng.choice(n, k, replace=False)
    assert len(np.unique(diss)) < 10
    assert_same_as_rust(diss, start)
    assert_same_as_rust(diss, start, max_iter=1)


@pytest.mark.parametrize("share", [1, 10**9])
def test_both_ways_of_pricing_a_swap_give_the_same_result(monkeypatch, share):
    # a candidate is priced from the points it affects (share 1: nearly always) or from all points
    # (share 10**9: always); both must add the same terms in the same order
    import sparkgraph.udfs.kmedoids as kernels

    rng = np.random.default_rng(21)
    diss = dissimilarity_matrix(blobs(300, 6, 3, seed=21), "euclidean")
    start, weights = rng.choice(300, 12, replace=False), rng.exponential(size=300)
    weighted = fasterpam(diss, start, weights=weights)
    monkeypatch.setattr(kernels, "FEW_POINTS_SHARE", share)
    assert_same_as_rust(diss, start)
    again = fasterpam(diss, start, weights=weights)
    assert again.medoids.tolist() == weighted.medoids.tolist() and again.loss == pytest.approx(weighted.loss)


def test_fasterpam_single_medoid_and_every_point_a_medoid_equal_the_rust_results():
    rng = np.random.default_rng(7)
    diss = dissimilarity_matrix(rng.standard_normal((60, 3)), "euclidean")
    assert_same_as_rust(diss, np.array([5]))
    assert_same_as_rust(diss, rng.permutation(60))


def test_fasterpam_with_no_pass_returns_the_initial_clustering():
    diss = dissimilarity_matrix(blobs(100, 4, 2, seed=3), "euclidean")
    start = np.array([0, 1, 2, 3])
    result = fasterpam(diss, start, max_iter=0)
    assert result.medoids.tolist() == start.tolist() and (result.n_iter, result.n_swaps) == (0, 0)
    assert result.loss == pytest.approx(pam_loss(diss, start))


# ---- weights ------------------------------------------------------------------------------------

def test_integer_weights_give_the_result_of_duplicating_points():
    # integer distances keep every sum exact, and each copy sits right after its original, so the
    # duplicated run visits the candidates in the same order (a copy of a medoid never improves)
    rng = np.random.default_rng(11)
    n, k = 150, 6
    diss = np.round(dissimilarity_matrix(blobs(n, 5, 2, seed=11), "euclidean") * 4)
    weights = rng.integers(1, 4, n)
    original = np.repeat(np.arange(n), weights)  # row of the duplicated matrix -> original point
    first_copy = np.concatenate([[0], np.cumsum(weights)[:-1]])
    start = rng.choice(n, k, replace=False)

    weighted = fasterpam(diss, start, weights=weights.astype(float))
    duplicated = fasterpam(diss[np.ix_(original, original)], first_copy[start])
    assert weighted.loss == duplicated.loss
    assert weighted.medoids.tolist() == original[duplicated.medoids].tolist()
    assert weighted.labels.tolist() == duplicated.labels[first_copy].tolist()
    assert weighted.n_swaps == duplicated.n_swaps > 0


@pytest.mark.parametrize("seed", range(3))
def test_weighted_fasterpam_never_ends_worse_than_its_start(seed):
    rng = np.random.default_rng(seed)
    diss = dissimilarity_matrix(blobs(300, 6, 4, seed=seed), "euclidean")
    weights = rng.exponential(size=300) * (rng.random(300) > 0.1)  # some points weigh 0
    start = rng.choice(300, 8, replace=False)
    result = fasterpam(diss, start, weights=weights)
    assert result.loss <= pam_loss(diss, start, weights)
    assert result.loss == pytest.approx(pam_loss(diss, result.medoids, weights))
    labels, distances = assign(diss[result.medoids].T)
    assert result.loss == pytest.approx(float(weights @ distances))


# ---- alternating --------------------------------------------------------------------------------

def test_alternating_loss_never_increases_and_stops_at_a_fixed_point():
    diss = dissimilarity_matrix(blobs(400, 8, 3, seed=5), "euclidean")
    start = np.random.default_rng(5).choice(400, 8, replace=False)
    losses = [pam_loss(diss, start)] + [alternating(diss, start, max_iter=i).loss for i in range(1, 8)]
    assert (np.diff(losses) <= 1e-9).all()  # a theorem: neither step can raise it
    final = alternating(diss, start)
    assert final.n_swaps > 0 and final.n_iter < 100
    again = alternating(diss, final.medoids)  # a fixed point: nothing moves
    assert (again.n_swaps, again.n_iter) == (0, 1)
    assert again.medoids.tolist() == final.medoids.tolist() and again.loss == final.loss


def test_alternating_equals_the_rust_alternating():
    kmedoids = pytest.importorskip("kmedoids")
    diss = dissimilarity_matrix(blobs(300, 6, 3, seed=8), "euclidean")
    start = np.random.default_rng(8).choice(300, 6, replace=False)
    ours, theirs = alternating(diss, start), kmedoids.alternating(diss, start.copy(), max_iter=100)
    assert ours.medoids.tolist() == theirs.medoids.astype(np.int64).tolist()
    assert ours.loss == pytest.approx(theirs.loss) and ours.n_iter == theirs.n_iter


def test_fasterpam_beats_alternating_from_the_same_start():
    # an expectation on this seeded case, not a theorem: alternating stalls when a medoid must move
    # between clusters; FasterPAM's swaps move it. Both are local searches from the same start.
    diss = dissimilarity_matrix(blobs(500, 10, 2, seed=2, spread=1.5), "euclidean")
    start = np.random.default_rng(2).choice(500, 10, replace=False)
    assert fasterpam(diss, start).loss < alternating(diss, start).loss


# ---- dissimilarities ----------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_pairwise_and_the_matrix_equal_scipy_cdist(metric):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((40, 7)), rng.standard_normal((25, 7))
    assert np.allclose(pairwise(a, b, metric), cdist(a, b, metric), atol=1e-9)
    full = dissimilarity_matrix(a, metric, block_rows=7)  # several blocks, the last one short
    assert full.dtype == np.float64 and np.array_equal(full, full.T) and not np.diagonal(full).any()
    assert np.allclose(full, cdist(a, a, metric), atol=1e-7)


def test_cosine_puts_zero_vectors_at_1_from_the_others_and_0_from_each_other():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
    d = dissimilarity_matrix(x, "cosine")
    assert d[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert d[1, 3] == pytest.approx(1 - np.sqrt(0.5))


def test_jaccard_from_signatures_is_the_share_of_unequal_entries():
    rng = np.random.default_rng(2)
    sigs = rng.integers(0, 4, (30, 16)).astype(np.uint32)
    direct = np.array([[1.0 - np.mean(s == t) for t in sigs[:12]] for s in sigs])
    assert np.array_equal(pairwise(sigs, sigs[:12], "jaccard"), direct)
    full = dissimilarity_matrix(sigs, "jaccard", block_rows=8)
    assert np.array_equal(full, full.T) and not np.diagonal(full).any()
    assert np.allclose(full[:, :12], direct)


def test_metrics_are_the_three_documented():
    assert METRICS == ("euclidean", "cosine", "jaccard")


# ---- initialisation -----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["random", "kmeans++", "lab"])
def test_init_gives_k_distinct_indices_fixed_by_the_seed(method):
    diss = dissimilarity_matrix(blobs(200, 5, 3, seed=4), "euclidean")
    medoids = init_medoids(diss, 12, method, seed=1)
    assert medoids.dtype == np.int64 and len(np.unique(medoids)) == 12 and medoids.max() < 200
    assert init_medoids(diss, 12, method, seed=1).tolist() == medoids.tolist()
    assert init_medoids(diss, 12, method, seed=2).tolist() != medoids.tolist()
    assert sorted(init_medoids(diss, 200, method, seed=3).tolist()) == list(range(200))


def test_lab_starts_better_than_random_on_clustered_data():
    # the expectation of Schubert & Rousseeuw (2021): LAB's greedy choices land near the cluster
    # centres, random ones often do not. Checked on a seeded 10-cluster set, over 5 seeds.
    diss = dissimilarity_matrix(blobs(1000, 10, 4, seed=9), "euclidean")
    for seed in range(5):
        lab = pam_loss(diss, init_medoids(diss, 10, "lab", seed))
        assert lab < pam_loss(diss, init_medoids(diss, 10, "random", seed))


def test_kmeans_pp_never_picks_points_of_weight_zero():
    diss = dissimilarity_matrix(blobs(100, 4, 2, seed=6), "euclidean")
    weights = np.zeros(100)
    weights[::3] = 1.0
    for seed in range(5):
        assert (init_medoids(diss, 10, "kmeans++", seed, weights=weights) % 3 == 0).all()


# ---- assign -------------------------------------------------------------------------------------

def test_assign_sends_ties_to_the_lowest_position():
    labels, distances = assign(np.array([[3.0, 1.0, 1.0], [2.0, 2.0, 2.0], [5.0, 4.0, 0.5]]))
    assert labels.tolist() == [1, 0, 2] and labels.dtype == np.int64
    assert distances.tolist() == [1.0, 2.0, 0.5]


# ---- bad input ----------------------------------------------------------------------------------

GOOD = dissimilarity_matrix(np.arange(10.0)[:, None], "euclidean")


def with_nan() -> np.ndarray:
    d = GOOD.copy()
    d[2, 3] = d[3, 2] = np.nan
    return d


def asymmetric() -> np.ndarray:
    d = GOOD.copy()
    d[2, 3] += 1.0
    return d


@pytest.mark.parametrize("call, error, words", [
    (lambda: fasterpam(GOOD, np.array([], dtype=np.int64)), ParameterError, "give between 1 and 10"),
    (lambda: fasterpam(GOOD, np.arange(11)), ParameterError, "give between 1 and 10"),
    (lambda: fasterpam(GOOD, np.array([1, 4, 1])), ParameterError, "distinct"),
    (lambda: fasterpam(GOOD, np.array([1, 10])), ParameterError, "outside 0..9"),
    (lambda: fasterpam(GOOD, np.array([1.0, 2.0])), ParameterError, "integer row indices"),
    (lambda: fasterpam(GOOD, np.array([1, 2]), max_iter=-1), ParameterError, "max_iter"),
    (lambda: fasterpam(GOOD[:, :9], np.array([1, 2])), InputError, "square"),
    (lambda: fasterpam(with_nan(), np.array([1, 2])), InputError, "NaN"),
    (lambda: fasterpam(asymmetric(), np.array([1, 2])), InputError, "symmetric"),
    (lambda: fasterpam(-GOOD, np.array([1, 2])), InputError, "negative"),
    (lambda: fasterpam(GOOD + 1.0, np.array([1, 2])), InputError, "diagonal"),
    (lambda: fasterpam(GOOD, np.array([1, 2]), weights=-np.ones(10)), InputError, "weights"),
    (lambda: alternating(GOOD, np.array([3, 3])), ParameterError, "distinct"),
    (lambda: init_medoids(GOOD, 0, "lab", seed=1), ParameterError, "k=0"),
    (lambda: init_medoids(GOOD, 11, "random", seed=1), ParameterError, "k=11"),
    (lambda: init_medoids(GOOD, 2, "build", seed=1), ParameterError, "use one of random, kmeans++, lab"),
    (lambda: init_medoids(GOOD, 2, "lab", seed=1.5), ParameterError, "seed"),
    (lambda: pairwise(np.ones((2, 2)), np.ones((2, 2)), "manhattan"), ParameterError, "metric"),
    (lambda: pairwise(np.ones((2, 2)), np.ones((2, 2)), "jaccard"), InputError, "integer MinHash"),
    (lambda: assign(np.ones((3, 0))), InputError, "k at least 1"),
])
def test_bad_input_raises_a_one_line_error_naming_the_fix(call, error, words):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    assert words in message and "\n" not in message
    assert "; " in message  # the problem, then what to do
