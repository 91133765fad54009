"""Balanced recursive partitioning of a graph on Spark, for partitioned embedding.

Level 0 splits every vertex into parts of at most ``max_part_size`` vertices; level ℓ+1 splits the
**border** of level ℓ (the endpoints of its cut edges, with the edges between them), until the
border fits one part or ``max_levels`` border levels exist. Each split is capacity-constrained
label propagation (Spinner, Martella et al., ICDE 2017), started from plain label-propagation
communities (the kernels and the rules are in
:mod:`sparkgraph.udfs.partition`) on the undirected, unweighted view of the graph, in DataFrame
steps; the local twin (:mod:`sparkgraph.local.partitioned`) makes the same parts.

Per round (splink's habits): the neighbours' parts are counted per vertex (one shuffle of the
level's arcs), each vertex's best part is chosen in SQL against the parts' loads (K numbers on the
driver), the moves are drawn from the vertices' own random streams (numpy, ``mapInArrow``), and
lineage is cut. A round that moves fewer than 0.1 % of the level's vertices ends the level.

While the graph's linked pairs fit one task (``strategy``), every level runs in one task instead,
on the pairs shipped to it (:mod:`sparkgraph.shipping`), with the local twin's own code: the same
parts, without a Spark job per round.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.embed.params import PartitionedParams
from sparkgraph.graph import Graph
from sparkgraph.session import job_description, release, truncate_lineage
from sparkgraph.shipping import map_with_matrices, ship_matrix
from sparkgraph.udfs.partition import adopt, community_parts, initial_parts, migrate, part_count, shed_excess

log = logging.getLogger(__name__)

LABEL_SCHEMA = "id long, degree long, part long, moved int"
SINGLE_SCHEMA = "level int, id long, part long, report string"
BYTES_PER_ARC = 160  # the single task: two pairs per arc at most, ~80 bytes per pair while a round runs


@dataclass
class Level:
    """One level of the partition.

    Attributes:
        number: 0 for the whole graph, ℓ for the ℓ-th border.
        parts: ``(id, part)`` over dense ids of this level's vertices, cached.
        report: Its facts: vertices, parts, largest and mean part size, cut fraction (of the level's
            undirected edges), border (vertices of the next level), rounds, seconds.
    """

    number: int
    parts: DataFrame
    report: dict


def symmetric_pairs(graph: Graph) -> DataFrame:
    """``(u, v)``: both directions of every linked pair u≠v (the partitioner's view), cached.

    An undirected graph's arcs are these pairs already (each edge once per direction); a directed
    graph's arcs and their reverses are merged.
    """
    arcs = graph.edges.filter(F.col("src") != F.col("dst"))
    if not graph.directed:
        return arcs.select(F.col("src").alias("u"), F.col("dst").alias("v")).persist(StorageLevel.MEMORY_AND_DISK)
    both = arcs.select(F.col("src").alias("u"), F.col("dst").alias("v")).unionByName(
        arcs.select(F.col("dst").alias("u"), F.col("src").alias("v")))
    return both.distinct().persist(StorageLevel.MEMORY_AND_DISK)


def partition_levels(graph: Graph, params: PartitionedParams) -> list[Level]:
    """All levels of the partition (module docstring).

    Example:
        >>> levels = partition_levels(load_graph(spark, "cora"), PartitionedParams(max_part_size=500))
        >>> [level.report["largest"] <= 500 for level in levels]
        [True, True, True]
    """
    spark = graph.spark
    pairs = symmetric_pairs(graph)
    if choose_strategy(graph, params) == "single":
        levels = _in_one_task(graph, pairs, params)
        pairs.unpersist()
        return levels
    vertices, count = graph.vertices.select("id"), graph.n
    levels: list[Level] = []
    for number in range(params.max_levels + 1):
        started = time.perf_counter()
        parts, rounds = _split(vertices, pairs, count, params, number)
        job_description(spark, f"sparkgraph partition: level {number}, cut edges and border")
        labelled = (pairs.join(parts.select(F.col("id").alias("u"), F.col("part").alias("pu")), "u")
                    .join(parts.select(F.col("id").alias("v"), F.col("part").alias("pv")), "v"))
        cut = labelled.filter(F.col("pu") != F.col("pv"))
        border = truncate_lineage(cut.select(F.col("u").alias("id")).distinct())
        facts = labelled.agg(F.count("*").alias("pairs"),
                             F.sum(F.when(F.col("pu") != F.col("pv"), 1).otherwise(0)).alias("cut")).first()
        sizes = parts.groupBy("part").count().agg(F.count("*").alias("parts"), F.max("count").alias("largest")).first()
        border_size = border.count()
        total_pairs = int(facts["pairs"] or 0)
        report = {"level": number, "vertices": count, "parts": int(sizes["parts"]), "largest": int(sizes["largest"]),
                  "mean_size": round(count / sizes["parts"], 1),
                  "cut_fraction": round((facts["cut"] or 0) / total_pairs, 4) if total_pairs else 0.0,
                  "border": border_size, "rounds": rounds, "seconds": round(time.perf_counter() - started, 2)}
        levels.append(Level(number, parts, report))
        log.info("partition level %d: %s", number, report)
        progress.advance("partition levels (at most)", number + 1, params.max_levels + 1)
        if not border_size or number == params.max_levels:
            border.unpersist()
            break
        inside = border.select(F.col("id").alias("u")).join(pairs, "u").join(
            border.select(F.col("id").alias("v")), "v").select("u", "v")
        previous = pairs
        pairs = truncate_lineage(inside)
        if previous is not None:
            release(previous)
        vertices, count = border, border_size
    pairs.unpersist()
    job_description(spark, None)
    return levels


def choose_strategy(graph: Graph, params: PartitionedParams) -> str:
    if params.strategy != "auto":
        return params.strategy
    return "single" if BYTES_PER_ARC * graph.num_arcs <= params.single_max_bytes else "distributed"


def _in_one_task(graph: Graph, pairs: DataFrame, params: PartitionedParams) -> list[Level]:
    """Every level in one task, by the local twin's :func:`~sparkgraph.local.partitioned.partition_pairs`."""
    import json

    from sparkgraph.local.partitioned import partition_pairs

    n = graph.n
    job_description(graph.spark, f"sparkgraph partition: {params.max_levels + 1} levels at most in one task")
    shipment = ship_matrix(pairs, "pairs", n, n, 2 * graph.num_arcs, row="u", col="v", value=None)

    def build(matrices):
        indptr, cols, _ = matrices["pairs"]
        return sp.csr_matrix((np.ones(len(cols), np.int64), cols, indptr), shape=(n, n))

    def answer(items, matrix):
        reports, parts_by_level = partition_pairs(matrix, params)
        for level, (report, (ids, parts)) in enumerate(zip(reports, parts_by_level, strict=True)):
            yield pd.DataFrame({"level": level, "id": ids, "part": parts, "report": None})
            yield pd.DataFrame({"level": [level], "id": [-1], "part": [-1], "report": [json.dumps(report)]})

    work = graph.spark.range(1).select(F.col("id").alias("task"))
    result = truncate_lineage(map_with_matrices(work, "task", [shipment], 1, build, answer, SINGLE_SCHEMA,
                                                keep_built=False))
    reports = sorted((json.loads(r["report"]) for r in result.filter(F.col("id") < 0).collect()),
                     key=lambda r: r["level"])
    levels = [Level(r["level"], result.filter((F.col("level") == r["level"]) & (F.col("id") >= 0))
                    .select("id", "part"), r) for r in reports]
    for report in reports:
        log.info("partition level %d: %s", report["level"], report)
    job_description(graph.spark, None)
    return levels


def _split(vertices: DataFrame, pairs: DataFrame, count: int, params: PartitionedParams, level: int
           ) -> tuple[DataFrame, int]:
    """``((id, part) cached, rounds)``: the parts of one level's vertices."""
    spark = vertices.sparkSession
    capacity, seed = params.max_part_size, params.seed
    if count <= capacity:
        log.info("partition level %d: %d vertices fit one part of %d", level, count, capacity)
        return truncate_lineage(vertices.select("id", F.lit(0).cast("long").alias("part"))), 0
    k = part_count(count, capacity)
    degrees = pairs.groupBy(F.col("u").alias("id")).agg(F.count("*").alias("degree"))

    communities = _communities(vertices, pairs, params.community_rounds, seed, level)

    def start(batches):
        for batch in batches:
            ids = batch.column("id").to_numpy(zero_copy_only=False)
            labels = batch.column("label").to_numpy(zero_copy_only=False)
            parts = community_parts(labels, seed, level, k) if params.community_rounds else initial_parts(
                ids, seed, level, k)
            yield pa.RecordBatch.from_arrays(
                [batch.column("id"), batch.column("degree"), pa.array(parts), pa.array(np.zeros(len(ids), np.int32))],
                names=["id", "degree", "part", "moved"])

    job_description(spark, f"sparkgraph partition: level {level}, {count} vertices into {k} parts of at most "
                           f"{capacity}")
    labels = truncate_lineage(communities.join(degrees, "id", "left").fillna({"degree": 0})
                              .select("id", "degree", "label").mapInArrow(start, LABEL_SCHEMA))
    communities.unpersist()
    loads = _loads(labels, k)[0]
    done = 0
    for done in range(1, params.partition_rounds + 1):
        started = time.perf_counter()
        job_description(spark, f"sparkgraph partition: level {level}, round {done} of at most "
                               f"{params.partition_rounds}")
        decided = truncate_lineage(_best_parts(labels, pairs, loads, capacity))
        wanted = decided.filter(F.col("best") != F.col("current")).groupBy("best").count().collect()
        demand = np.zeros(k, np.int64)
        for row in wanted:
            demand[row["best"]] = row["count"]
        room = capacity - loads

        def move(batches, room=room, demand=demand, round_=done):
            for batch in batches:
                ids = batch.column("id").to_numpy(zero_copy_only=False)
                current = batch.column("current").to_numpy(zero_copy_only=False)
                parts = migrate(ids, current, batch.column("best").to_numpy(zero_copy_only=False), room, demand,
                                seed, level, round_)
                yield pa.RecordBatch.from_arrays(
                    [batch.column("id"), batch.column("degree"), pa.array(parts),
                     pa.array((parts != current).astype(np.int32))], names=["id", "degree", "part", "moved"])

        previous = labels
        labels = truncate_lineage(decided.mapInArrow(move, LABEL_SCHEMA))
        release(previous)
        decided.unpersist()
        loads, moved = _loads(labels, k)
        progress.advance(f"level {level} rounds (at most)", done, params.partition_rounds)
        log.info("partition level %d: round %d moved %d of %d vertices (%.1fs)", level, done, moved, count,
                 time.perf_counter() - started)
        if moved * 1000 < count:
            break
    if (loads > capacity).any():
        labels = _shed(labels, loads, capacity, k, seed, level)
    parts = truncate_lineage(labels.select("id", "part"))
    labels.unpersist()
    return parts, done


def _communities(vertices: DataFrame, pairs: DataFrame, rounds: int, seed: int, level: int) -> DataFrame:
    """``(id, label)`` after ``rounds`` rounds of plain label propagation from every vertex's own id
    (:mod:`sparkgraph.udfs.partition`), cached.

    Why: parts dealt out by community start with no community cut, and balanced label propagation
    from there ends with fewer cut edges than from random parts."""
    spark = vertices.sparkSession
    labels = truncate_lineage(vertices.select("id", F.col("id").alias("label")))
    for t in range(rounds):
        job_description(spark, f"sparkgraph partition: level {level}, community round {t + 1} of {rounds}")
        counts = (pairs.join(labels.select(F.col("id").alias("v"), "label"), "v")
                  .groupBy(F.col("u").alias("id"), "label").agg(F.count("*").alias("count")))
        best = counts.groupBy("id").agg(F.max(F.struct("count", (-F.col("label")).alias("negative_label")))
                                        .alias("key")).select("id", (-F.col("key.negative_label")).alias("best"))
        joined = labels.join(best, "id", "left").select("id", "label", F.coalesce("best", "label").alias("best"))

        def step(batches, round_=t):
            for batch in batches:
                ids = batch.column("id").to_numpy(zero_copy_only=False)
                chosen = adopt(ids, batch.column("label").to_numpy(zero_copy_only=False),
                               batch.column("best").to_numpy(zero_copy_only=False), seed, level, round_)
                yield pa.RecordBatch.from_arrays([batch.column("id"), pa.array(chosen)], names=["id", "label"])

        previous = labels
        labels = truncate_lineage(joined.mapInArrow(step, "id long, label long"))
        release(previous)
    return labels


def _loads(labels: DataFrame, k: int) -> tuple[np.ndarray, int]:
    """Vertices per part (K numbers) and the vertices moved in the last round, in one job."""
    loads = np.zeros(k, np.int64)
    moved = 0
    for row in labels.groupBy("part").agg(F.count("*").alias("load"), F.sum("moved").alias("moved")).collect():
        loads[row["part"]] = row["load"]
        moved += int(row["moved"])
    return loads, moved


def _best_parts(labels: DataFrame, pairs: DataFrame, loads: np.ndarray, capacity: int) -> DataFrame:
    """``(id, degree, current, best)``: every vertex's best part by ``count·C - load·deg``, ties to its
    current part, then to the smallest part id (as :func:`sparkgraph.udfs.partition.best_parts`).

    Why: a vertex wants the part most of its neighbours are in, less crowded parts preferred; the
    score is an integer, so the choice is exact and the same in the local twin."""
    spark = labels.sparkSession
    neighbours = (pairs.join(labels.select(F.col("id").alias("v"), "part"), "v")
                  .groupBy(F.col("u").alias("id"), "part").agg(F.count("*").alias("count")))
    own = labels.select("id", "part", F.lit(0).cast("long").alias("count"))
    candidates = neighbours.unionByName(own).groupBy("id", "part").agg(F.sum("count").alias("count"))
    load_table = spark.createDataFrame(pd.DataFrame({"part": np.arange(len(loads), dtype=np.int64),
                                                     "load": loads.astype(np.int64)}))
    scored = (candidates.join(F.broadcast(load_table), "part")
              .join(labels.select("id", "degree", F.col("part").alias("current")), "id")
              .select("id", "degree", "current", F.struct(
                  (F.col("count") * capacity - F.col("load") * F.col("degree")).alias("score"),
                  (F.col("part") == F.col("current")).cast("int").alias("is_current"),
                  (-F.col("part")).alias("negative_part")).alias("key")))
    return (scored.groupBy("id", "degree", "current").agg(F.max("key").alias("key"))
            .select("id", "degree", "current", (-F.col("key.negative_part")).alias("best")))


def _shed(labels: DataFrame, loads: np.ndarray, capacity: int, k: int, seed: int, level: int) -> DataFrame:
    """Labels after overfull parts shed their excess into new parts (:func:`shed_excess`)."""
    over = [int(p) for p in np.flatnonzero(loads > capacity)]
    log.info("partition level %d: parts %s over %d vertices shed their excess", level, over, capacity)

    def shed(frame: pd.DataFrame) -> pd.DataFrame:
        ids, parts = frame["id"].to_numpy(np.int64), frame["part"].to_numpy(np.int64)
        return frame.assign(part=shed_excess(ids, parts, capacity, k, seed, level))

    full = labels.filter(F.col("part").isin(over)).groupBy("part").applyInPandas(shed, LABEL_SCHEMA)
    return truncate_lineage(labels.filter(~F.col("part").isin(over)).unionByName(full.select(*labels.columns)))
