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
from sparkgraph.graph import BROADCAST_ID_MAP, Graph, ids_of, names_of, union_all
from sparkgraph.output import atomic_output, read_manifest, read_output
from sparkgraph.params import at_least, at_most, between, one_of, param, validate
from sparkgraph.ppr.fully_ppr import SCORES_SCHEMA, dense_scores, keep_top_k
from sparkgraph.ppr.params import DANGLING, STRATEGIES, PPRParams
from sparkgraph.session import job_description, parallelism, truncate_lineage
from sparkgraph.shipping import Shipment, map_with_matrices, ship_matrix
from sparkgraph.udfs.compose import compose_scores
from sparkgraph.udfs.streams import MAX_SEED

log = logging.getLogger(__name__)

JUMP = -1
FORCED_BROADCAST_FACTOR = 5  # strategy='broadcast' ships an index up to this many times broadcast_max_bytes


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB" if num_bytes >= 2**20 else f"{num_bytes:,} bytes"


@dataclass(frozen=True)
class WalkIndexParams:
    """How the walk index is built.

    Attributes:
        restart_prob: α, as for :class:`PPRParams`; queries use the same.
        walks_per_vertex: Walks per vertex behind each fingerprint (PowerWalk uses 1000).
        fingerprint_size: Entries kept per fingerprint (PowerWalk keeps 100).
        dangling: source or stop, as for :class:`PPRParams`.
        strategy: auto, broadcast or distributed, as for :class:`PPRParams`.
        seed: Random seed, 0 to 2**63 - 1; every vertex's walks draw from their own stream of it.
        broadcast_max_bytes, shard_max_bytes: The walks' memory budgets per task for the graph, as
            for :class:`PPRParams` (lower ``shard_max_bytes`` for executors with little memory);
            :attr:`QueryParams.broadcast_max_bytes` bounds the index a query ships, not the graph.
    """

    restart_prob: float = param(0.15, between(0, 1, low_open=True, high_open=True, hint="0.15 is usual"))
    walks_per_vertex: int = param(1000, at_least(1))
    fingerprint_size: int = param(100, at_least(1))
    dangling: str = param("source", one_of(*DANGLING))
    strategy: str = param("auto", one_of(*STRATEGIES))
    seed: int = param(0, at_least(0), at_most(MAX_SEED))
    broadcast_max_bytes: int = param(PPRParams.broadcast_max_bytes, at_least(1))
    shard_max_bytes: int = param(PPRParams.shard_max_bytes, at_least(1))

    def __post_init__(self) -> None:
        validate(self)

    def walk_params(self) -> PPRParams:
        """The fingerprints' walks as :class:`PPRParams` (walked with :meth:`walk_dangling`).

        Example:
            >>> WalkIndexParams(shard_max_bytes=2**20).walk_params().shard_max_bytes
            1048576
        """
        return PPRParams(restart_prob=self.restart_prob, walks_per_source=self.walks_per_vertex,
                         top_k=self.fingerprint_size, strategy=self.strategy, seed=self.seed, dangling=self.dangling,
                         broadcast_max_bytes=self.broadcast_max_bytes, shard_max_bytes=self.shard_max_bytes)

    def walk_dangling(self) -> str:
        """The fingerprints' dangling policy: ``discard`` for ``source`` (a walk ends at a jump, whose
        share is stored as target -1: the jump goes to the *query's* source), else ``stop``."""
        return "discard" if self.dangling == "source" else "stop"


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
        broadcast_max_bytes: Index size up to which auto picks broadcast (strategy broadcast ships
            up to 5 times this, then refuses).
        sources_per_batch: Sources answered together in one task (broadcast).
    """

    rounds: int = param(6, at_least(0))
    prune: float = param(1e-4, between(0, 1, high_open=True))
    top_k: int = param(100, at_least(1))
    strategy: str = param("auto", one_of(*STRATEGIES))
    broadcast_max_bytes: int = param(512 * 1024**2, at_least(1))
    sources_per_batch: int = param(256, at_least(1))

    def __post_init__(self) -> None:
        validate(self)


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
                 params: WalkIndexParams, id_type: T.DataType, rows: dict[str, int],
                 stored: list[Shipment] | None = None):
        self.fingerprints, self.transitions, self.vertices = fingerprints, transitions, vertices
        self.params, self.id_type, self.rows = params, id_type, rows
        self._stored = stored  # the shipped matrices as saved with the index (loaded indexes)
        self._shipped: list[Shipment] | None = None  # the shipped matrices, cached once per index object

    @property
    def spark(self) -> SparkSession:
        return self.fingerprints.sparkSession

    def save(self, path: str, mode: str = "error", phases: dict[str, float] | None = None) -> dict[str, float]:
        """Write the index as Parquet under ``path`` (atomically, with a manifest).

        Besides the three tables, the transition and fingerprint matrices are saved as the chunks
        the broadcast query ships (about 8 bytes per entry), so a loaded index answers its first
        query without cutting them again.

        Args:
            path: The output folder.
            mode: ``error`` (refuse an existing output) or ``overwrite``.
            phases: Seconds of the phases that made the index (the walk_index job's), recorded in
                the manifest before the ``save`` phase.

        Returns:
            The manifest's phases (``phases`` and ``save``), in seconds.
        """
        shipped = self._shipped or self._stored or self._cut_matrices()
        with atomic_output(self.spark, path, mode, job="walk_index", params=asdict(self.params),
                           seed=self.params.seed) as out:
            out.manifest["phases"].update(phases or {})
            with out.phase("save"):
                out.write_table("fingerprints", self.fingerprints)
                out.write_table("transitions", self.transitions)
                out.write_table("vertices", self.vertices)
                out.write_table("shipped", union_all([shipment.chunks for shipment in shipped]))
            out.manifest["shipments"] = [shipment.describe() for shipment in shipped]
        return dict(out.manifest["phases"])

    @classmethod
    def load(cls, spark: SparkSession, path: str) -> WalkIndex:
        """Read an index written by :meth:`save`; refuses a directory without a complete manifest."""
        manifest = read_manifest(spark, path)
        if manifest.get("job") != "walk_index":
            raise ParameterError(f"{path!r} holds a {manifest.get('job')!r} output, not a walk index")
        names = ("fingerprints", "transitions", "vertices")
        tables = {name: read_output(spark, path, name, manifest) for name in names}
        id_type = tables["vertices"].schema["name"].dataType
        rows = {name: manifest["outputs"][name]["rows"] for name in names}
        stored = None
        if "shipped" in manifest["outputs"]:
            chunks = read_output(spark, path, "shipped", manifest)
            stored = [Shipment.stored(chunks, description, f"{manifest['run']}:{description['name']}")
                      for description in manifest["shipments"]]
        return cls(tables["fingerprints"], tables["transitions"], tables["vertices"],
                   WalkIndexParams(**manifest["parameters"]), id_type, rows, stored)

    def shipped_bytes(self) -> int:
        """Bytes the broadcast query ships to each task: an int32 column and a float32 value per
        transition and fingerprint entry, and an int32 row length per vertex and matrix."""
        return 8 * (self.rows["fingerprints"] + self.rows["transitions"]) + 8 * (self.rows["vertices"] + 1)

    def shipments(self, max_bytes: int, budget: str | None = None) -> list[Shipment]:
        """The transition (n x n) and fingerprint (n x (n+1), column n the jump share) matrices as
        chunks for :func:`~sparkgraph.shipping.map_with_matrices`, made and cached once per index.

        Args:
            max_bytes: The most the index may ship to each task.
            budget: Which setting gives ``max_bytes``, for the message.

        Raises:
            GraphTooLargeError: They would ship more than ``max_bytes`` to each task.
        """
        if self.shipped_bytes() > max_bytes:
            raise GraphTooLargeError(
                f"the walk index ships {_size(self.shipped_bytes())} to every task, over the {_size(max_bytes)} "
                f"allowed ({budget or 'max_bytes'}); raise QueryParams.broadcast_max_bytes (query.broadcast_max_bytes "
                "in the ppr_query job) or use strategy='distributed'")
        if self._shipped is None:
            job_description(self.spark, "sparkgraph walk index query: ship the index to the executors")
            self._shipped = [shipment.persist() for shipment in (self._stored or self._cut_matrices())]
        return self._shipped

    def _cut_matrices(self) -> list[Shipment]:
        """The transition and fingerprint matrices cut into chunks (lazily, on the executors)."""
        n = self.rows["vertices"]
        transition = ship_matrix(self.transitions, "transition", n, n, self.rows["transitions"], row="src",
                                 col="dst", value="prob", value_dtype="float32")
        target = F.when(F.col("target") == JUMP, n).otherwise(F.col("target")).alias("target")
        fingerprints = ship_matrix(self.fingerprints.select("vertex", target, "score"), "fingerprints", n, n + 1,
                                   self.rows["fingerprints"], row="vertex", col="target", value="score",
                                   value_dtype="float32")
        return [transition, fingerprints]

    def unpersist(self) -> None:
        """Drop the cached tables and the shipped matrices (a later query makes them again)."""
        for table in (self.fingerprints, self.transitions, self.vertices):
            table.unpersist()
        for shipment in self._shipped or []:
            shipment.unpersist()
        self._shipped = None

    def fingerprint_scores(self, sources) -> DataFrame:
        """The sources' own fingerprints as PPR estimates ``(source, target, score)`` (the index alone)."""
        ids = ids_of(self.vertices, self.id_type, sources, what="source")
        own = self.fingerprints.join(ids.withColumnRenamed("id", "vertex"), "vertex")
        jump = own.filter(F.col("target") == JUMP).select("vertex", F.col("score").alias("jump"))
        scores = (own.filter(F.col("target") != JUMP).join(jump, "vertex", "left")
                  .select(F.col("vertex").alias("source"), "target",
                          (F.col("score") / (1 - F.coalesce(F.col("jump"), F.lit(0.0)))).alias("score")))
        return names_of(self.vertices, scores, "source", "target", broadcast=self.rows["vertices"] <= BROADCAST_ID_MAP)


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
    fingerprints = (dense_scores(graph, graph.vertices.select("id"), params.walk_params(), sources_count=graph.n,
                                 dangling=params.walk_dangling())
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
    result = names_of(index.vertices, scores, "source", "target",
                      broadcast=index.rows["vertices"] <= BROADCAST_ID_MAP)
    log.info("walk index query planned in %.1fs", time.perf_counter() - started)
    return result


def _broadcast_query(index: WalkIndex, ids: DataFrame, params: QueryParams) -> DataFrame:
    """Each task answers its sources with :func:`compose_scores` over the index shipped to it."""
    shipments = index.shipments(FORCED_BROADCAST_FACTOR * params.broadcast_max_bytes,
                                f"{FORCED_BROADCAST_FACTOR} x broadcast_max_bytes={params.broadcast_max_bytes}")
    n = index.rows["vertices"]
    dangling = index.params.walk_dangling()
    alpha, p = index.params.restart_prob, params

    def build(matrices):
        index_type = np.int32 if n < 2**31 and max(len(m[1]) for m in matrices.values()) < 2**31 else np.int64
        return tuple(sp.csr_matrix((values, cols.astype(index_type), indptr.astype(index_type)), shape=(n, width))
                     for (indptr, cols, values), width in ((matrices["transition"], n), (matrices["fingerprints"], n + 1)))

    def answer(ids_batch, built):
        transition, fingerprints = built
        for lo in range(0, len(ids_batch), p.sources_per_batch):
            chunk = ids_batch[lo: lo + p.sources_per_batch]
            row, target, score = compose_scores(chunk, transition, fingerprints, p.rounds, alpha, dangling,
                                                p.prune, p.top_k)
            yield pd.DataFrame({"source": chunk[row], "target": target, "score": score})

    job_description(index.spark, f"sparkgraph walk index query: {p.rounds} rounds of flow, then fingerprints (broadcast)")
    # two tasks per core: each task receives the whole index, so fewer, larger tasks than for walks
    return map_with_matrices(ids, "id", shipments, 2 * parallelism(index.spark), build, answer, SCORES_SCHEMA)


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
        flow = truncate_lineage(flow.filter(F.col("mass") >= params.prune))
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
