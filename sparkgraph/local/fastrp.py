"""FastRP on one machine (scipy): the reference the Spark version is checked against.

Same parameters, same seed, same projection rows (a pure function of the seed and the vertex
id, :mod:`sparkgraph.udfs.projection`), so the two agree to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparkgraph.embed.params import FastRPParams
from sparkgraph.errors import InputError, MissingColumnError
from sparkgraph.local.graph import LocalGraph
from sparkgraph.udfs.fastrp import directed_adjacency, fastrp_embedding


def feature_matrix(graph: LocalGraph, features: pd.DataFrame) -> np.ndarray:
    """Features as an ``n x f`` array in dense-id order, from a frame of ``(id, values)``."""
    if features.shape[1] < 2:
        raise MissingColumnError("features need an id column and an array column; give (id, values)")
    ids, values = features.columns[:2]
    dense = graph.ids_of(features[ids].to_numpy(), what="feature")
    lengths = {len(v) for v in features[values]}
    if len(lengths) != 1:
        raise InputError(f"feature arrays have different lengths {sorted(lengths)[:5]}; give every vertex the same")
    out = np.full((graph.n, lengths.pop()), np.nan)
    out[dense] = np.vstack(features[values].to_numpy())
    if np.isnan(out).any():
        missing = int(np.isnan(out).any(axis=1).sum())
        raise InputError(f"{missing} vertices have no features or NaN values; give finite features for every vertex")
    return out


def fastrp(graph: LocalGraph, params: FastRPParams | None = None, features: pd.DataFrame | None = None
           ) -> np.ndarray:
    """FastRP embeddings of every vertex, ``n x dimension`` float32, row i for dense id i.

    N₁ = M·L·R₀, Nᵢ = M·Nᵢ₋₁ (never a power of M); the embedding is Σ wᵢ·rownorm(Nᵢ) plus
    ``self_influence``·rownorm(R₀) (rownorm only with ``row_normalization``). Products run in
    float64 and each Nᵢ is stored as float32, as in the Spark version.

    Example:
        >>> emb = fastrp(load_local("karate"), FastRPParams(dimension=16, seed=1))
        >>> emb.shape
        (34, 16)
    """
    params = params or FastRPParams()
    if features is not None and params.feature_dim == 0:
        raise InputError("features were given but feature_dim is 0; set feature_dim to the dimensions they get")
    x = feature_matrix(graph, features) if features is not None else None
    a = directed_adjacency(graph.adjacency, graph.directed, params.direction)
    return fastrp_embedding(a, x, params.dimension, params.iteration_weights, params.normalization_strength,
                            params.sparsity, params.row_normalization, params.self_influence, params.feature_dim,
                            params.seed)
