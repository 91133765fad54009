"""Local twin of :mod:`sparkgraph.community`: exact Jaccard of neighbourhoods (scipy sparse), exact
similar pairs, MinHash signatures (the same numpy kernel as the executors) and community growth
from seeds by exact Jaccard.

Example:
    >>> local = load_local("karate")
    >>> u, v, j = similar_pairs(local, MinHashParams(), threshold=0.5)
    >>> grow_community(local, MinHashParams(), seeds=[1, 2], size=10)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sparkgraph.community.params import MinHashParams
from sparkgraph.errors import ParameterError
from sparkgraph.local.graph import LocalGraph
from sparkgraph.udfs.minhash import permutations, signatures


def neighbour_matrix(graph: LocalGraph, params: MinHashParams) -> sp.csr_matrix:
    """``n x n`` 0/1 CSR: row v is v's neighbourhood as ``params`` defines it (sorted columns)."""
    a = graph.adjacency.copy().tocsr()
    a.data = np.ones_like(a.data)
    if graph.directed and params.neighbourhood == "in":
        a = a.T.tocsr()
    elif graph.directed and params.neighbourhood == "all":
        a = a + a.T
    if params.include_self:
        a = a + sp.identity(graph.n, format="csr")
    a = a.tocsr()
    a.data = np.ones_like(a.data)
    a.sort_indices()
    return a


def minhash_signatures(graph: LocalGraph, params: MinHashParams | None = None) -> np.ndarray:
    """``n x num_perm`` signatures (int64 holding unsigned 32-bit values), row = dense id, equal to
    :func:`sparkgraph.community.minhash_signatures` row for row."""
    params = params or MinHashParams()
    sets = neighbour_matrix(graph, params)
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    return signatures(sets.indptr, sets.indices.astype(np.int64), a, b, params.scheme)


def exact_jaccard(graph: LocalGraph, params: MinHashParams | None = None) -> sp.csr_matrix:
    """Sparse ``n x n`` exact Jaccard of neighbourhoods, stored wherever two sets intersect."""
    params = params or MinHashParams()
    sets = neighbour_matrix(graph, params).astype(np.float64)
    sizes = np.asarray(sets.sum(axis=1)).ravel()
    inter = (sets @ sets.T).tocoo()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    return sp.csr_matrix((jac, (inter.row, inter.col)), shape=inter.shape)


def similar_pairs(graph: LocalGraph, params: MinHashParams | None = None, threshold: float = 0.5,
                  block_rows: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact pairs ``(u, v, jaccard)``, u < v dense ids, whose Jaccard is at least ``threshold``
    (intersections computed ``block_rows`` rows at a time, so memory follows the pairs kept)."""
    params = params or MinHashParams()
    sets = neighbour_matrix(graph, params).astype(np.float64)
    sizes = np.asarray(sets.sum(axis=1)).ravel()
    transposed = sets.T.tocsc()
    us, vs, js = [], [], []
    for start in range(0, graph.n, block_rows):
        inter = (sets[start:start + block_rows] @ transposed).tocoo()
        row = inter.row + start
        jac = inter.data / (sizes[row] + sizes[inter.col] - inter.data)
        keep = (row < inter.col) & (jac >= threshold)
        us.append(row[keep]), vs.append(inter.col[keep]), js.append(jac[keep])
    u, v, j = np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64), np.concatenate(js)
    order = np.lexsort((v, u))
    return u[order], v[order], j[order]


def grow_community(graph: LocalGraph, params: MinHashParams | None, seeds, size: int,
                   jaccard: sp.csr_matrix | None = None) -> pd.DataFrame:
    """The growth of :meth:`~sparkgraph.community.CommunityIndex.query` with exact Jaccard; the
    candidates are every vertex whose neighbourhood meets a seed's.

    ``jaccard``: :func:`exact_jaccard` of ``graph`` and ``params`` when the caller has it already
    (many queries on one graph); computed here otherwise.

    Returns:
        ``(id, score, step)`` in the caller's ids, seeds first (score 1.0, step 0).
    """
    params = params or MinHashParams()
    ids = graph.ids_of(list(seeds), what="seed")
    if len(set(ids.tolist())) != len(ids):
        raise ParameterError("seed ids given twice; give each seed once")
    if size < len(ids):
        raise ParameterError(f"size={size} must be at least the number of seeds ({len(ids)})", key="size")
    jac = exact_jaccard(graph, params) if jaccard is None else jaccard
    cands = np.setdiff1d(np.unique(jac[ids].indices), ids)
    block = jac[cands][:, np.r_[ids, cands]].toarray() if len(cands) else np.zeros((0, 0))
    total = block[:, :len(ids)].sum(axis=1)
    members, scores, chosen = list(ids), [1.0] * len(ids), np.zeros(len(cands), dtype=bool)
    for _ in range(min(size - len(ids), len(cands))):
        mean = np.where(chosen, -1.0, total / len(members))
        best = int(np.argmax(mean))
        chosen[best] = True
        members.append(int(cands[best]))
        scores.append(float(mean[best]))
        total += block[:, len(ids) + best]
    return pd.DataFrame({"id": graph.names[np.array(members)], "score": scores,
                         "step": np.r_[np.zeros(len(ids), dtype=np.int64), np.arange(1, len(members) - len(ids) + 1)]})
