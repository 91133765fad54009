"""FastRP on one adjacency matrix held in memory (numpy/scipy): the local twin's computation, and
what one task runs in the single-task strategy, so the two give identical results."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sparkgraph.udfs.projection import degree_scaling, initial_vectors, row_normalize, sparsity_for


def directed_adjacency(adjacency: sp.csr_matrix, directed: bool, direction: str) -> sp.csr_matrix:
    """The arcs ``direction`` follows: A (out), Aᵀ (in) or A + Aᵀ (both; an arc each way counts twice).
    Undirected graphs already hold both arcs: A itself."""
    a = adjacency.tocsr().astype(np.float64)
    if directed and direction == "in":
        a = a.T.tocsr()
    elif directed and direction == "both":
        a = (a + a.T).tocsr()
    a.sort_indices()
    return a


def propagation_matrix(a: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(M, degrees)``: M = D⁻¹A (each arc weight divided by its row's weighted degree D)."""
    degrees = np.asarray(a.sum(axis=1)).ravel()
    m = a.copy()
    m.data = m.data / np.repeat(degrees, np.diff(m.indptr))
    return m, degrees


def fastrp_embedding(a: sp.csr_matrix, features: np.ndarray | None, dimension: int, weights: tuple,
                     strength: float, sparsity: str | float, normalize: bool, self_influence: float,
                     feature_dim: int, seed: int, rows: np.ndarray | None = None,
                     projection_count: int | None = None) -> np.ndarray:
    """Σ wᵢ·rownorm(Nᵢ) + self_influence·rownorm(R₀), N₁ = M·L·R₀, Nᵢ = M·Nᵢ₋₁ (float32, n x d).

    Products run in float64; each Nᵢ is stored as float32.

    Args:
        rows: The projection row of each matrix row (default ``0..n-1``): a subgraph passes the
            vertices' ids in the whole graph, so a vertex has the same row in every subgraph.
        projection_count: The n that ``sqrt_n`` sparsity refers to (default the matrix's n).
    """
    n = a.shape[0]
    m, degrees = propagation_matrix(a)
    s = sparsity_for(sparsity, n if projection_count is None else projection_count)
    feature_s = sparsity_for(sparsity, features.shape[1]) if features is not None else 1.0
    r0 = initial_vectors(np.arange(n) if rows is None else rows, features, dimension,
                         feature_dim if features is not None else 0, s, feature_s, seed)
    start = (degree_scaling(degrees, strength)[:, None] * r0).astype(np.float32)
    return propagated_sum(m, start, weights, self_influence, normalize, first=r0)


def propagated_sum(m: sp.csr_matrix, start: np.ndarray, weights: tuple, self_weight: float,
                   normalize: bool = True, first: np.ndarray | None = None) -> np.ndarray:
    """``self_weight``·rownorm(``first``) + Σ wᵢ·rownorm(Mⁱ·start) (float32, n x d; rownorm only
    with ``normalize``; ``first`` defaults to ``start``). Products run in float64 and each Mⁱ·start
    is stored as float32, as the Spark blocks do."""
    norm = row_normalize if normalize else (lambda v: v)
    out = (np.float32(self_weight) * norm(start if first is None else first)).astype(np.float32)
    current = start.astype(np.float32)
    for weight in weights:
        current = (m @ current.astype(np.float64)).astype(np.float32)
        out += np.float32(weight) * norm(current)
    return out
