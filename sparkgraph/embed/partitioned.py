"""Partitioned network embedding on Spark (after Lin, *Large-Scale Network Embedding in Apache Spark*,
KDD 2021): split the graph into small parts, embed every part in parallel, fuse into one space.

1. **Partition** (:mod:`sparkgraph.embed.partition`): parts of at most ``max_part_size`` vertices
   by balanced label propagation; the border (endpoints of cut edges) is partitioned again, level
   by level.
2. **Embed every part** of every level independently, one ``applyInPandas`` task per part holding
   the part's adjacency as a scipy matrix (:func:`~sparkgraph.udfs.part_embedding.embed_part`):
   FastRP (centred: the part's mean vector removed), or NetMF (a method too expensive for a whole
   graph) rotated into FastRP's shared coordinates. A vertex's random projection row depends only on (seed, its id), in every part.
3. **Fuse** (:func:`~sparkgraph.udfs.part_embedding.fuse`): a vertex's vectors from the levels it
   belongs to are averaged, each weighted by how much of its neighbourhood that level's part saw.
4. **Average over the whole graph** (``fusion_weights``): the final vector is
   ``w₀·rownorm(X) + w₁·rownorm(M·X) + ...`` with M = D⁻¹A of the whole graph, computed by FastRP's
   block products; the default (0, 1, 1), FastRP's own default weights, is
   ``rownorm(M·X) + rownorm(M²·X)``: the fused vectors of the neighbours and of the vertices two
   hops away, the hops whole-graph FastRP averages. This is what makes the space one: a vertex
   takes in its neighbours' vectors from every part, so an edge cut by the partition scores like
   an edge inside a part (with w₀ = 1, a vertex's own part dominates: on BlogCatalog the cut-edge
   AUC drops from 0.81 to 0.72). Steps 3 and 4 cost O(levels·n·d + m·d): linear in the graph.

Memory per task: step 2 holds one part (its arcs as CSR; NetMF dense ``part x part`` float64
matrices, a few of them); step 4 holds FastRP's block pairs (:mod:`sparkgraph.embed.fastrp`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph.embed.fastrp import (
    STATE_SCHEMA,
    block_size,
    propagate_blocks,
    propagation_entries,
    state_rows,
)
from sparkgraph.embed.params import FastRPParams, PartitionedParams
from sparkgraph.embed.partition import Level, partition_levels
from sparkgraph.graph import Graph, union_all
from sparkgraph.session import job_description, release, truncate_lineage
from sparkgraph.udfs.part_embedding import embed_part, fuse
from sparkgraph.udfs.projection import row_normalize

log = logging.getLogger(__name__)

PART_VECTOR_SCHEMA = "level int, id long, share double, vector binary"


@dataclass
class PartitionedResult:
    """What :func:`partitioned_embedding` returns.

    Attributes:
        embeddings: ``(id, embedding array<float>)`` in the caller's ids, one row per vertex.
        parts: ``(id, level, part)`` in the caller's ids: every vertex's part at each level it belongs to.
        levels: Per level, the partition report (:class:`~sparkgraph.embed.partition.Level`).
        seconds: Time of each phase (partition, embed and fuse).
    """

    embeddings: DataFrame
    parts: DataFrame
    levels: list[dict] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def partitioned_embedding(graph: Graph, params: PartitionedParams | None = None,
                          fastrp: FastRPParams | None = None) -> PartitionedResult:
    """Partitioned embedding of every vertex (module docstring).

    Args:
        graph: The graph; arc weights enter the part embeddings and the averaging; the partitioner
            counts edges, ignoring weights and direction.
        params: :class:`PartitionedParams` (part size, levels, embedder, fusion).
        fastrp: :class:`FastRPParams` of the part embeddings: dimension, the projection's seed, and
            FastRP's settings (the spectral embedder's alignment target is this FastRP). The
            ``strategy`` and ``features`` of FastRP do not apply.

    Returns:
        :class:`PartitionedResult`; its embeddings are computed when first used (cached).

    Example:
        >>> result = partitioned_embedding(load_graph(spark, "cora"), PartitionedParams(max_part_size=500))
        >>> result.embeddings.count(), result.levels[0]["largest"] <= 500
        (2708, True)
    """
    params = params or PartitionedParams()
    fastrp = fastrp or FastRPParams()
    spark = graph.spark
    if graph.n <= params.max_part_size:
        log.info("partitioned embedding: the graph's %d vertices fit one part of %d; embedding it as a whole",
                 graph.n, params.max_part_size)
    started = time.perf_counter()
    levels = partition_levels(graph, params)
    partitioned = time.perf_counter()
    job_description(spark, f"sparkgraph partitioned embedding: {sum(lv.report['parts'] for lv in levels)} parts "
                           f"on {len(levels)} levels")
    vectors = _part_vectors(graph, levels, params, fastrp)
    size = block_size(graph.n, fastrp.dimension)
    state = truncate_lineage(_fused_state(vectors, params.fusion_weights[0], size, graph.n, fastrp.dimension))
    entries, _ = propagation_entries(graph, fastrp.direction)
    rows = propagate_blocks(entries, state, params.fusion_weights[1:], True, size, graph.n, fastrp.dimension,
                            "partitioned embedding")
    embeddings = truncate_lineage(graph.to_names(rows, "id"))
    release(state)  # already released by propagate_blocks unless fusion_weights has one entry
    job_description(spark, None)
    parts = union_all([lv.parts.select("id", F.lit(lv.number).alias("level"), "part") for lv in levels])
    seconds = {"partition": round(partitioned - started, 2), "embed and fuse": round(time.perf_counter() - partitioned, 2)}
    log.info("partitioned embedding: %s", seconds)
    return PartitionedResult(embeddings, graph.to_names(parts, "id"), [lv.report for lv in levels], seconds)


def _part_vectors(graph: Graph, levels: list[Level], params: PartitionedParams, fastrp: FastRPParams) -> DataFrame:
    """``(level, id, share, vector)``: every part of every level embedded in its own task.

    Why one stage for all levels: the parts are independent, so every level's parts run in
    parallel and the cluster is never idle waiting for a small level."""
    tasks = []
    for level in levels:
        src = level.parts.select(F.col("id").alias("src"), F.col("part"))
        dst = level.parts.select(F.col("id").alias("dst"), F.col("part").alias("dst_part"))
        arcs = (graph.edges.join(src, "src").join(dst, "dst").filter(F.col("part") == F.col("dst_part"))
                .select("part", "src", "dst", "weight"))
        members = level.parts.select("part", F.col("id").alias("src"), F.lit(-1).cast("long").alias("dst"),
                                     F.lit(0.0).alias("weight"))
        tasks.append(arcs.unionByName(members).withColumn("level", F.lit(level.number)))
    directed, n = graph.directed, graph.n

    def embed(frame: pd.DataFrame) -> pd.DataFrame:
        is_member = frame["dst"].to_numpy() < 0
        ids = np.sort(frame["src"].to_numpy(np.int64)[is_member])
        arcs = frame[~is_member]
        vectors, share = embed_part(ids, arcs["src"].to_numpy(np.int64), arcs["dst"].to_numpy(np.int64),
                                    arcs["weight"].to_numpy(np.float64), directed, params.embedder, fastrp,
                                    params.window, params.negative, n)
        return pd.DataFrame({"level": int(frame["level"].iloc[0]), "id": ids, "share": share,
                             "vector": [row.tobytes() for row in vectors]})

    return union_all(tasks).groupBy("level", "part").applyInPandas(embed, PART_VECTOR_SCHEMA)


def _fused_state(vectors: DataFrame, self_weight: float, size: int, n: int, d: int) -> DataFrame:
    """FastRP's block state from the fused vectors X: ``n`` = X (what the averaging multiplies),
    ``out`` = ``self_weight``·rownorm(X)."""
    def block_of(frame: pd.DataFrame) -> pd.DataFrame:
        vectors = np.frombuffer(b"".join(frame["vector"]), np.float32).reshape(len(frame), d)
        ids, fused = fuse(frame["id"].to_numpy(np.int64), frame["level"].to_numpy(np.int64),
                          frame["share"].to_numpy(np.float64), vectors)
        return state_rows(int(ids[0]) // size, fused, np.float32(self_weight) * row_normalize(fused))

    return vectors.withColumn("block", (F.col("id") / size).cast("int")).groupBy("block").applyInPandas(
        block_of, STATE_SCHEMA)
