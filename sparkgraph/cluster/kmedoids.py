"""k-medoids on Spark: CLARA and partitioned FasterPAM, for data no n x n matrix can hold.

CLARA (Kaufman & Rousseeuw 1990, with FasterPAM as the solver): FasterPAM on ``samples`` samples
of 80 + 4k points, each solved in one task, the best medoids so far carried into the next sample;
every point is assigned and the total deviation summed on the executors; the best sample wins.

Partitioned: FasterPAM on groups of about ``group_size`` points, all groups in parallel; each
group's medoids, weighted by their cluster sizes, form the next level's points, grouped and
solved again until one group is left (levels shrink the points at least twentyfold by default,
so a level costs ``group_size`` times the points of the level before); then refinement rounds,
each one pass over the data: every point goes to its nearest medoid, and each cluster's medoid
is replaced by the member (among the medoid and ``refine_candidates`` members drawn in the pass
before) with the smallest sum of dissimilarities to the cluster, while the loss falls by at least
``tolerance``. No round can raise the loss: reassigning cannot, and a cluster's sum with its new
medoid is below its sum with the old one.

The loops are :mod:`sparkgraph.cluster.plan`; every random choice is a hash of (seed, point key)
(:mod:`sparkgraph.udfs.medoid_steps`), so the result does not depend on partitioning or cluster
size, and :mod:`sparkgraph.local.kmedoids` finds the same medoids.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkgraph.cluster import plan
from sparkgraph.cluster.params import KMedoidsParams
from sparkgraph.cluster.plan import PassStats
from sparkgraph.cluster.points import Points, points_of
from sparkgraph.errors import ParameterError
from sparkgraph.graph import Graph
from sparkgraph.session import job_label, truncate_lineage
from sparkgraph.udfs import medoid_steps as steps

log = logging.getLogger(__name__)

# One table for what a pass reports: per cluster (STATS) its size and deviation, per candidate slot (SCORE)
# its sum, per proposed member (PROPOSAL) its distance to its medoid (value) and its draw.
PASS_SCHEMA = "kind int, cluster int, count long, value double, draw long, key long"
STATS, SCORE, PROPOSAL = 0, 1, 2


@dataclass
class KMedoidsResult:
    """What :func:`kmedoids` found.

    Attributes:
        medoids: pandas ``(cluster, medoid, size, deviation)``: the caller's id of each medoid, its
            cluster's size and sum of dissimilarities.
        assignments: ``(id, cluster, medoid, distance)`` for every point (computed when read).
        loss: Total deviation: the sum over points of the dissimilarity to their medoid.
        rounds: One dict per step (sample, level or refinement round) with its loss or sizes and seconds.
        method, metric, k, n: As run.
        unreachable: Vertices no medoid reaches (hop metric only; each counts ``n`` hops in the loss).
    """

    medoids: pd.DataFrame
    assignments: DataFrame
    loss: float
    rounds: list[dict]
    method: str
    metric: str
    k: int
    n: int
    unreachable: int = 0
    persisted: list[DataFrame] = field(default_factory=list, repr=False)

    def unpersist(self) -> None:
        """Release the cached input ``assignments`` is computed from."""
        for df in self.persisted:
            df.unpersist()


def kmedoids(data: DataFrame | Graph, params: KMedoidsParams | None = None) -> KMedoidsResult:
    """k medoids (real points) and the cluster of every point.

    Args:
        data: A DataFrame of ids and vectors (``array<float|double>`` or ML vectors, e.g. the output of
            :func:`sparkgraph.embed.fastrp`) or of ids and MinHash signatures (``array<long>``, metric
            jaccard); or a :class:`Graph` for hop distances (metric hop).
        params: :class:`KMedoidsParams`.

    Returns:
        :class:`KMedoidsResult`; call its ``unpersist()`` once ``assignments`` is written.

    Raises:
        ParameterError, InputError: k outside 1..n, a metric that does not fit the data, null or repeated
        ids, NaN, infinite or missing vectors, vectors of different lengths.

    Example:
        >>> result = kmedoids(fastrp(graph), KMedoidsParams(k=7, metric="cosine"))
        >>> result.loss, result.medoids
        >>> result.assignments.show(5); result.unpersist()
    """
    params = params or KMedoidsParams()
    if isinstance(data, Graph):
        if params.metric != "hop":
            raise ParameterError(f"a Graph gives hop distances but metric={params.metric!r}; use metric: hop, or "
                                 "give a table of (id, vector) such as fastrp(graph)", key="metric")
        from sparkgraph.cluster.hop import hop_kmedoids
        return hop_kmedoids(data, params)
    if params.metric == "hop":
        raise ParameterError("metric='hop' needs a Graph; give the graph, or pick euclidean, cosine or jaccard "
                             "for a table of vectors", key="metric")
    started = time.perf_counter()
    points = points_of(data, params)
    backend = SparkPoints(points, params)
    with job_label(points.table.sparkSession, f"k-medoids ({params.chosen_method}, k={params.k})"):
        run = plan.clara if params.chosen_method == "clara" else plan.partitioned
        medoids, stats, rounds = run(backend, params)
    backend.release()
    ids = backend.ids_of(medoids)
    table = pd.DataFrame({"cluster": np.arange(params.k), "medoid": ids, "size": stats.counts,
                          "deviation": stats.deviations})
    result = KMedoidsResult(table, backend.assignments(medoids, ids), stats.loss, rounds, params.chosen_method,
                            params.metric, params.k, points.n, persisted=[points.table])
    log.info("k-medoids: k=%d over %d points, loss %.6g, %d steps, %.1fs", params.k, points.n, result.loss,
             len(rounds), time.perf_counter() - started)
    return result


class SparkPoints:
    """The :class:`sparkgraph.cluster.plan.Backend` over a table of points on Spark."""

    def __init__(self, points: Points, params: KMedoidsParams):
        self.points, self.params, self.n = points, params, points.n
        self.schema = f"key long, vector {points.vector_type}, weight double"
        self.current: DataFrame = points.table.select("key", "vector", F.lit(1.0).alias("weight"))
        self.level_table: DataFrame | None = None
        self.cache: dict[int, np.ndarray] = {}

    # ---------------------------------------------------------------- solves
    def _solve_on_executor(self, rows: DataFrame, seed: int, near: int = 0) -> tuple[list[int], pd.DataFrame]:
        """Weighted FasterPAM on ``rows (key, vector, weight)`` in one task: the medoids' keys (in key order),
        and ``(cluster, key)`` of the ``near`` members of each cluster nearest its medoid."""
        k, metric, init, max_iter = self.params.k, self.params.metric, self.params.init, self.params.max_iter

        def solve(frame: pd.DataFrame) -> pd.DataFrame:
            return steps.solve_points(frame.drop(columns="group"), k, metric, init, max_iter, seed, near)

        schema = self.schema + ", cluster long, candidate boolean"
        solved = rows.withColumn("group", F.lit(0)).groupBy("group").applyInPandas(solve, schema).toPandas()
        self.cache.update({int(key): np.asarray(v) for key, v in zip(solved["key"], solved["vector"], strict=True)})
        medoids, candidates = solved[~solved["candidate"]], solved[solved["candidate"]]
        return ([int(key) for key in medoids.sort_values("key")["key"]],
                candidates[["cluster", "key"]].sort_values(["cluster", "key"]).reset_index(drop=True))

    def solve_sample(self, sample_no: int, carried: list[int], seed: int) -> list[int]:
        size, run_seed, salt = min(self.params.points_per_sample, self.n), self.params.seed, steps.SAMPLE_SALT + sample_no

        def with_draw(batches):
            for frame in batches:
                yield frame.assign(draw=steps.draws(frame["key"].to_numpy(np.int64), run_seed, salt))

        table = self.points.table.select("key", "vector")
        drawn = table.mapInPandas(with_draw, f"key long, vector {self.points.vector_type}, draw long")
        sample = drawn.orderBy("draw", "key").limit(size).select("key", "vector")
        if carried:
            sample = sample.unionByName(table.filter(F.col("key").isin(carried))).dropDuplicates(["key"])
        return self._solve_on_executor(sample.withColumn("weight", F.lit(1.0)), seed)[0]

    def reduce_level(self, level: int, groups: int) -> int:
        seed, k, metric = self.params.seed, self.params.k, self.params.metric
        init, max_iter = self.params.init, self.params.max_iter

        def with_group(batches):
            for frame in batches:
                yield frame.assign(group=steps.group_of(frame["key"].to_numpy(np.int64), seed, level, groups))

        def solve(frame: pd.DataFrame) -> pd.DataFrame:
            group = int(frame["group"].iloc[0])
            return steps.solve_points(frame.drop(columns="group"), k, metric, init, max_iter,
                                      steps.solve_seed(seed, steps.SOLVE_SALT + level, group))[["key", "vector", "weight"]]

        grouped = self.current.mapInPandas(with_group, self.schema + ", group long")
        solved = truncate_lineage(grouped.groupBy("group").applyInPandas(solve, self.schema))
        self.release()
        self.current = self.level_table = solved
        return solved.count()

    def solve_last(self, seed: int, near: int) -> tuple[list[int], pd.DataFrame]:
        return self._solve_on_executor(self.current, seed, near)

    def release(self) -> None:
        if self.level_table is not None:
            self.level_table.unpersist()
            self.level_table = None

    # ---------------------------------------------------------------- passes over the data
    def vectors(self, keys: list[int]) -> np.ndarray:
        """The vectors of a few points (medoids, candidates), fetched once each."""
        missing = [k for k in keys if k not in self.cache]
        if missing:
            rows = self.points.table.filter(F.col("key").isin(missing)).select("key", "vector").collect()
            self.cache.update({int(r["key"]): np.asarray(r["vector"]) for r in rows})
        return steps.stack([self.cache[k] for k in keys])

    def assign_pass(self, medoids: list[int], candidates: list[int], candidate_cluster: np.ndarray, round_no: int,
                    per_cluster: int) -> PassStats:
        """One Spark job over the points and one over its small output (see :class:`PassStats`)."""
        k, metric, seed = len(medoids), self.params.metric, self.params.seed
        medoid_matrix = self.vectors(medoids)
        candidate_matrix, slots = (self.vectors(candidates), len(candidates)) if candidates else (None, 0)

        def kernel(batches):
            counts, deviations, scores = np.zeros(k, np.int64), np.zeros(k), np.zeros(slots)
            kept = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))  # proposed so far: cluster, distance, key
            for frame in batches:
                keys, vectors = frame["key"].to_numpy(np.int64), steps.stack(frame["vector"])
                labels, distances = steps.nearest(vectors, medoid_matrix, metric)
                counts += np.bincount(labels, minlength=k)
                deviations += np.bincount(labels, weights=distances, minlength=k)
                if slots:
                    scores += steps.candidate_scores(vectors, labels, candidate_matrix, candidate_cluster, metric)
                if per_cluster:
                    pick = steps.proposals(keys, labels, distances, seed, round_no, per_cluster)
                    merged = [np.r_[old, add] for old, add in zip(kept, (labels[pick], distances[pick], keys[pick]),
                                                                  strict=True)]
                    keep = steps.proposals(merged[2], merged[0], merged[1], seed, round_no, per_cluster)
                    kept = tuple(a[keep] for a in merged)
            yield pd.DataFrame({"kind": STATS, "cluster": np.arange(k), "count": counts, "value": deviations,
                                "draw": 0, "key": 0})
            if slots:
                yield pd.DataFrame({"kind": SCORE, "cluster": np.arange(slots), "count": 0, "value": scores,
                                    "draw": 0, "key": 0})
            if len(kept[0]):
                yield pd.DataFrame({"kind": PROPOSAL, "cluster": kept[0], "count": 0, "value": kept[1],
                                    "draw": steps.draws(kept[2], seed, steps.CANDIDATE_SALT + round_no),
                                    "key": kept[2]})

        out = self.points.table.mapInPandas(kernel, PASS_SCHEMA).persist(StorageLevel.MEMORY_AND_DISK)
        sums = (out.filter(F.col("kind") != PROPOSAL).groupBy("kind", "cluster")
                .agg(F.sum("count").alias("count"), F.sum("value").alias("value"),
                     F.lit(0).cast("long").alias("draw"), F.lit(0).cast("long").alias("key")))
        by_cluster = Window.partitionBy("cluster")
        near, drawn = math.ceil(per_cluster / 2), per_cluster // 2
        proposed = (out.filter(F.col("kind") == PROPOSAL)
                    .withColumn("near", F.row_number().over(by_cluster.orderBy("value", "key")))
                    .withColumn("drawn", F.row_number().over(by_cluster.orderBy("draw", "key")))
                    .filter((F.col("near") <= near) | (F.col("drawn") <= drawn)).drop("near", "drawn"))
        rows = sums.unionByName(proposed).toPandas()
        out.unpersist()
        return _pass_stats(rows, k, slots)

    def ids_of(self, keys: list[int]) -> list:
        """The caller's ids of a few points."""
        rows = self.points.table.filter(F.col("key").isin(keys)).select("key", "id").collect()
        by_key = {int(r["key"]): r["id"] for r in rows}
        return [by_key[k] for k in keys]

    def assignments(self, medoids: list[int], ids: list) -> DataFrame:
        """``(id, cluster, medoid, distance)`` for every point, computed when read."""
        medoid_matrix, metric = self.vectors(medoids), self.params.metric
        medoid_ids = np.empty(len(ids), dtype=object)
        medoid_ids[:] = ids
        id_type = self.points.id_field.dataType
        schema = T.StructType([T.StructField("id", id_type), T.StructField("cluster", T.IntegerType()),
                               T.StructField("medoid", id_type), T.StructField("distance", T.DoubleType())])

        def kernel(batches):
            for frame in batches:
                labels, distances = steps.nearest(steps.stack(frame["vector"]), medoid_matrix, metric)
                yield pd.DataFrame({"id": frame["id"], "cluster": labels.astype(np.int32),
                                    "medoid": medoid_ids[labels], "distance": distances})

        return self.points.table.mapInPandas(kernel, schema)


def _pass_stats(rows: pd.DataFrame, k: int, slots: int) -> PassStats:
    """:class:`PassStats` from the collected rows of a pass (kinds STATS, SCORE, PROPOSAL)."""
    counts, deviations, scores = np.zeros(k, np.int64), np.zeros(k), np.zeros(slots)
    stats, scored = rows[rows["kind"] == STATS], rows[rows["kind"] == SCORE]
    counts[stats["cluster"].to_numpy()] = stats["count"].to_numpy()
    deviations[stats["cluster"].to_numpy()] = stats["value"].to_numpy()
    scores[scored["cluster"].to_numpy()] = scored["value"].to_numpy()
    proposed = rows[rows["kind"] == PROPOSAL].sort_values(["cluster", "key"])
    return PassStats(counts, deviations, scores, proposed[["cluster", "key"]].reset_index(drop=True))
