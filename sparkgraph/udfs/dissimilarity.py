"""Dissimilarities between points for k-medoids, in numpy (no Spark).

Three metrics, each a float64 dissimilarity in a fixed range:

* ``euclidean``: ``sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))`` from dot products (one matrix product
  per block); the clip removes the small negatives that cancellation leaves for near-equal points.
* ``cosine``: ``1 - a.b / (|a| |b|)``, clipped to [0, 2]. A zero vector has no direction: we put it
  at distance 1 from every non-zero vector (as if orthogonal) and at distance 0 from other zero
  vectors, so that equal points stay at distance 0 and the matrix diagonal stays exactly zero.
  (scipy's ``cdist`` gives NaN there.)
* ``jaccard``: the Jaccard distance of two sets estimated from their MinHash signatures (integer
  arrays of equal length, e.g. from :mod:`sparkgraph.udfs.minhash`): ``1 - mean(sig_a == sig_b)``.

:func:`check_dissimilarities` is the one validation of a dissimilarity matrix handed to the
k-medoids kernels (square, finite, non-negative, symmetric, zero diagonal), and
:func:`check_weights` the one validation of their optional point weights.
"""

from __future__ import annotations

import numpy as np

from sparkgraph.errors import InputError, ParameterError

METRICS = ("euclidean", "cosine", "jaccard")
CHECK_TILE = 512  # side of the square tiles compared with their mirror in the symmetry check (2 MB)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ParameterError(f"metric={metric!r} is not known; use one of {', '.join(METRICS)}", key="metric")


def _as_points(points: np.ndarray, metric: str, name: str) -> np.ndarray:
    """Points as a 2-D array: integer signatures for jaccard, float64 vectors otherwise."""
    arr = np.asarray(points)
    if arr.ndim != 2:
        raise InputError(f"{name} has shape {arr.shape}; give a 2-D array with one point per row")
    if metric == "jaccard":
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{name} has dtype {arr.dtype}; jaccard needs integer MinHash signatures "
                             "(see sparkgraph.udfs.minhash.signatures)")
        return arr
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} holds NaN or infinite coordinates; give finite numbers")
    return arr


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows scaled to unit length, mask of the zero rows); zero rows stay zero."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    zero = norms == 0
    return x / np.where(zero, 1.0, norms)[:, None], zero


def _euclidean(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    out = a @ b.T
    out *= -2.0
    out += a_sq[:, None]
    out += b_sq[None, :]
    np.maximum(out, 0.0, out=out)
    return np.sqrt(out, out=out)


def _cosine(a_unit: np.ndarray, a_zero: np.ndarray, b_unit: np.ndarray, b_zero: np.ndarray) -> np.ndarray:
    out = a_unit @ b_unit.T
    np.subtract(1.0, out, out=out)
    np.clip(out, 0.0, 2.0, out=out)
    if a_zero.any() or b_zero.any():
        # a zero row's dot products are all 0, so its distances already read 1; only zero-to-zero becomes 0
        out[np.ix_(a_zero, b_zero)] = 0.0
    return out


def _jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] != b.shape[1]:
        raise InputError(f"signatures of different lengths ({a.shape[1]} and {b.shape[1]}); "
                         "make both with the same num_perm")
    equal = np.zeros((len(a), len(b)), dtype=np.int32)
    for t in range(a.shape[1]):  # one permutation at a time keeps the temporary at len(a) x len(b)
        equal += np.equal.outer(a[:, t], b[:, t])
    return 1.0 - equal / float(max(a.shape[1], 1))


def pairwise(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """The ``len(a) x len(b)`` float64 block of dissimilarities between the rows of ``a`` and ``b``.

    Parameters:
        a, b: points, one per row (float vectors; for ``jaccard`` integer MinHash signatures of
            the same length).
        metric: one of :data:`METRICS` (see the module docstring for each formula and the
            zero-vector rule of ``cosine``).

    Returns:
        float64 array, entry ``(i, j)`` the dissimilarity of ``a[i]`` and ``b[j]``.

    Raises:
        ParameterError: unknown metric. InputError: not 2-D, non-finite coordinates, or
        non-integer / unequal-length signatures for ``jaccard``.

    Example:
        >>> pairwise(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 1.0]]), "euclidean")
        array([[5., 1.]])
    """
    _check_metric(metric)
    a, b = _as_points(a, metric, "a"), _as_points(b, metric, "b")
    if metric == "jaccard":
        return _jaccard(a, b)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"points of different dimension ({a.shape[1]} and {b.shape[1]}); give equal-length rows")
    if metric == "euclidean":
        return _euclidean(a, b, np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b))
    return _cosine(*_unit_rows(a), *_unit_rows(b))


def dissimilarity_matrix(points: np.ndarray, metric: str, block_rows: int = 2048) -> np.ndarray:
    """The full ``n x n`` float64 dissimilarity matrix of ``points``, built in row blocks.

    Only the blocks on and above the diagonal are computed; each is mirrored below it, so the
    result is exactly symmetric, and the diagonal is exactly zero. Memory: ``8 n^2`` bytes for the
    result plus one ``block_rows x n`` block.

    Parameters:
        points: ``n x d`` float vectors (``jaccard``: ``n x num_perm`` integer signatures).
        metric: one of :data:`METRICS`.
        block_rows: rows computed at once (at least 1).

    Returns:
        float64 ``n x n`` array.

    Example:
        >>> dissimilarity_matrix(np.array([[0.0, 0.0], [3.0, 4.0]]), "euclidean")
        array([[0., 5.],
               [5., 0.]])
    """
    _check_metric(metric)
    if not isinstance(block_rows, (int, np.integer)) or isinstance(block_rows, bool) or block_rows < 1:
        raise ParameterError(f"block_rows={block_rows!r} is not an integer of at least 1; give e.g. 2048",
                             key="block_rows")
    x = _as_points(points, metric, "points")
    n = len(x)
    out = np.empty((n, n), dtype=np.float64)
    if metric == "euclidean":
        sq = np.einsum("ij,ij->i", x, x)
    elif metric == "cosine":
        unit, zero = _unit_rows(x)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        if metric == "euclidean":
            block = _euclidean(x[start:stop], x[start:], sq[start:stop], sq[start:])
        elif metric == "cosine":
            block = _cosine(unit[start:stop], zero[start:stop], unit[start:], zero[start:])
        else:
            block = _jaccard(x[start:stop], x[start:])
        square = block[:, : stop - start]
        square[:] = np.triu(square, 1) + np.triu(square, 1).T  # the diagonal block: symmetric, zero diagonal
        out[start:stop, start:] = block
        out[stop:, start:stop] = block[:, stop - start:].T
    return out


def check_dissimilarities(diss: np.ndarray) -> np.ndarray:
    """``diss`` as a C-ordered float64 matrix, after checking it can be clustered.

    Checked without an ``n x n`` temporary (about 0.25 s at n = 10,000): two dimensions, square,
    not empty, every entry finite and non-negative, symmetric, zero diagonal. A float64 matrix in C
    or Fortran order is used without a copy (a symmetric Fortran matrix is its own transpose);
    other dtypes are copied.

    Raises:
        InputError: naming the first problem found and the fix.

    Example:
        >>> check_dissimilarities(np.array([[0, 2], [2, 0]])).dtype
        dtype('float64')
    """
    arr = np.asarray(diss)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise InputError(f"the dissimilarity matrix has shape {arr.shape}; give a square n x n matrix "
                         "(e.g. from dissimilarity_matrix)")
    if arr.shape[0] == 0:
        raise InputError("the dissimilarity matrix is empty; give at least one point")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"the dissimilarity matrix has dtype {arr.dtype}; give real numbers")
    if arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    if not arr.flags.c_contiguous:
        arr = arr.T if arr.flags.f_contiguous else np.ascontiguousarray(arr)
    low, high = arr.min(), arr.max()  # NaN propagates through both
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError("the dissimilarity matrix holds NaN or infinite values; give finite dissimilarities")
    if low < 0:
        raise InputError("the dissimilarity matrix holds negative values; give dissimilarities of at least 0")
    n, tile = arr.shape[0], CHECK_TILE
    for i in range(0, n, tile):  # tile by tile above the diagonal against its mirror: both stay in cache
        for j in range(i, n, tile):
            if not np.array_equal(arr[i:i + tile, j:j + tile], arr[j:j + tile, i:i + tile].T):
                raise InputError("the dissimilarity matrix is not symmetric; symmetrise it, e.g. (d + d.T) / 2")
    if np.diagonal(arr).any():
        raise InputError("the dissimilarity matrix has non-zero values on its diagonal; a point is at distance 0 "
                         "from itself: np.fill_diagonal(d, 0)")
    return arr


def check_weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    """``weights`` as float64 after checking: one finite, non-negative number per point (None stays None)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise InputError(f"weights has shape {w.shape}; give one weight per point, shape ({n},)")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputError("weights hold negative, NaN or infinite values; give finite weights of at least 0")
    return w
