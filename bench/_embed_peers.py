"""The single-machine embedding peers a user would otherwise run: DeepWalk and node2vec.

Runs in its own environment (``make bench`` builds ``.venv-peers``: pecanpy needs numpy < 2),
called by ``bench/embed.py`` with an edge list; writes the embedding (rows in the edge list's
vertex order 0..n-1) as ``.npy`` and prints the seconds it took as JSON.

    .venv-peers/bin/python bench/_embed_peers.py deepwalk edges.npy n out.npy
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def deepwalk(edges: np.ndarray, n: int, dim: int, seed: int) -> np.ndarray:
    """DeepWalk (Perozzi et al. 2014) with its paper's settings: 80 uniform walks of length 40 per
    vertex, skip-gram with hierarchical softmax, window 10 (gensim Word2Vec)."""
    import scipy.sparse as sp
    from gensim.models import Word2Vec

    a = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(np.int8).tocsr()
    rng = np.random.default_rng(seed)
    walks = []
    degree = np.diff(a.indptr)
    for _ in range(80):
        position = rng.permutation(n)
        path = [position]
        for _ in range(39):
            d = degree[position]
            step = a.indptr[position] + (rng.random(n) * np.maximum(d, 1)).astype(np.int64)
            position = np.where(d > 0, a.indices[np.minimum(step, len(a.indices) - 1)], position)
            path.append(position)
        walks.extend(np.stack(path, axis=1).astype(str).tolist())
    model = Word2Vec(walks, vector_size=dim, window=10, min_count=0, sg=1, hs=1, negative=0, workers=2, seed=seed)
    return np.vstack([model.wv[str(v)] for v in range(n)])


def node2vec(edges: np.ndarray, n: int, dim: int, seed: int) -> np.ndarray:
    """node2vec (Grover & Leskovec 2016) through pecanpy (SparseOTF): 10 walks of length 80 per vertex,
    p = q = 1 (pecanpy's defaults), window 10."""
    import os
    import tempfile

    import scipy.sparse as sp
    from pecanpy import pecanpy

    both = np.vstack([edges, edges[:, ::-1]])
    a = sp.coo_matrix((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(n, n)).tocsr()
    a.data[:] = 1.0
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "graph.npz")
        np.savez(path, data=a.data.astype(np.float32), indptr=a.indptr.astype(np.uint32),
                 indices=a.indices.astype(np.uint32), IDs=np.array([str(v) for v in range(n)]))
        graph = pecanpy.SparseOTF(p=1, q=1, workers=2, verbose=False, random_state=seed)
        graph.read_npz(path, weighted=False)
        vectors = graph.embed(dim=dim, num_walks=10, walk_length=80, window_size=10, epochs=1)
    order = np.argsort(np.array(graph.nodes).astype(int))  # rows in the graph's node order: put them in id order
    return np.asarray(vectors)[order]


if __name__ == "__main__":
    method, edges_file, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    started = time.perf_counter()
    edges = np.load(edges_file)
    embedding = {"deepwalk": deepwalk, "node2vec": node2vec}[method](edges, n, 128, seed=1)
    np.save(out, embedding.astype(np.float32))
    print(json.dumps({"method": method, "seconds": round(time.perf_counter() - started, 1)}))
