"""k-medoids on a dissimilarity matrix, in numpy (no Spark): FasterPAM, the alternating baseline, seeding.

The executor-side kernels of sparkgraph's k-medoids: the Spark layer (CLARA, partitioned
k-medoids) and the local twin call these on matrices that fit in memory.

* :func:`fasterpam`: FasterPAM (Schubert & Rousseeuw, Information Systems 2021). Each point keeps
  its nearest and second-nearest medoid; a medoid's removal loss is the sum over its points of
  (second - nearest); one pass over the points prices swapping a candidate with *every* medoid.
  The best improving swap of a candidate is taken at once (eager), and the search stops after a
  full round of candidates without one. It follows the ``kmedoids`` package's sequential Rust
  code (0.5.x): the same candidate order, tie rules, cache updates and stopping rule, and the same
  floating-point sums, so from the same initial medoids on the same matrix it returns the same
  medoids, labels, loss, iterations and swaps as ``kmedoids.fasterpam(diss, medoids, n_cpu=1)``.
* :func:`alternating`: the Voronoi iteration ("k-means style"): assign each point to its nearest
  medoid, move each medoid to the point of its cluster with the least total dissimilarity to the
  others, repeat until nothing moves. A baseline: it stops in worse local optima than FasterPAM.
* :func:`init_medoids`: ``random``, ``kmeans++`` (D^2 sampling) or ``lab`` (Linear Approximative
  BUILD), seeded.
* :func:`assign`: nearest medoid per row of an ``n x k`` block, ties to the lowest position.

Optional ``weights`` (one non-negative number per point) make the loss
``sum_o w_o * d(o, nearest medoid)``: a point of weight 3 counts as three copies of it. The Spark
layer uses this to cluster partition medoids weighted by their cluster sizes.

The matrix is read by rows (``diss[j]`` for candidate ``j``), which is why it must be symmetric:
see :func:`~sparkgraph.udfs.dissimilarity.check_dissimilarities`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sparkgraph.errors import InputError, ParameterError
from sparkgraph.udfs.dissimilarity import (
    METRICS,
    check_dissimilarities,
    check_weights,
    dissimilarity_matrix,
    pairwise,
)
from sparkgraph.udfs.kmedoids_init import INIT_METHODS, init_medoids

__all__ = ["METRICS", "INIT_METHODS", "PamResult", "alternating", "assign", "dissimilarity_matrix", "fasterpam",
           "init_medoids", "pairwise", "pam_loss"]

log = logging.getLogger(__name__)
_EPS = np.finfo(np.float64).eps
FEW_POINTS_SHARE = 4  # a candidate's swap is priced from the points it affects when they are under 1 in 4


@dataclass(frozen=True)
class PamResult:
    """A k-medoids clustering.

    Attributes:
        medoids: int64 row indices of the medoids, length k, in the order they end up in (a swap
            puts the new medoid in the position of the one it replaces).
        labels: int64 position in ``medoids`` of each point's nearest medoid.
        loss: sum over points of weight x dissimilarity to the nearest medoid.
        n_iter: passes over the candidates (FasterPAM) or assign/update rounds (alternating).
        n_swaps: medoid replacements made.
    """

    medoids: np.ndarray
    labels: np.ndarray
    loss: float
    n_iter: int
    n_swaps: int


def assign(diss_to_medoids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest medoid of each row of an ``n x k`` block of dissimilarities to the medoids.

    Parameters:
        diss_to_medoids: ``n x k`` array, entry ``(o, m)`` the dissimilarity of point ``o`` to medoid
            ``m`` (k at least 1).

    Returns:
        ``(labels, distances)``: int64 position of the nearest medoid (ties go to the lowest
        position) and float64 dissimilarity to it.

    Example:
        >>> assign(np.array([[2.0, 1.0, 1.0], [0.5, 3.0, 0.5]]))
        (array([1, 0]), array([1. , 0.5]))
    """
    block = np.asarray(diss_to_medoids)
    if block.ndim != 2 or block.shape[1] == 0:
        raise InputError(f"the block of dissimilarities to the medoids has shape {block.shape}; give an n x k "
                         "array with k at least 1")
    labels = block.argmin(axis=1)  # argmin returns the first of equal minima
    return labels.astype(np.int64), np.take_along_axis(block, labels[:, None], axis=1)[:, 0].astype(np.float64)


def _check_medoids(medoids: np.ndarray, n: int) -> np.ndarray:
    med = np.asarray(medoids)
    if med.ndim != 1 or not (np.issubdtype(med.dtype, np.integer) or med.size == 0):
        raise ParameterError(f"medoids must be a 1-D array of integer row indices, not {med.dtype} of shape "
                             f"{med.shape}; give e.g. init_medoids(diss, k, 'lab', seed)", key="medoids")
    k = len(med)
    if not 1 <= k <= n:
        raise ParameterError(f"medoids has k={k} entries for n={n} points; give between 1 and {n} medoids",
                             key="medoids")
    if med.min() < 0 or med.max() >= n:
        raise ParameterError(f"medoids hold indices outside 0..{n - 1}; give row indices of the matrix", key="medoids")
    if len(np.unique(med)) != k:
        raise ParameterError("medoids hold the same index twice; give k distinct row indices", key="medoids")
    return med.astype(np.int64)


def _check_max_iter(max_iter: int) -> int:
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 0:
        raise ParameterError(f"max_iter={max_iter!r} is not an integer of at least 0; give e.g. 100", key="max_iter")
    return int(max_iter)


def _sequential_sum(values: np.ndarray) -> float:
    """Left-to-right sum, as the Rust reference adds (numpy's ``sum`` adds pairwise, rounding differently)."""
    return float(np.cumsum(values)[-1]) if len(values) else 0.0


class _Caches:
    """FasterPAM's per-point caches: nearest and second-nearest medoid (position, dissimilarity).

    The nearest positions live in ``index[k:]`` after ``arange(k)``, and the removal losses in
    ``slots[:k]`` before one term per point, so that one ``np.bincount(index, slots)`` adds each
    medoid's terms to its removal loss in the Rust code's order (removal loss first, then the
    points in order): the per-medoid sums then round exactly as there.
    """

    def __init__(self, diss: np.ndarray, med: np.ndarray, weights: np.ndarray | None):
        n, k = diss.shape[0], len(med)
        self.diss, self.med, self.weights, self.k = diss, med, weights, k
        self.index = np.concatenate([np.arange(k), np.zeros(n, dtype=np.intp)]).astype(np.intp)
        self.slots = np.zeros(k + n)
        self.near_i, self.terms = self.index[k:], self.slots[k:]
        self.near_d = diss[med[0]].copy()
        self.seco_i = np.full(n, -1, dtype=np.intp)
        self.seco_d = np.zeros(n)
        self.shared = np.empty(n)
        self.few_index, self.few_slots = self.index.copy(), np.zeros(k + n)  # the same layout for a subset of points
        points = np.arange(n)
        # the Rust initial assignment, medoid by medoid: strict < keeps the earlier medoid on ties,
        # and a medoid is always its own nearest
        for m in range(1, k):
            d = diss[med[m]]
            first = (d < self.near_d) | (points == med[m])
            second = ~first & ((self.seco_i < 0) | (d < self.seco_d))
            self.seco_i[first], self.seco_d[first] = self.near_i[first], self.near_d[first]
            self.near_i[first], self.near_d[first] = m, d[first]
            self.seco_i[second], self.seco_d[second] = m, d[second]
        self.update_removal_loss()

    def loss(self) -> float:
        d = self.near_d if self.weights is None else self.near_d * self.weights
        return _sequential_sum(d)

    def update_removal_loss(self) -> None:
        terms = self.seco_d - self.near_d
        if self.weights is not None:
            terms *= self.weights
        self.slots[: self.k] = np.bincount(self.near_i, terms, minlength=self.k)

    def best_swap(self, j: int) -> tuple[float, int]:
        """(change of the loss, position of the medoid to replace) for the best swap of candidate ``j``.

        Per point ``o`` with ``d = d(o, j)``: if ``d < nearest``, the shared gain gets ``d - nearest``
        and the nearest medoid's slot ``nearest - second`` (``o`` no longer moves to its second if
        that medoid goes); if ``nearest <= d < second``, the slot gets ``d - second``. Both terms come
        from clipping: ``min(max(d, nearest), second) - second`` and ``min(d, nearest) - nearest``.
        Points with ``d >= second`` add nothing; when they are most of them (usual for k of 50 and
        more), only the others are gathered and summed, in the same order.
        """
        k, d, near_d, seco_d, weights = self.k, self.diss[j], self.near_d, self.seco_d, self.weights
        affected = d < seco_d
        count = np.count_nonzero(affected)
        if count * FEW_POINTS_SHARE < len(d):
            points = np.flatnonzero(affected)
            index, slots = self.few_index[: k + count], self.few_slots[: k + count]
            index[k:], slots[:k] = self.near_i[points], self.slots[:k]
            d, near_d, seco_d = d[points], near_d[points], seco_d[points]
            weights = None if weights is None else weights[points]
        else:
            index, slots = self.index, self.slots
        terms, shared = slots[k:], self.shared[: len(d)]
        np.maximum(d, near_d, out=terms)
        np.minimum(terms, seco_d, out=terms)
        np.subtract(terms, seco_d, out=terms)
        np.minimum(d, near_d, out=shared)
        np.subtract(shared, near_d, out=shared)
        if weights is not None:
            terms *= weights
            shared *= weights
        per_medoid = np.bincount(index, slots)
        b = int(per_medoid.argmin())  # the first of equal minima, as the Rust find_min
        gain = float(shared.sum())
        change = per_medoid[b] + gain
        # numpy sums pairwise, the Rust code left to right: the two differ by at most ~n eps |gain|,
        # so only a change that close to 0 could flip sign; then add left to right as it does
        if abs(change) <= 4.0 * len(d) * _EPS * abs(gain):
            change = per_medoid[b] + _sequential_sum(shared)
        return float(change), b

    def swap(self, b: int, j: int) -> None:
        """Make ``j`` the medoid at position ``b``; update the caches of the points it affects (Rust ``do_swap``)."""
        diss, med = self.diss, self.med
        near_i, near_d, seco_i, seco_d = self.near_i, self.near_d, self.seco_i, self.seco_d
        med[b] = j
        dj = diss[j]
        was_b = near_i == b
        below_seco = dj < seco_d
        keep = was_b & below_seco  # the replaced medoid was nearest, the new one is nearer than the second
        lost = was_b & ~below_seco  # ... it is not: the second moves up and a new second is searched
        new_near = ~was_b & (dj < near_d)
        new_seco = ~was_b & below_seco & ~new_near
        seco_gone = ~was_b & ~below_seco & (seco_i == b)  # the second was replaced by a farther point
        for mask in (keep, lost, new_near, new_seco, seco_gone):
            mask[j] = False  # j itself is handled last
        near_d[keep] = dj[keep]
        near_i[lost], near_d[lost] = seco_i[lost], seco_d[lost]
        seco_i[new_near], seco_d[new_near] = near_i[new_near], near_d[new_near]
        near_i[new_near], near_d[new_near] = b, dj[new_near]
        seco_i[new_seco], seco_d[new_seco] = b, dj[new_seco]
        search = np.flatnonzero(lost | seco_gone)
        if len(search):
            # Rust update_second_nearest: start from (b, d(o, j)), then the first medoid in order that is
            # strictly closer, skipping the nearest and b
            rows = np.arange(len(search))
            block = diss[search[:, None], med[None, :]]
            block[rows, near_i[search]] = np.inf
            block[:, b] = np.inf
            best = block.argmin(axis=1)
            best_d = block[rows, best]
            closer = best_d < dj[search]
            seco_i[search] = np.where(closer, best, b)
            seco_d[search] = np.where(closer, best_d, dj[search])
        if near_i[j] != b:
            seco_i[j], seco_d[j] = near_i[j], near_d[j]
        near_i[j], near_d[j] = b, 0.0
        self.update_removal_loss()


def _single_medoid(diss: np.ndarray, med: np.ndarray, weights: np.ndarray | None) -> PamResult:
    """k = 1: the point with the least total dissimilarity (the Rust code's special case; ties keep the start)."""
    # summing over axis 0 of a C-ordered matrix adds row after row: left to right per column, as Rust
    totals = diss.sum(axis=0) if weights is None else weights @ diss
    first, best = int(med[0]), int(totals.argmin())
    if not totals[best] < totals[first]:
        best = first
    return PamResult(np.array([best], dtype=np.int64), np.zeros(diss.shape[0], dtype=np.int64),
                     float(totals[best]), 1, int(best != first))


def fasterpam(diss: np.ndarray, medoids: np.ndarray, max_iter: int = 100,
              weights: np.ndarray | None = None) -> PamResult:
    """FasterPAM k-medoids from the given initial medoids.

    Candidates are the points in index order; a candidate's best improving swap is made at once;
    the search stops after a full round of the candidates (wrapping around to where the last swap
    was made) without an improving swap, when a pass does not lower the loss, or after
    ``max_iter`` passes. Time per pass O(n^2) (plus O(k) per affected point per swap); memory O(n + k).

    Parameters:
        diss: ``n x n`` symmetric dissimilarity matrix (finite, non-negative, zero diagonal), e.g.
            from :func:`dissimilarity_matrix`; float64 is used without a copy.
        medoids: initial medoids, k distinct row indices (1 <= k <= n), e.g. from :func:`init_medoids`.
        max_iter: passes over the candidates at most (0 returns the initial medoids' clustering).
        weights: optional non-negative weight per point; the loss is ``sum_o w_o * d(o, nearest)``.

    Returns:
        :class:`PamResult`. Unweighted, it equals ``kmedoids.fasterpam(diss, medoids, max_iter, n_cpu=1)``
        field by field (medoids in the same order, labels, loss to the last bit, iterations, swaps).

    Raises:
        ParameterError: medoids not k distinct indices in range, or max_iter below 0.
        InputError: the matrix or the weights are unusable (see :func:`check_dissimilarities`).

    Example:
        >>> d = dissimilarity_matrix(np.array([[0.0], [1.0], [10.0], [11.0], [12.0]]), "euclidean")
        >>> r = fasterpam(d, np.array([0, 1]))
        >>> r.medoids.tolist(), r.labels.tolist(), r.loss
        ([3, 1], [1, 1, 0, 0, 0], 3.0)

    References:
        Schubert, E., Rousseeuw, P. J.: Fast and eager k-medoids clustering: O(k) runtime improvement
        of the PAM, CLARA, and CLARANS algorithms. Information Systems 101 (2021) 101804.
    """
    diss = check_dissimilarities(diss)
    n = diss.shape[0]
    med = _check_medoids(medoids, n).copy()
    max_iter = _check_max_iter(max_iter)
    weights = check_weights(weights, n)
    if len(med) == 1 and max_iter > 0:
        return _single_medoid(diss, med, weights)
    caches = _Caches(diss, med, weights)
    loss = caches.loss()
    near_i = caches.near_i
    last_swap, n_swaps, n_iter = n, 0, 0
    while n_iter < max_iter:
        n_iter += 1
        swaps_before, loss_before = n_swaps, loss
        for j in range(n):
            if j == last_swap:
                break
            if j == med[near_i[j]]:
                continue  # already a medoid
            change, b = caches.best_swap(j)
            if change >= 0:
                continue
            n_swaps += 1
            last_swap = j
            caches.swap(b, j)
        if n_swaps > swaps_before:
            loss = caches.loss()
        log.debug("fasterpam pass %d: %d swaps, loss %.6g", n_iter, n_swaps - swaps_before, loss)
        if n_swaps == swaps_before or loss >= loss_before:
            break
    return PamResult(med, near_i.astype(np.int64), loss, n_iter, n_swaps)


def _nearest(diss: np.ndarray, med: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Labels (a medoid is its own nearest, else ties to the lowest position) and the loss."""
    labels, distances = assign(diss[med].T)
    labels[med] = np.arange(len(med))
    distances[med] = 0.0
    return labels, _sequential_sum(distances if weights is None else distances * weights)


def alternating(diss: np.ndarray, medoids: np.ndarray, max_iter: int = 100,
                weights: np.ndarray | None = None) -> PamResult:
    """The alternating (Voronoi iteration, "k-means style") k-medoids baseline.

    Each round moves every medoid to the point of its cluster with the least (weighted) total
    dissimilarity to the cluster's points (keeping the medoid on ties, else the lowest index), then
    reassigns every point to its nearest medoid. The loss never increases; it stops when no medoid
    moves (a fixed point) or after ``max_iter`` rounds. Rounds cost O(n k + sum of cluster sizes^2).

    Parameters:
        diss, medoids, max_iter, weights: as for :func:`fasterpam`.

    Returns:
        :class:`PamResult`; ``n_swaps`` counts the medoid moves, ``n_iter`` the rounds.

    Example:
        >>> d = dissimilarity_matrix(np.array([[0.0], [1.0], [10.0], [11.0], [12.0]]), "euclidean")
        >>> alternating(d, np.array([0, 1])).medoids.tolist()
        [0, 3]
    """
    diss = check_dissimilarities(diss)
    n = diss.shape[0]
    med = _check_medoids(medoids, n).copy()
    max_iter = _check_max_iter(max_iter)
    weights = check_weights(weights, n)
    labels, loss = _nearest(diss, med, weights)
    n_iter = n_swaps = 0
    while n_iter < max_iter:
        n_iter += 1
        moved = 0
        for m in range(len(med)):
            members = np.flatnonzero(labels == m)
            block = diss[np.ix_(members, members)]
            totals = block.sum(axis=0) if weights is None else weights[members] @ block
            current, best = int(np.searchsorted(members, med[m])), int(totals.argmin())
            if totals[best] < totals[current]:
                med[m] = members[best]
                moved += 1
        if not moved:
            break
        n_swaps += moved
        labels, loss = _nearest(diss, med, weights)
    return PamResult(med, labels, loss, n_iter, n_swaps)


def pam_loss(diss: np.ndarray, medoids: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The loss of ``medoids``: sum over points of weight x dissimilarity to the nearest medoid.

    Example:
        >>> pam_loss(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]))
        1.0
    """
    diss = check_dissimilarities(diss)
    med = _check_medoids(medoids, diss.shape[0])
    return _nearest(diss, med, check_weights(weights, diss.shape[0]))[1]
