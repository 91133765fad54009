"""Seeded initial medoids for k-medoids, in numpy (no Spark).

* ``random``: k distinct points, uniformly.
* ``kmeans++``: D^2 sampling on the dissimilarity (Arthur & Vassilvitskii 2007): the first medoid
  with probability proportional to the weight, each next one with probability proportional to
  weight x (dissimilarity to the nearest medoid so far)^2. O(n k).
* ``lab``: Linear Approximative BUILD (Schubert & Rousseeuw, Information Systems 2021): for each
  medoid, a fresh random subsample of ``10 + ceil(sqrt(n))`` non-medoid points, and the point of it
  that BUILD would choose on that subsample (the least total of ``min(d(o, c), nearest(o))`` over
  the subsample). O(n k) instead of BUILD's O(n^2 k).

All draw from ``np.random.default_rng(seed)`` only, so the medoids depend on (seed, data) alone.
"""

from __future__ import annotations

import math

import numpy as np

from sparkgraph.errors import ParameterError
from sparkgraph.udfs.dissimilarity import check_dissimilarities, check_weights

INIT_METHODS = ("random", "kmeans++", "lab")


def _lab(diss: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray | None) -> np.ndarray:
    n = diss.shape[0]
    size = 10 + math.ceil(math.sqrt(n))
    chosen = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)  # dissimilarity of each point to its nearest medoid so far
    medoids = np.empty(k, dtype=np.int64)
    for m in range(k):
        free = np.flatnonzero(~chosen)
        sample = free if len(free) <= size else np.sort(rng.choice(free, size, replace=False))
        block = np.minimum(diss[np.ix_(sample, sample)], nearest[sample][:, None])  # rows o, columns c
        totals = block.sum(axis=0) if weights is None else weights[sample] @ block
        best = int(sample[totals.argmin()])
        medoids[m] = best
        chosen[best] = True
        np.minimum(nearest, diss[best], out=nearest)
    return medoids


def _kmeans_pp(diss: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray | None) -> np.ndarray:
    n = diss.shape[0]
    mass = np.ones(n) if weights is None else weights
    chosen = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)
    medoids = np.empty(k, dtype=np.int64)
    for m in range(k):
        p = mass if m == 0 else mass * nearest**2
        p = np.where(chosen, 0.0, p)
        total = p.sum()
        if not total > 0:  # every point left coincides with a medoid or weighs 0: uniform over the rest
            p, total = (~chosen).astype(np.float64), float((~chosen).sum())
        best = int(rng.choice(n, p=p / total))
        medoids[m] = best
        chosen[best] = True
        np.minimum(nearest, diss[best], out=nearest)
    return medoids


def init_medoids(diss: np.ndarray, k: int, method: str, seed: int,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """k distinct initial medoids of the points of ``diss``, drawn with ``seed``.

    Parameters:
        diss: ``n x n`` symmetric dissimilarity matrix (see :func:`~sparkgraph.udfs.kmedoids.fasterpam`).
        k: number of medoids, 1 <= k <= n.
        method: ``random``, ``kmeans++`` or ``lab`` (see the module docstring).
        seed: integer seed of ``np.random.default_rng``; the same (seed, data) gives the same medoids.
        weights: optional non-negative weight per point: ``kmeans++`` samples in proportion to it and
            ``lab`` weighs the subsample's loss with it; ``random`` ignores it.

    Returns:
        int64 array of k distinct row indices.

    Raises:
        ParameterError: k out of range, unknown method, seed not an integer.
        InputError: the matrix or the weights are unusable.

    Example:
        >>> d = np.abs(np.subtract.outer(np.arange(6.0), np.arange(6.0)))
        >>> sorted(init_medoids(d, 2, "lab", seed=0).tolist())
        [2, 4]
    """
    if method not in INIT_METHODS:
        raise ParameterError(f"method={method!r} is not known; use one of {', '.join(INIT_METHODS)}", key="method")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ParameterError(f"seed={seed!r} is not an integer; give a whole number such as 1", key="seed")
    diss = check_dissimilarities(diss)
    n = diss.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n:
        raise ParameterError(f"k={k!r} is not an integer in 1..{n}; give at most as many medoids as points", key="k")
    weights = check_weights(weights, n)
    rng = np.random.default_rng(seed)
    if method == "random":
        return rng.choice(n, size=int(k), replace=False).astype(np.int64)
    if method == "kmeans++":
        return _kmeans_pp(diss, int(k), rng, weights)
    return _lab(diss, int(k), rng, weights)
