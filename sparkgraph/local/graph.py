"""The local twin of :class:`sparkgraph.graph.Graph`: a scipy CSR matrix with the same ids.

Dense ids are the caller's ids in sorted order, exactly as the distributed graph assigns
them, so a vertex has the same dense id in both and results can be compared row by row.
Duplicate, self-loop and direction policies are the same :class:`GraphOptions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sparkgraph.errors import (
    EmptyGraphError,
    GraphTooLargeError,
    InvalidWeightError,
    MissingColumnError,
    NullIdError,
    UnknownVertexError,
)
from sparkgraph.graph import Graph, GraphOptions

log = logging.getLogger(__name__)

# Bytes per stored arc on the driver: int64 src+dst+float64 weight while collecting, plus CSR.
BYTES_PER_ARC = 40
DEFAULT_MAX_BYTES = 2 * 1024**3


@dataclass
class LocalGraph:
    """A graph held on one machine.

    Attributes:
        adjacency: ``n x n`` CSR matrix, ``adjacency[u, v]`` = weight of arc u->v
            (both directions stored when undirected).
        names: ``names[i]`` is the caller's id of dense id ``i`` (sorted order).
        directed, weighted: As built.

    Example:
        >>> lg = LocalGraph.from_file("../shared/data/karate/edges.tsv.gz", directed=False, weight="weight")
        >>> lg.n, lg.m
        (34, 78)
    """

    adjacency: sp.csr_matrix
    names: np.ndarray
    directed: bool
    weighted: bool

    @property
    def n(self) -> int:
        return self.adjacency.shape[0]

    @property
    def num_arcs(self) -> int:
        return self.adjacency.nnz

    @property
    def m(self) -> int:
        if self.directed:
            return self.adjacency.nnz
        loops = int(np.count_nonzero(self.adjacency.diagonal()))
        return (self.adjacency.nnz - loops) // 2 + loops

    def out_degrees(self) -> np.ndarray:
        return np.diff(self.adjacency.indptr)

    def weighted_out_degrees(self) -> np.ndarray:
        return np.asarray(self.adjacency.sum(axis=1)).ravel()

    def ids_of(self, names: Any, what: str = "vertex") -> np.ndarray:
        """Dense ids of caller ids; raises UnknownVertexError for ids not in the graph."""
        names = np.asarray(list(names) if not isinstance(names, np.ndarray) else names)
        pos = np.searchsorted(self.names, names)
        pos = np.clip(pos, 0, self.n - 1)
        bad = self.names[pos] != names
        if bad.any():
            raise UnknownVertexError(
                f"{what} ids not in the graph: {names[bad][:5].tolist()}; use ids that appear in the graph"
            )
        return pos.astype(np.int64)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_pandas(cls, edges: pd.DataFrame, vertices: pd.DataFrame | None = None,
                    options: GraphOptions | None = None, **kwargs: Any) -> LocalGraph:
        """Build from a pandas edges table, with the same rules as ``Graph.from_edges``."""
        o = options or GraphOptions(**kwargs)
        wanted = [o.src, o.dst] + ([o.weight] if o.weight else [])
        missing = [c for c in wanted if c not in edges.columns]
        if missing:
            raise MissingColumnError(f"edges table has no column {missing}; rename it or pass src=/dst=/weight=")
        if len(edges) == 0:
            raise EmptyGraphError("the edge set is empty; a graph needs at least one edge")
        s, d = edges[o.src].to_numpy(), edges[o.dst].to_numpy()
        if pd.isna(edges[o.src]).any() or pd.isna(edges[o.dst]).any():
            raise NullIdError("some edges have a null endpoint; drop them first")
        w = edges[o.weight].to_numpy(dtype=np.float64) if o.weight else np.ones(len(edges))
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise InvalidWeightError(f"weights in {o.weight!r} must be finite and > 0; drop or fix those edges")
        if o.self_loops == "drop":
            keep = s != d
            s, d, w = s[keep], d[keep], w[keep]
        names = np.unique(np.concatenate([s, d]))
        if vertices is not None:
            vnames = np.unique(vertices[o.vertex_id].to_numpy())
            if not np.isin(names, vnames).all():
                raise UnknownVertexError("edges refer to vertices missing from the vertices table")
            names = vnames
        src = np.searchsorted(names, s)
        dst = np.searchsorted(names, d)
        return cls._from_arrays(src, dst, w, names, o)

    @classmethod
    def _from_arrays(cls, src: np.ndarray, dst: np.ndarray, w: np.ndarray, names: np.ndarray,
                     o: GraphOptions) -> LocalGraph:
        n = len(names)
        if not o.directed:
            src, dst = np.minimum(src, dst), np.maximum(src, dst)
        key = src.astype(np.int64) * n + dst
        if o.duplicates == "first":
            uniq, first = np.unique(key, return_index=True)
            weights = w[first]
        else:
            uniq, inverse = np.unique(key, return_inverse=True)
            if o.duplicates == "sum":
                weights = np.bincount(inverse, weights=w, minlength=len(uniq))
            else:
                weights = np.full(len(uniq), -np.inf)
                np.maximum.at(weights, inverse, w)
        us, vs = uniq // n, uniq % n
        if not o.directed:
            off = us != vs
            us, vs, weights = np.concatenate([us, vs[off]]), np.concatenate([vs, us[off]]), np.concatenate(
                [weights, weights[off]])
        adjacency = sp.csr_matrix((weights, (us, vs)), shape=(n, n))
        adjacency.sort_indices()
        return cls(adjacency, names, o.directed, o.weight is not None)

    @classmethod
    def from_file(cls, path: str, options: GraphOptions | None = None, header: bool = False,
                  sep: str | None = None, **kwargs: Any) -> LocalGraph:
        """Read a TSV/CSV edge list (gzip or not) straight into a LocalGraph.

        Columns are named ``src, dst[, weight]`` when there is no header; the weight
        column is used when present unless ``weight=None`` is given explicitly.
        """
        sep = sep or ("," if ".csv" in path else "\t")
        table = pd.read_csv(path, sep=sep, header=0 if header else None, comment="#")
        if not header:
            table.columns = ["src", "dst", "weight"][: table.shape[1]] + [f"c{i}" for i in range(3, table.shape[1])]
        if options is None and "weight" not in kwargs and "weight" in table.columns:
            kwargs["weight"] = "weight"
        return cls.from_pandas(table, options=options, **kwargs)

    @classmethod
    def from_graph(cls, graph: Graph, max_bytes: int = DEFAULT_MAX_BYTES) -> LocalGraph:
        """Collect a distributed :class:`Graph` to the driver, after checking it fits.

        Args:
            graph: The distributed graph.
            max_bytes: Driver memory this may use; about 40 bytes per arc.

        Raises:
            GraphTooLargeError: The estimate exceeds ``max_bytes``.
        """
        need = graph.num_arcs * BYTES_PER_ARC + graph.n * 16
        if need > max_bytes:
            raise GraphTooLargeError(
                f"collecting {graph.num_arcs} arcs needs about {need / 2**30:.1f} GiB on the driver, over the "
                f"{max_bytes / 2**30:.1f} GiB budget; raise max_bytes (and spark.driver.memory) or stay distributed"
            )
        arcs = graph.edges.toPandas()
        id_map = graph.vertices.toPandas().sort_values("id")
        names = id_map["name"].to_numpy()
        n = graph.n
        adjacency = sp.csr_matrix(
            (arcs["weight"].to_numpy(np.float64), (arcs["src"].to_numpy(np.int64), arcs["dst"].to_numpy(np.int64))),
            shape=(n, n),
        )
        adjacency.sort_indices()
        return cls(adjacency, names, graph.directed, graph.weighted)
