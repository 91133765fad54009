"""Random projection rows as a pure function of (seed, entity id), and row normalisation (numpy only).

FastRP's very sparse random projection (Achlioptas; Li, Hastie & Church 2006): each entry is
``+sqrt(s)`` with probability ``1/(2s)``, ``-sqrt(s)`` with probability ``1/(2s)`` and 0 otherwise.
Row ``v`` of the projection depends only on ``(seed, v)``: each entry is drawn from a
SplitMix64 hash of the seed, the row and the column, so a row is the same whether it is made
on the driver, in any task, for any partitioning, or by the local twin.
"""

from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 values (wrapping arithmetic): a well-mixed hash."""
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniforms(seed: int, salt: int, rows: np.ndarray, columns: int) -> np.ndarray:
    """``len(rows) x columns`` uniforms in [0, 1): entry (i, j) a hash of (seed, salt, rows[i], j)."""
    key = splitmix64(np.array([seed * 1_000_003 + salt], dtype=np.uint64))
    base = splitmix64(np.asarray(rows, dtype=np.int64).astype(np.uint64) ^ key)
    grid = base[:, None] + np.arange(columns, dtype=np.uint64)[None, :] * _GOLDEN
    return (splitmix64(grid) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def sparsity_for(sparsity: str | float, count: int) -> float:
    """The projection's ``s``: ``sqrt_n`` gives ``sqrt(count)`` (at least 1), a number is used as it is."""
    if sparsity == "sqrt_n":
        return max(1.0, math.sqrt(count))
    return float(sparsity)


def projection_rows(rows: np.ndarray, dimension: int, s: float, seed: int, salt: int = 0) -> np.ndarray:
    """Rows ``rows`` of the very sparse projection (float32, ``len(rows) x dimension``).

    Example:
        >>> projection_rows(np.array([0, 7]), 4, 3.0, seed=1).shape
        (2, 4)
    """
    u = uniforms(seed, salt, rows, dimension)
    half = 1.0 / (2.0 * s)
    out = np.zeros(u.shape, dtype=np.float32)
    out[u < half] = math.sqrt(s)
    out[u >= 1.0 - half] = -math.sqrt(s)
    return out


def row_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (rows of zeros stay zero); float32."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    return (x / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)


def degree_scaling(degrees: np.ndarray, strength: float) -> np.ndarray:
    """FastRP's ``L = diag(d^β)``; a vertex without edges (degree 0) is scaled as if of degree 1."""
    d = np.asarray(degrees, dtype=np.float64)
    return np.where(d > 0, np.power(np.where(d > 0, d, 1.0), strength), 1.0)


def initial_vectors(rows: np.ndarray, features: np.ndarray | None, dimension: int, feature_dim: int, s: float,
                    feature_s: float, seed: int) -> np.ndarray:
    """FastRP's starting vectors ``R0`` for ``rows``: a random projection row per vertex, the last
    ``feature_dim`` columns being the vertex's features projected by a random matrix (GDS's
    ``propertyRatio``). Returns ``R0`` (float32); the first iteration multiplies ``L R0``.
    """
    structural = projection_rows(rows, dimension - feature_dim, s, seed)
    if features is None or feature_dim == 0:
        return structural
    projection = projection_rows(np.arange(features.shape[1]), feature_dim, feature_s, seed, salt=1)
    return np.hstack([structural, (features @ projection).astype(np.float32)])
