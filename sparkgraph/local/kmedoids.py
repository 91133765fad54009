"""k-medoids on one machine: FasterPAM on a matrix, the twin of :func:`sparkgraph.cluster.kmedoids`, and full
FasterPAM on a table of points.

``fasterpam``, ``alternating``, ``init_medoids`` and ``dissimilarity_matrix`` are the numpy kernels of
:mod:`sparkgraph.udfs.kmedoids` (the same code the executors run), e.g.
``fasterpam(dissimilarity_matrix(x, "euclidean"), init_medoids(diss, 10, "lab", seed=0))``.

:func:`kmedoids` runs the same CLARA and partitioned loops (:mod:`sparkgraph.cluster.plan`) with the
same hashed choices, on numpy arrays, so it finds the medoids Spark finds. :func:`fasterpam_all`
runs FasterPAM on the full n x n matrix: the reference the distributed losses are measured against
while that matrix fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csgraph

from sparkgraph.cluster import plan
from sparkgraph.cluster.params import KMedoidsParams
from sparkgraph.cluster.plan import PassStats
from sparkgraph.errors import InputError, MissingColumnError, ParameterError
from sparkgraph.local.graph import LocalGraph
from sparkgraph.udfs import medoid_steps as steps
from sparkgraph.udfs.kmedoids import PamResult, alternating, dissimilarity_matrix, fasterpam, init_medoids


@dataclass
class LocalKMedoidsResult:
    """As :class:`sparkgraph.cluster.KMedoidsResult`, with pandas frames: ``medoids (cluster, medoid, size,
    deviation)``, ``assignments (id, cluster, medoid, distance)``, ``loss``, ``rounds``, ``unreachable``."""

    medoids: pd.DataFrame
    assignments: pd.DataFrame
    loss: float
    rounds: list[dict]
    method: str
    metric: str
    k: int
    n: int
    unreachable: int = 0


def points_frame(data: pd.DataFrame, params: KMedoidsParams) -> tuple[np.ndarray, np.ndarray]:
    """The ids and the stacked vectors of a pandas table of points (the checks of the Spark version that
    matter on one machine)."""
    if params.id_column not in data.columns:
        raise MissingColumnError(f"the data has no id column {params.id_column!r}; set id_column")
    column = params.vector_column or next((c for c in data.columns if c != params.id_column), None)
    if column not in data.columns:
        raise MissingColumnError(f"the data has no column {column!r}; set vector_column")
    lengths = {len(v) for v in data[column]}
    if len(lengths) > 1:
        raise InputError(f"{column!r} holds vectors of different lengths; give every point the same length")
    vectors = steps.stack(data[column])
    if vectors.dtype.kind == "f" and not np.isfinite(vectors).all():
        raise InputError(f"{column!r} holds NaN or infinite values; fix or drop them")
    if params.k > len(data):
        raise ParameterError(f"k={params.k} is above the number of points ({len(data)}); give k <= {len(data)}",
                             key="k")
    return data[params.id_column].to_numpy(), vectors


class LocalPoints:
    """The :class:`sparkgraph.cluster.plan.Backend` over numpy arrays."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray, params: KMedoidsParams):
        self.keys, self.vectors, self.params, self.n = keys, vectors, params, len(keys)
        self.row_of = {int(k): i for i, k in enumerate(keys)}
        self.current = pd.DataFrame({"key": keys, "vector": list(vectors), "weight": 1.0})

    def _solve(self, frame: pd.DataFrame, seed: int, near: int = 0) -> pd.DataFrame:
        p = self.params
        return steps.solve_points(frame, p.k, p.metric, p.init, p.max_iter, seed, near)

    def solve_sample(self, sample_no: int, carried: list[int], seed: int) -> list[int]:
        size = min(self.params.points_per_sample, self.n)
        draws = steps.draws(self.keys, self.params.seed, steps.SAMPLE_SALT + sample_no)
        rows = set(np.lexsort((self.keys, draws))[:size].tolist()) | {self.row_of[k] for k in carried}
        rows = sorted(rows)
        frame = pd.DataFrame({"key": self.keys[rows], "vector": list(self.vectors[rows]), "weight": 1.0})
        return sorted(int(k) for k in self._solve(frame, seed)["key"])

    def reduce_level(self, level: int, groups: int) -> int:
        group = steps.group_of(self.current["key"].to_numpy(np.int64), self.params.seed, level, groups)
        parts = [self._solve(frame, steps.solve_seed(self.params.seed, steps.SOLVE_SALT + level, int(g)))
                 [["key", "vector", "weight"]] for g, frame in self.current.groupby(group, sort=True)]
        self.current = pd.concat(parts, ignore_index=True)
        return len(self.current)

    def solve_last(self, seed: int, near: int) -> tuple[list[int], pd.DataFrame]:
        solved = self._solve(self.current, seed, near)
        medoids, candidates = solved[~solved["candidate"]], solved[solved["candidate"]]
        return [int(k) for k in medoids["key"]], candidates[["cluster", "key"]].sort_values(["cluster", "key"])

    def matrix(self, keys: list[int]) -> np.ndarray:
        return self.vectors[[self.row_of[k] for k in keys]]

    def assign_pass(self, medoids: list[int], candidates: list[int], candidate_cluster: np.ndarray, round_no: int,
                    per_cluster: int) -> PassStats:
        k, metric = len(medoids), self.params.metric
        labels, distances = steps.nearest(self.vectors, self.matrix(medoids), metric)
        scores = (steps.candidate_scores(self.vectors, labels, self.matrix(candidates), candidate_cluster, metric)
                  if candidates else np.zeros(0))
        pick = (steps.proposals(self.keys, labels, distances, self.params.seed, round_no, per_cluster) if per_cluster
                else np.zeros(0, np.int64))
        proposed = pd.DataFrame({"cluster": labels[pick], "key": self.keys[pick]}).sort_values(["cluster", "key"])
        return PassStats(np.bincount(labels, minlength=k), np.bincount(labels, weights=distances, minlength=k),
                         scores, proposed)

    def assignments(self, ids: np.ndarray, medoids: list[int]) -> pd.DataFrame:
        labels, distances = steps.nearest(self.vectors, self.matrix(medoids), self.params.metric)
        medoid_ids = ids[[self.row_of[k] for k in medoids]]
        return pd.DataFrame({"id": ids, "cluster": labels.astype(np.int32), "medoid": medoid_ids[labels],
                             "distance": distances})


class LocalHops:
    """The CLARA backend under hop distance: scipy's breadth-first shortest paths from the samples."""

    def __init__(self, graph: LocalGraph, params: KMedoidsParams):
        self.params, self.n = params, graph.n
        keys = np.arange(graph.n, dtype=np.int64)
        size = min(params.points_per_sample, graph.n)
        self.samples = [sorted(np.lexsort((keys, steps.draws(keys, params.seed, steps.SAMPLE_SALT + i)))[:size]
                               .tolist()) for i in range(params.samples)]
        self.sources = sorted(set().union(*self.samples))
        adjacency = graph.adjacency.copy()
        adjacency.data[:] = 1.0
        hops = csgraph.shortest_path(adjacency, directed=False, unweighted=True, indices=self.sources)
        self.hops = np.where(np.isinf(hops), np.nan, hops)  # rows: sources, columns: vertices
        self.row_of = {s: i for i, s in enumerate(self.sources)}

    def solve_sample(self, sample_no: int, carried: list[int], seed: int) -> list[int]:
        order = np.asarray(sorted(set(self.samples[sample_no]) | set(carried)), dtype=np.int64)
        block = self.hops[[self.row_of[int(s)] for s in order]][:, order].T  # rows: vertices, columns: sources
        diss = np.where(np.isnan(block), float(self.n), block)
        np.fill_diagonal(diss, 0.0)
        positions, _, _ = steps.solve(diss, np.ones(len(order)), self.params.k, self.params.init,
                                      self.params.max_iter, seed)
        return sorted(int(v) for v in order[positions])

    def nearest(self, medoids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Cluster (-1 when unreached) and hops of every vertex."""
        block = self.hops[[self.row_of[m] for m in medoids]].T
        filled = np.where(np.isnan(block), np.inf, block)
        labels = np.argmin(filled, axis=1)
        distances = filled[np.arange(self.n), labels]
        reached = np.isfinite(distances)
        return np.where(reached, labels, -1), np.where(reached, distances, float(self.n))

    def assign_pass(self, medoids: list[int], candidates: list[int], candidate_cluster: np.ndarray, round_no: int,
                    per_cluster: int) -> PassStats:
        labels, distances = self.nearest(medoids)
        reached = labels >= 0
        k = len(medoids)
        return PassStats(np.bincount(labels[reached], minlength=k),
                         np.bincount(labels[reached], weights=distances[reached], minlength=k), np.zeros(0),
                         pd.DataFrame({"cluster": [], "key": []}), unreachable=int((~reached).sum()),
                         penalty=float(self.n))


def kmedoids(data: pd.DataFrame | LocalGraph, params: KMedoidsParams | None = None) -> LocalKMedoidsResult:
    """The local twin of :func:`sparkgraph.cluster.kmedoids`: same parameters, same medoids.

    Args:
        data: A pandas table of ids and vectors (or MinHash signatures), or a :class:`LocalGraph` for hops.
        params: :class:`KMedoidsParams`.

    Example:
        >>> from sparkgraph.local.fastrp import fastrp
        >>> emb = fastrp(graph, FastRPParams(dimension=32))
        >>> table = pd.DataFrame({"id": graph.names, "embedding": list(emb)})
        >>> kmedoids(table, KMedoidsParams(k=7, metric="cosine")).loss
    """
    params = params or KMedoidsParams()
    if isinstance(data, LocalGraph):
        if params.metric != "hop":
            raise ParameterError(f"a graph gives hop distances but metric={params.metric!r}; use metric: hop",
                                 key="metric")
        if params.k > data.n:
            raise ParameterError(f"k={params.k} is above the number of vertices ({data.n}); give k <= {data.n}",
                                 key="k")
        hops = LocalHops(data, params)
        medoids, stats, rounds = plan.clara(hops, params)
        labels, distances = hops.nearest(medoids)
        names = np.asarray(data.names)
        medoid_of = np.r_[names[medoids], [None]]
        assignments = pd.DataFrame({"id": names, "cluster": labels, "medoid": medoid_of[labels],
                                    "distance": distances})
        return _result(names[medoids], stats, assignments, rounds, "clara", params, data.n)
    ids, vectors = points_frame(data, params)
    backend = LocalPoints(steps.point_keys(ids), vectors, params)
    run = plan.clara if params.chosen_method == "clara" else plan.partitioned
    medoids, stats, rounds = run(backend, params)
    return _result(ids[[backend.row_of[k] for k in medoids]], stats, backend.assignments(ids, medoids), rounds,
                   params.chosen_method, params, len(ids))


def _result(medoid_ids, stats: PassStats, assignments: pd.DataFrame, rounds: list[dict], method: str,
            params: KMedoidsParams, n: int) -> LocalKMedoidsResult:
    table = pd.DataFrame({"cluster": np.arange(len(medoid_ids)), "medoid": list(medoid_ids), "size": stats.counts,
                          "deviation": stats.deviations})
    return LocalKMedoidsResult(table, assignments, stats.loss, rounds, method, params.metric, params.k, n,
                               stats.unreachable)


def fasterpam_all(data: pd.DataFrame, params: KMedoidsParams | None = None, max_bytes: int = 4 * 1024**3
                  ) -> tuple[np.ndarray, float]:
    """FasterPAM on the full dissimilarity matrix of a pandas table of points (the reference).

    Returns:
        (the medoids' ids, the loss).

    Raises:
        ParameterError: the n x n float64 matrix would exceed ``max_bytes``.
    """
    params = params or KMedoidsParams()
    ids, vectors = points_frame(data, params)
    need = 8 * len(ids) ** 2
    if need > max_bytes:
        raise ParameterError(f"the full matrix of {len(ids)} points needs {need / 2**30:.1f} GiB, over max_bytes="
                             f"{max_bytes / 2**30:.1f} GiB; use kmedoids() (CLARA or partitioned)", key="max_bytes")
    keys = steps.point_keys(ids)
    order = np.argsort(keys, kind="stable")
    diss = dissimilarity_matrix(vectors[order], params.metric)
    positions, _, loss = steps.solve(diss, np.ones(len(ids)), params.k, params.init, params.max_iter,
                                     steps.solve_seed(params.seed, steps.SOLVE_SALT, 0))
    return ids[order][positions], loss


# FasterPAM and its companions on a matrix are the executor kernels themselves, served here too.
__all__ = ["LocalKMedoidsResult", "PamResult", "alternating", "dissimilarity_matrix", "fasterpam", "fasterpam_all",
           "init_medoids", "kmedoids"]
