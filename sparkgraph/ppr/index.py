"""A walk index of PPR fingerprints and batched queries over it (PowerWalk, Liu et al. CIKM 2016).

Offline, :func:`build_walk_index` estimates every vertex's PPR vector from ``walks_per_vertex``
walks and keeps its ``fingerprint_size`` largest entries. Online, :func:`query` pushes flow
exactly from the sources for a few rounds, then finishes the flow still in flight with the
fingerprints of the vertices where it stands:

    π_s = Σ_{t<T} α (1-α)^t e_s P^t  +  Σ_v f_T(v) π_v,     f_T = (1-α)^T e_s P^T.

Each query vector thus mixes many fingerprints (many more walks) and is more accurate than
the source's own fingerprint. All sources of a batch share each round's join.

Dangling vertices under the ``source`` policy jump back to the *query's* source, which the
fingerprint of another vertex cannot know. Fingerprints are therefore built from walks that end
at a jump, and store the share of walks that did as target ``-1`` (J_v). A query composes
x_s and J_s the same way and returns π_s = x_s / (1 - J_s): after a jump the walk starts afresh.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkgraph.errors import GraphTooLargeError, ParameterError
from sparkgraph.graph import Graph, ids_of, names_of, union_all
from sparkgraph.io import atomic_output, read_manifest, resolve_path
from sparkgraph.ppr.fully_ppr import SCORES_SCHEMA, dense_scores, keep_top_k
from sparkgraph.ppr.params import DANGLING, STRATEGIES, PPRParams
from sparkgraph.session import job_description
from sparkgraph.udfs.compose import compose_scores

log = logging.getLogger(__name__)

JUMP = -1


@dataclass(frozen=True)
class WalkIndexParams:
    """How the walk index is built.

    Attributes:
        restart_prob: α, as for :class:`PPRParams`; queries use the same.
        walks_per_vertex: Walks per vertex behind each fingerprint (PowerWalk uses 1000).
        fingerprint_size: Entries kept per fingerprint (PowerWalk keeps 100).
        dangling: source or stop, as for :class:`PPRParams`.
        strategy: auto, broadcast or distributed, as for :class:`PPRParams`.
        seed: Random seed.
    """

    restart_prob: float = 0.15
    walks_per_vertex: int = 1000
    fingerprint_size: int = 100
    dangling: str = "source"
    strategy: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dangling not in DANGLING:
            raise ParameterError(f"dangling={self.dangling!r} is not known; use one of {', '.join(DANGLING)}")
        self.walk_params()  # validates the rest

    def walk_params(self) -> PPRParams:
        return PPRParams(restart_prob=self.restart_prob, walks_per_source=self.walks_per_vertex,
                         top_k=self.fingerprint_size, strategy=self.strategy, seed=self.seed,
                         dangling="discard" if self.dangling == "source" else "stop")


@dataclass(frozen=True)
class QueryParams:
    """How a batch of sources is answered.

    Attributes:
        rounds: Rounds T of exact flow from the sources before the fingerprints take over (PowerWalk: ~6).
        prune: Flow entries below this mass are finished at once with their fingerprint.
        top_k: Targets kept per source.
        strategy: broadcast ships the index (transitions and fingerprints, ~8 bytes per entry) to
            every task, which answers its share of sources with sparse products in numpy;
            distributed answers by joins against the partitioned index; auto picks broadcast
            when the index fits ``broadcast_max_bytes``.
        broadcast_max_bytes: Index size up to which auto picks broadcast.
        sources_per_batch: Sources answered together in one task (broadcast).
    """

    rounds: int = 6
    prune: float = 1e-4
    top_k: int = 100
    strategy: str = "auto"
    broadcast_max_bytes: int = 512 * 1024**2
    sources_per_batch: int = 256

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.top_k < 1 or not 0 <= self.prune < 1:
            raise ParameterError("need rounds >= 0, top_k >= 1 and 0 <= prune < 1")
        if self.strategy not in STRATEGIES:
            raise ParameterError(f"strategy={self.strategy!r} is not known; use one of {', '.join(STRATEGIES)}")
        if self.sources_per_batch < 1:
            raise ParameterError(f"sources_per_batch={self.sources_per_batch} must be a positive integer")


class WalkIndex:
    """Fingerprints, transition probabilities and the id map; save it, load it, query it.

    Attributes:
        fingerprints: ``(vertex, target, score)``, target ``-1`` holding the jump share.
        transitions: ``(src, dst, prob)``, the walk's transition probabilities.
        vertices: ``(id, name, out_degree)``.
        params: The :class:`WalkIndexParams` it was built with.
        rows: Row counts of the three tables (``fingerprints``, ``transitions``, ``vertices``).
    """

    def __init__(self, fingerprints: DataFrame, transitions: DataFrame, vertices: DataFrame,
                 params: WalkIndexParams, id_type: T.DataType, rows: dict[str, int]):
        self.fingerprints, self.transitions, self.vertices = fingerprints, transitions, vertices
        self.params, self.id_type, self.rows = params, id_type, rows
        self._shipped = None  # the broadcast matrices, made once per index object

    @property
    def spark(self) -> SparkSession:
        return self.fingerprints.sparkSession

    def save(self, path: str, mode: str = "error") -> None:
        """Write the index as Parquet under ``path`` (atomically, with a manifest)."""
        with atomic_output(self.spark, path, mode, job="walk_index", params=asdict(self.params),
                           seed=self.params.seed) as out:
            out.write_table("fingerprints", self.fingerprints)
            out.write_table("transitions", self.transitions)
            out.write_table("vertices", self.vertices)

    @classmethod
    def load(cls, spark: SparkSession, path: str) -> WalkIndex:
        """Read an index written by :meth:`save`; refuses a directory without a complete manifest."""
        manifest = read_manifest(spark, path)
        if manifest.get("job") != "walk_index":
            raise ParameterError(f"{path!r} holds a {manifest.get('job')!r} output, not a walk index")
        uri = resolve_path(path).rstrip("/")
        names = ("fingerprints", "transitions", "vertices")
        tables = {name: spark.read.parquet(f"{uri}/{name}") for name in names}
        id_type = tables["vertices"].schema["name"].dataType
        rows = {name: manifest["outputs"][name]["rows"] for name in names}
        return cls(tables["fingerprints"], tables["transitions"], tables["vertices"],
                   WalkIndexParams(**manifest["parameters"]), id_type, rows)

    def shipped_bytes(self) -> int:
        """Bytes the broadcast query ships to each executor: int32 column and float32 value per
        transition and fingerprint entry, and int32 row pointers."""
        return 8 * (self.rows["fingerprints"] + self.rows["transitions"]) + 8 * (self.rows["vertices"] + 1)

    def broadcast_matrices(self, max_bytes: int):
        """Broadcast of ``(transition, fingerprints)`` as scipy CSR matrices (made once per index).

        ``transition`` is n x n; ``fingerprints`` n x (n+1), column n holding the jump share.

        Raises:
            GraphTooLargeError: Collecting the index would take more than ``max_bytes`` on the driver
                (about 40 bytes per entry while collecting).
        """
        if self._shipped is None:
            entries = self.rows["fingerprints"] + self.rows["transitions"]
            if 40 * entries > max_bytes:
                raise GraphTooLargeError(
                    f"collecting the walk index ({entries} entries) needs about {40 * entries / 2**30:.1f} GiB on "
                    f"the driver, over the {max_bytes / 2**30:.1f} GiB budget; raise broadcast_max_bytes (and "
                    f"spark.driver.memory) or use strategy='distributed'")
            n = self.rows["vertices"]
            job_description(self.spark, "sparkgraph walk index query: collect the index for broadcast")
            src, dst, prob = _columns(self.transitions, "src", "dst", "prob")
            transition = sp.csr_matrix((prob.astype(np.float32), (src, dst)), shape=(n, n))
            vertex, target, score = _columns(self.fingerprints, "vertex", "target", "score")
            fingerprints = sp.csr_matrix((score.astype(np.float32), (vertex, np.where(target == JUMP, n, target))),
                                         shape=(n, n + 1))
            self._shipped = self.spark.sparkContext.broadcast((transition, fingerprints))
        return self._shipped

    def unpersist(self) -> None:
        """Drop the cached tables and the broadcast matrices (a later query makes them again)."""
        for table in (self.fingerprints, self.transitions, self.vertices):
            table.unpersist()
        if self._shipped is not None:
            self._shipped.destroy()
            self._shipped = None

    def fingerprint_scores(self, sources) -> DataFrame:
        """The sources' own fingerprints as PPR estimates ``(source, target, score)`` (the index alone)."""
        ids = ids_of(self.vertices, self.id_type, sources, what="source")
        own = self.fingerprints.join(ids.withColumnRenamed("id", "vertex"), "vertex")
        jump = own.filter(F.col("target") == JUMP).select("vertex", F.col("score").alias("jump"))
        scores = (own.filter(F.col("target") != JUMP).join(jump, "vertex", "left")
                  .select(F.col("vertex").alias("source"), "target",
                          (F.col("score") / (1 - F.coalesce(F.col("jump"), F.lit(0.0)))).alias("score")))
        return names_of(self.vertices, scores, "source", "target")


def build_walk_index(graph: Graph, params: WalkIndexParams | None = None) -> WalkIndex:
    """Estimate every vertex's fingerprint from walks and keep the graph's transitions.

    Args:
        graph: The graph.
        params: :class:`WalkIndexParams`.

    Returns:
        A cached :class:`WalkIndex`; ``index.save(path)`` writes it.

    Example:
        >>> index = build_walk_index(graph, WalkIndexParams(walks_per_vertex=500))
        >>> top = query(index, [1, 34], QueryParams(top_k=10))
    """
    params = params or WalkIndexParams()
    started = time.perf_counter()
    job_description(graph.spark, "sparkgraph walk index: fingerprints")
    fingerprints = (dense_scores(graph, graph.vertices.select("id"), params.walk_params())
                    .withColumnRenamed("source", "vertex").persist(StorageLevel.MEMORY_AND_DISK))
    degrees = graph.out_degrees()
    transitions = (graph.edges.join(degrees.select(F.col("id").alias("src"), "weighted_out_degree"), "src")
                   .select("src", "dst", (F.col("weight") / F.col("weighted_out_degree")).alias("prob"))
                   .persist(StorageLevel.MEMORY_AND_DISK))
    vertices = graph.vertices.join(degrees.select("id", "out_degree"), "id").persist(StorageLevel.MEMORY_AND_DISK)
    rows = fingerprints.count()
    log.info("walk index: %d fingerprint entries for %d vertices in %.1fs", rows, graph.n,
             time.perf_counter() - started)
    return WalkIndex(fingerprints, transitions, vertices, params, graph.id_type,
                     {"fingerprints": rows, "transitions": graph.num_arcs, "vertices": graph.n})


def query(index: WalkIndex, sources, params: QueryParams | None = None) -> DataFrame:
    """Top-k PPR of a batch of sources from a walk index: exact flow for T rounds, then fingerprints.

    Args:
        index: A :class:`WalkIndex` (built or loaded).
        sources: Caller ids (a list or a one-column DataFrame).
        params: :class:`QueryParams` (rounds, prune, top_k, strategy).

    Returns:
        DataFrame ``(source, target, score)`` in the caller's ids, ``top_k`` per source.

    Raises:
        UnknownVertexError: a source is not in the index.

    Example:
        >>> index = WalkIndex.load(spark, "/data/cnr_index")
        >>> top = query(index, [0, 17, 4242], QueryParams(top_k=10))
    """
    params = params or QueryParams()
    started = time.perf_counter()
    ids = ids_of(index.vertices, index.id_type, sources, what="source")
    strategy = params.strategy
    if strategy == "auto":
        strategy = "broadcast" if index.shipped_bytes() <= params.broadcast_max_bytes else "distributed"
    log.info("walk index query: %s strategy, T=%d, prune=%g", strategy, params.rounds, params.prune)
    if strategy == "broadcast":
        scores = _broadcast_query(index, ids, params)
    else:
        scores = keep_top_k(_join_query(index, ids, params), params.top_k)
    result = names_of(index.vertices, scores, "source", "target")
    log.info("walk index query planned in %.1fs", time.perf_counter() - started)
    return result


def _broadcast_query(index: WalkIndex, ids: DataFrame, params: QueryParams) -> DataFrame:
    """Each task answers its sources with :func:`compose_scores` over the broadcast index."""
    shipped = index.broadcast_matrices(max(params.broadcast_max_bytes, 1) * 5)
    dangling = "discard" if index.params.dangling == "source" else "stop"
    alpha, p = index.params.restart_prob, params

    def answer(batches):
        transition, fingerprints = shipped.value
        for batch in batches:
            ids_batch = np.sort(batch["id"].to_numpy())
            for lo in range(0, len(ids_batch), p.sources_per_batch):
                chunk = ids_batch[lo: lo + p.sources_per_batch]
                row, target, score = compose_scores(chunk, transition, fingerprints, p.rounds, alpha, dangling,
                                                    p.prune, p.top_k)
                yield pd.DataFrame({"source": chunk[row], "target": target, "score": score})

    spark = index.spark
    partitions = max(1, 4 * spark.sparkContext.defaultParallelism)
    job_description(spark, f"sparkgraph walk index query: {p.rounds} rounds of flow, then fingerprints (broadcast)")
    return ids.repartitionByRange(partitions, "id").mapInPandas(answer, SCORES_SCHEMA)


def _join_query(index: WalkIndex, ids: DataFrame, params: QueryParams) -> DataFrame:
    """Every source's full composed vector ``(source, target, score)`` by joins against the index."""
    spark = index.spark
    alpha = index.params.restart_prob
    sinks = index.vertices.filter(F.col("out_degree") == 0).select(F.col("id").alias("vertex"), F.lit(True).alias("sink"))
    flow = ids.select(F.col("id").alias("source"), F.col("id").alias("vertex"), F.lit(1.0).alias("mass"))
    kept, jumps, finish = [], [], []
    for t in range(params.rounds):
        job_description(spark, f"sparkgraph walk index query: flow round {t} (joins)")
        kept.append(flow.select("source", F.col("vertex").alias("target"), (F.col("mass") * alpha).alias("score")))
        flow = flow.join(F.broadcast(sinks), "vertex", "left").fillna({"sink": False})
        moving = flow.withColumn("mass", F.col("mass") * (1 - alpha))
        stuck = moving.filter("sink").select("source", "vertex", "mass")
        if index.params.dangling == "source":
            jumps.append(stuck.select("source", "mass"))
            stuck = None
        spread = (moving.filter(~F.col("sink"))
                  .join(index.transitions.withColumnRenamed("src", "vertex"), "vertex")
                  .select("source", F.col("dst").alias("vertex"), (F.col("mass") * F.col("prob")).alias("mass")))
        if stuck is not None:
            spread = spread.unionByName(stuck)
        flow = spread.groupBy("source", "vertex").agg(F.sum("mass").alias("mass"))
        finish.append(flow.filter(F.col("mass") < params.prune))
        flow = flow.filter(F.col("mass") >= params.prune).localCheckpoint()
    finish.append(flow)
    residual = union_all(finish)
    composed = (residual.join(index.fingerprints, "vertex")
                .select("source", "target", (F.col("mass") * F.col("score")).alias("score")))
    x = union_all(kept + [composed.filter(F.col("target") != JUMP)])
    x = x.groupBy("source", "target").agg(F.sum("score").alias("score"))
    jump_parts = [j.select("source", F.col("mass").alias("score")) for j in jumps]
    jump_parts.append(composed.filter(F.col("target") == JUMP).select("source", "score"))
    jump = union_all(jump_parts).groupBy("source").agg(F.sum("score").alias("jump"))
    return (x.join(jump, "source", "left")
            .select("source", "target", (F.col("score") / (1 - F.coalesce(F.col("jump"), F.lit(0.0)))).alias("score")))


def _columns(df: DataFrame, *names: str) -> list[np.ndarray]:
    """Numpy arrays of the named columns, collected through Arrow."""
    if hasattr(df, "toArrow"):
        table = df.select(*names).toArrow()
        return [table.column(name).to_numpy() for name in names]
    frame = df.select(*names).toPandas()
    return [frame[name].to_numpy() for name in names]
