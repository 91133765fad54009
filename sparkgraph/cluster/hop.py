"""k-medoids under hop distance in a graph: CLARA over distances from a multi-source BFS on Spark.

The hop distance of two vertices is the fewest edges on a path between them, edges taken in
both directions (so it is symmetric, as k-medoids needs). A vertex no medoid reaches is given
``n`` hops (more than any path) in the loss and is reported with cluster -1 and no medoid.

Every CLARA sample is drawn first (the ``80 + 4k`` vertices with the smallest draws of (seed,
sample, vertex)); one breadth-first search from all their vertices at once then gives every
distance CLARA needs: between the vertices of a sample (to solve it) and from any sample vertex,
so from any medoid, to every vertex (to judge it). Its size is ``n x samples x (80 + 4k)`` rows
at most, and its rounds are the graph's eccentricity of the samples.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.cluster import plan
from sparkgraph.cluster.params import KMedoidsParams
from sparkgraph.cluster.plan import PassStats
from sparkgraph.errors import ParameterError
from sparkgraph.graph import Graph, union_all
from sparkgraph.session import job_label, truncate_lineage
from sparkgraph.udfs import medoid_steps as steps

log = logging.getLogger(__name__)


def sample_vertices(graph: Graph, params: KMedoidsParams) -> list[list[int]]:
    """The dense ids of each CLARA sample (sorted), drawn from (seed, sample number, vertex)."""
    size, seed = min(params.points_per_sample, graph.n), params.seed
    names = [f"d{i}" for i in range(params.samples)]

    def with_draws(batches):
        for frame in batches:
            keys = frame["id"].to_numpy(np.int64)
            yield frame.assign(**{name: steps.draws(keys, seed, steps.SAMPLE_SALT + i) for i, name in enumerate(names)})

    drawn = graph.vertices.select("id").mapInPandas(with_draws, "id long, " + ", ".join(f"{c} long" for c in names))
    drawn = drawn.persist(StorageLevel.MEMORY_AND_DISK)
    samples = [sorted(int(r["id"]) for r in drawn.orderBy(name, "id").limit(size).select("id").collect())
               for name in names]
    drawn.unpersist()
    return samples


def undirected_arcs(graph: Graph) -> DataFrame:
    """``(src, dst)`` once per direction of every edge, self-loops dropped, persisted."""
    arcs = graph.edges.select("src", "dst")
    if graph.directed:
        arcs = arcs.unionByName(arcs.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct()
    return arcs.filter(F.col("src") != F.col("dst")).persist(StorageLevel.MEMORY_AND_DISK)


def multi_source_bfs(graph: Graph, sources: list[int]) -> DataFrame:
    """``(vertex, source, hops)`` for every vertex reachable from each source, persisted (unpersist it).

    In an undirected graph a neighbour of a vertex ``h`` hops from a source is ``h - 1``, ``h`` or
    ``h + 1`` hops from it, so each round only removes what the last two levels hold, and a round
    costs its frontier, not everything found so far.
    """
    spark = graph.spark
    arcs = undirected_arcs(graph)
    level = truncate_lineage(spark.createDataFrame([(s, s, 0) for s in sources], "vertex long, source long, hops int"))
    levels, before, hops = [level], None, 0
    while True:
        hops += 1
        reached = (level.join(arcs, level["vertex"] == arcs["src"]).select(F.col("dst").alias("vertex"), "source")
                   .distinct())
        for old in (level, before):
            if old is not None:
                reached = reached.join(old.select("vertex", "source"), ["vertex", "source"], "left_anti")
        nxt = truncate_lineage(reached.withColumn("hops", F.lit(hops)))
        found = nxt.count()
        log.info("hop BFS round %d: %d (vertex, source) pairs", hops, found)
        progress.advance("BFS rounds", hops, hops + 1)
        if found == 0:
            break
        levels.append(nxt)
        before, level = level, nxt
    arcs.unpersist()
    distances = union_all(levels).persist(StorageLevel.MEMORY_AND_DISK)
    distances.count()
    return distances


class SparkHops:
    """The :class:`sparkgraph.cluster.plan.Backend` of CLARA under hop distance: the samples are drawn and
    searched from when it is made (call :meth:`release` when done with its distances)."""

    def __init__(self, graph: Graph, params: KMedoidsParams):
        self.graph, self.params, self.n = graph, params, graph.n
        self.samples = sample_vertices(graph, params)
        self.sources = sorted(set().union(*self.samples))
        self.distances = multi_source_bfs(graph, self.sources)

    def solve_sample(self, sample_no: int, carried: list[int], seed: int) -> list[int]:
        """FasterPAM on the sample's hop matrix (``n`` where unreachable) in one task."""
        k, init, max_iter, n = self.params.k, self.params.init, self.params.max_iter, self.n
        order = np.asarray(sorted(set(self.samples[sample_no]) | set(carried)), dtype=np.int64)

        def solve(frame: pd.DataFrame) -> pd.DataFrame:
            diss = steps.hop_matrix(order, frame["vertex"].to_numpy(), frame["source"].to_numpy(),
                                    frame["hops"].to_numpy(), n)
            positions, _, _ = steps.solve(diss, np.ones(len(order)), k, init, max_iter, seed)
            return pd.DataFrame({"key": np.sort(order[positions])})

        members = [int(v) for v in order]
        rows = self.distances.filter(F.col("vertex").isin(members) & F.col("source").isin(members))
        solved = rows.withColumn("group", F.lit(0)).groupBy("group").applyInPandas(solve, "key long")
        return sorted(int(r["key"]) for r in solved.collect())

    def nearest(self, medoids: list[int]) -> DataFrame:
        """``(vertex, cluster, hops)`` for every vertex some medoid reaches: its nearest medoid (ties to the
        lowest cluster number)."""
        position = F.array_position(F.array(*[F.lit(m) for m in medoids]), F.col("source")) - 1
        near = (self.distances.filter(F.col("source").isin(medoids))
                .groupBy("vertex").agg(F.min(F.struct("hops", position.cast("int").alias("cluster"))).alias("m")))
        return near.select("vertex", F.col("m.cluster").alias("cluster"), F.col("m.hops").alias("hops"))

    def assign_pass(self, medoids: list[int], candidates: list[int], candidate_cluster: np.ndarray, round_no: int,
                    per_cluster: int) -> PassStats:
        rows = (self.nearest(medoids).groupBy("cluster")
                .agg(F.count(F.lit(1)).alias("size"), F.sum("hops").alias("deviation")).collect())
        sizes, deviations = np.zeros(len(medoids), np.int64), np.zeros(len(medoids))
        for r in rows:
            sizes[r["cluster"]], deviations[r["cluster"]] = r["size"], r["deviation"]
        return PassStats(sizes, deviations, np.zeros(0), pd.DataFrame({"cluster": [], "key": []}),
                         unreachable=self.n - int(sizes.sum()), penalty=float(self.n))

    def reduce_level(self, level: int, groups: int) -> int:
        raise NotImplementedError("hop distance runs CLARA only")

    def solve_last(self, seed: int, near: int) -> tuple[list[int], pd.DataFrame]:
        raise NotImplementedError("hop distance runs CLARA only")

    def assignments(self, medoids: list[int]) -> DataFrame:
        """``(id, cluster, medoid, distance)`` in the caller's ids; unreached vertices: cluster -1, no medoid,
        distance n."""
        spark = self.graph.spark
        medoid_of = spark.createDataFrame([(i, m) for i, m in enumerate(medoids)], "cluster int, medoid long")
        rows = (self.graph.vertices.select(F.col("id").alias("vertex")).join(self.nearest(medoids), "vertex", "left")
                .join(medoid_of, "cluster", "left")
                .select(F.col("vertex").alias("id"), F.coalesce("cluster", F.lit(-1)).alias("cluster"), "medoid",
                        F.coalesce(F.col("hops").cast("double"), F.lit(float(self.n))).alias("distance")))
        return self.graph.to_names(rows, "id", "medoid")

    def release(self) -> None:
        self.distances.unpersist()


def hop_kmedoids(graph: Graph, params: KMedoidsParams):
    """CLARA k-medoids of a graph's vertices under hop distance (see :func:`sparkgraph.cluster.kmedoids.kmedoids`)."""
    from sparkgraph.cluster.kmedoids import KMedoidsResult

    if params.k > graph.n:
        raise ParameterError(f"k={params.k} is above the number of vertices ({graph.n}); give k <= {graph.n}", key="k")
    started, spark = time.perf_counter(), graph.spark
    with job_label(spark, f"k-medoids (hop, k={params.k})"):
        backend = SparkHops(graph, params)
        rounds = [{"step": "BFS", "sources": len(backend.sources), "seconds": round(time.perf_counter() - started, 3)}]
        medoids, stats, sample_rounds = plan.clara(backend, params)
    if stats.unreachable:
        log.warning("%d vertices are reached by no medoid (the graph is disconnected): each counts %d hops in the "
                    "loss and gets cluster -1", stats.unreachable, graph.n)
    named = graph.to_names(spark.createDataFrame([(i, m) for i, m in enumerate(medoids)], "cluster int, id long"),
                           "id").toPandas().set_index("cluster")["id"]
    table = pd.DataFrame({"cluster": np.arange(len(medoids)), "medoid": [named[i] for i in range(len(medoids))],
                          "size": stats.counts, "deviation": stats.deviations})
    log.info("hop k-medoids: k=%d, loss %.6g, %d unreachable, %.1fs", params.k, stats.loss, stats.unreachable,
             time.perf_counter() - started)
    return KMedoidsResult(table, backend.assignments(medoids), stats.loss, rounds + sample_rounds, "clara", "hop",
                          params.k, graph.n, stats.unreachable, persisted=[backend.distances])
