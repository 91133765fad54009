"""Distributed random walks: every walk is a row, advanced one round at a time by a join.

The three optimizations of Lin (WWW 2019), as done here:

1. **Hubs without a skewed partition.** Each vertex's arcs are numbered ``pos = 0..deg-1`` and
   carry an alias entry (Vose) for weighted sampling. A walker at ``u`` draws ``pos`` uniformly
   and joins on ``(u, pos)``: walkers at a hub spread over ``deg(u)`` join keys instead of one,
   and the alias coin picks the weighted neighbour in O(1).
2. **Small vertices jump ahead** (opt-in, ``segment_length > 0``). For every vertex of
   out-degree <= ``segment_max_degree``, ``segments_per_vertex`` walk segments of up to
   ``segment_length`` rounds are precomputed (with the same engine); a walker at such a vertex
   applies a random segment, i.e. several rounds in one join. Segments stop early at vertices
   without out-edges, so the dangling policy is applied by the main walk with the walker's own
   source. Estimates stay unbiased, but walkers that share a segment share a path, which
   raises the variance; hence off by default.
3. **Batches.** The ω walks per source run in batches sized so that one round holds at most
   ``walks_per_batch`` walkers, bounding shuffle size and memory.

Random numbers are hashes of (seed, round, salt, walker id) with walker id = source · ω + j, so
each source has its own stream and results do not depend on partitioning, shuffle order or
batching. Credits are tallied as counts (visits, and walk ends worth a whole credit), whose sums
are exact in any order, and turned into scores once at the end.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.graph import Graph, union_all
from sparkgraph.ppr.params import PPRParams
from sparkgraph.session import job_description, truncate_lineage
from sparkgraph.udfs.alias import alias_table

log = logging.getLogger(__name__)

_MASK53 = (1 << 53) - 1


def uniform(seed: int, round_: int, salt: int, walker: Column | str = "walker") -> Column:
    """A uniform [0, 1) number from a hash of (seed, round, salt, walker id)."""
    h = F.xxhash64(F.lit(seed), F.lit(round_), F.lit(salt), F.col(walker) if isinstance(walker, str) else walker)
    return h.bitwiseAND(F.lit(_MASK53)).cast("double") / float(1 << 53)


def arc_table(graph: Graph) -> DataFrame:
    """``(src, pos, dst, dst_deg, prob, alias, alias_deg)`` for sampling by (vertex, position)."""
    degrees = graph.out_degrees().select(F.col("id"), F.col("out_degree").alias("deg"))

    def build(batches):
        carry = None
        for batch in batches:
            frame = batch if carry is None else pd.concat([carry, batch], ignore_index=True)
            if frame.empty:
                continue
            src = frame["src"].to_numpy()
            last = src[-1]
            done, carry = frame[src != last], frame[src == last]
            if len(done):
                yield _alias_frame(done)
        if carry is not None and len(carry):
            yield _alias_frame(carry)

    arcs = (graph.edges.repartition("src").sortWithinPartitions("src", "dst")
            .mapInPandas(build, "src long, pos long, dst long, prob double, alias long"))
    dst_deg = degrees.select(F.col("id").alias("dst"), F.col("deg").alias("dst_deg"))
    alias_deg = degrees.select(F.col("id").alias("alias"), F.col("deg").alias("alias_deg"))
    return arcs.join(dst_deg, "dst").join(alias_deg, "alias")


def _alias_frame(frame: pd.DataFrame) -> pd.DataFrame:
    src = frame["src"].to_numpy()
    dst = frame["dst"].to_numpy()
    weight = frame["weight"].to_numpy(np.float64)
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    ends = np.r_[starts[1:], len(src)]
    pos = np.arange(len(src)) - np.repeat(starts, ends - starts)
    prob = np.ones(len(src))
    alias = dst.copy()
    for lo, hi in zip(starts, ends, strict=True):
        w = weight[lo:hi]
        if hi - lo > 1 and w.min() != w.max():
            p, a = alias_table(w)
            prob[lo:hi], alias[lo:hi] = p, dst[lo:hi][a]
    return pd.DataFrame({"src": src, "pos": pos, "dst": dst, "prob": prob, "alias": alias})


def _credits(walkers: DataFrame, target: Column | str, visits: float, ends: float) -> DataFrame:
    """Credit rows ``(source, walker, target, visits, ends)``: a visit is worth α, an end 1."""
    target = F.col(target) if isinstance(target, str) else target
    return walkers.select("source", "walker", target.cast("long").alias("target"), F.lit(visits).alias("visits"),
                          F.lit(ends).alias("ends"))


class _Walker:
    """Rounds of the walk over walker rows ``(source, walker, cur, deg, source_deg)``.

    ``dangling`` is the walk's policy (``params.dangling``, or ``discard`` for the walk index);
    ``salt`` separates the random streams of different walks (segments, main walk).
    """

    def __init__(self, arcs: DataFrame, params: PPRParams, dangling: str, salt: int = 0):
        self.arcs = arcs
        self.p = params
        self.dangling = dangling
        self.salt = salt

    def step(self, walkers: DataFrame, round_: int, last: bool, stop_at_sinks: bool
             ) -> tuple[DataFrame, DataFrame]:
        """One round: ``(credits (source, walker, target, visits, ends), walkers still moving)``.

        ``stop_at_sinks`` (segment building) leaves walkers at vertices without out-edges
        alive and unmoved, so the main walk can apply the dangling policy.
        """
        p, alpha, salt = self.p, self.p.restart_prob, self.salt
        credits = []
        sink = F.col("deg") == 0
        if stop_at_sinks:
            parked = walkers.filter(sink)
            walkers = walkers.filter(~sink)
        elif self.dangling == "stop":
            credits.append(_credits(walkers.filter(sink), "cur", 0.0, 1.0))
            walkers = walkers.filter(~sink)
        stop = F.lit(True) if last else uniform(p.seed, round_, salt) < alpha
        walkers = walkers.withColumn("stop", stop)
        if p.estimator == "visits":
            credits.append(_credits(walkers, "cur", 1.0, 0.0))
        else:
            credits.append(_credits(walkers.filter("stop"), "cur", 0.0, 1.0))
        movers = walkers.filter(~F.col("stop")).drop("stop")
        if self.dangling == "discard":
            # the walk index: a walk reaching a jump ends, counted towards target -1 (the jump share)
            credits.append(_credits(movers.filter(sink), F.lit(-1), 0.0, 1.0))
            movers = movers.filter(~sink)
        jumpers = movers.filter(sink).withColumn("cur", F.col("source")).withColumn("deg", F.col("source_deg"))
        steppers = movers.filter(~sink).withColumn(
            "pos", F.floor(uniform(p.seed, round_, salt + 1) * F.col("deg")).cast("long"))
        arcs = self.arcs.withColumnRenamed("src", "cur")
        coin = uniform(p.seed, round_, salt + 2) < F.col("prob")
        moved = (steppers.join(arcs, ["cur", "pos"])
                 .select("source", "walker",
                         F.when(coin, F.col("dst")).otherwise(F.col("alias")).alias("cur"),
                         F.when(coin, F.col("dst_deg")).otherwise(F.col("alias_deg")).alias("deg"),
                         "source_deg"))
        nxt = moved.unionByName(jumpers)
        if stop_at_sinks:
            nxt = nxt.unionByName(parked)
        return union_all(credits), nxt


def _sum_credits(credits: DataFrame) -> DataFrame:
    """Visits and ends per (source, target): sums of whole numbers, exact in any order."""
    return credits.groupBy("source", "target").agg(F.sum("visits").alias("visits"), F.sum("ends").alias("ends"))


class Segments:
    """Precomputed segments from small vertices (optimization 2), keyed by (start vertex, segment).

    ``credits``: ``(cur, seg, target, visits, ends)``, what a walker at ``cur`` that takes segment ``seg``
    earns; ``ends``: ``(cur, seg, end, end_deg)``, where it stands afterwards if still moving.
    """

    def __init__(self, graph: Graph, arcs: DataFrame, params: PPRParams, dangling: str):
        spark = graph.spark
        k = self.k = params.segments_per_vertex
        parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
        self.max_degree = params.segment_max_degree
        self.seed = params.seed
        degrees = graph.out_degrees()
        small = degrees.filter((F.col("out_degree") > 0) & (F.col("out_degree") <= params.segment_max_degree))
        walkers = (small.crossJoin(spark.range(k).withColumnRenamed("id", "seg"))
                   .select(F.col("id").alias("source"), (F.col("id") * k + F.col("seg")).alias("walker"),
                           F.col("id").alias("cur"), F.col("out_degree").alias("deg"),
                           F.col("out_degree").alias("source_deg")))
        # segments use their own random streams (salts 4..6), independent of the main walk's (0..3)
        engine = _Walker(arcs, params, dangling, salt=4)
        credits = []
        for r in range(params.segment_length):
            c, walkers = engine.step(walkers, r, last=False, stop_at_sinks=True)
            credits.append(c)
            walkers = truncate_lineage(walkers.coalesce(parts))
        def keyed(df: DataFrame) -> DataFrame:
            return df.withColumn("seg", F.col("walker") % k).withColumn("cur", F.col("source"))

        self.credits = (keyed(union_all(credits)).groupBy("cur", "seg", "target")
                        .agg(F.sum("visits").alias("visits"), F.sum("ends").alias("ends"))
                        .persist(StorageLevel.MEMORY_AND_DISK))
        self.ends = keyed(walkers.select("source", "walker", F.col("cur").alias("end"), F.col("deg").alias("end_deg"))
                          ).select("cur", "seg", "end", "end_deg").persist(StorageLevel.MEMORY_AND_DISK)
        log.info("segments: %d credit rows, %d open ends", self.credits.count(), self.ends.count())

    def is_small(self) -> Column:
        return (F.col("deg") > 0) & (F.col("deg") <= self.max_degree)

    def jump(self, walkers: DataFrame, round_: int) -> tuple[DataFrame, DataFrame]:
        """Apply one random segment to each walker (all at small vertices)."""
        picked = walkers.withColumn("seg", F.floor(uniform(self.seed, round_, 3) * self.k).cast("long"))
        credits = picked.join(self.credits, ["cur", "seg"]).select("source", "walker", "target", "visits", "ends")
        moved = (picked.join(self.ends, ["cur", "seg"])
                 .select("source", "walker", F.col("end").alias("cur"), F.col("end_deg").alias("deg"), "source_deg"))
        return credits, moved

    def unpersist(self) -> None:
        self.credits.unpersist()
        self.ends.unpersist()


def distributed_scores(graph: Graph, ids: DataFrame, params: PPRParams, dangling: str | None = None) -> DataFrame:
    """All estimated PPR entries ``(source, target, score)`` (dense ids) by distributed walks.

    Args:
        graph: The graph.
        ids: Dense source ids ``(id)``.
        params: Walk parameters (α, ω, estimator, dangling, walks_per_batch, max_steps, seed,
            and the segment settings; ``segment_length=0`` runs without segments).
        dangling: The walk's dangling policy when not ``params.dangling`` (``discard``: the
            walk index's walks, whose jump share is target -1).
    """
    dangling = dangling or params.dangling
    spark = graph.spark
    started = time.perf_counter()
    job_description(spark, "sparkgraph ppr: arc table")
    arcs = arc_table(graph).persist(StorageLevel.MEMORY_AND_DISK)
    degrees = graph.out_degrees().select("id", F.col("out_degree").alias("deg"))
    sources = ids.join(degrees, "id").persist(StorageLevel.MEMORY_AND_DISK)
    num_sources = sources.count()
    jumps = None
    if params.segment_length > 0:
        job_description(spark, "sparkgraph ppr: segments from small vertices")
        jumps = Segments(graph, arcs, params, dangling)
    parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    omega = params.walks_per_source
    per_batch = max(1, min(omega, params.walks_per_batch // max(1, num_sources)))
    engine = _Walker(arcs, params, dangling)
    total = None
    rounds = 0
    for first in range(0, omega, per_batch):
        width = min(per_batch, omega - first)
        walkers = (sources.crossJoin(spark.range(first, first + width).withColumnRenamed("id", "j"))
                   .select(F.col("id").alias("source"), (F.col("id") * omega + F.col("j")).alias("walker"),
                           F.col("id").alias("cur"), "deg", F.col("deg").alias("source_deg")))
        batch_credits = None
        for r in range(params.max_steps + 1):
            job_description(spark, f"sparkgraph ppr: walks {first}..{first + width} of {omega}, round {r}")
            progress.advance("walks per source", first, omega)
            last = r == params.max_steps
            if jumps is not None and not last:
                c1, w1 = engine.step(walkers.filter(~jumps.is_small()), r, last, stop_at_sinks=False)
                c2, w2 = jumps.jump(walkers.filter(jumps.is_small()), r)
                credits, walkers = c1.unionByName(c2), w1.unionByName(w2)
            else:
                credits, walkers = engine.step(walkers, r, last, stop_at_sinks=False)
            credits = _sum_credits(credits)
            batch_credits = credits if batch_credits is None else batch_credits.unionByName(credits)
            # a union adds up its inputs' partitions: coalesce, then truncate lineage, every round
            walkers = truncate_lineage(walkers.coalesce(parts))
            alive = walkers.count()
            log.info("round %d: %d walks moving", r, alive)
            rounds += 1
            if r % 8 == 7 or alive == 0:
                batch_credits = truncate_lineage(_sum_credits(batch_credits))
            if alive == 0:
                break
        log.info("walk batch %d..%d done after %d rounds", first, first + width, r + 1)
        total = batch_credits if total is None else truncate_lineage(_sum_credits(total.unionByName(batch_credits)))
    progress.advance("walks per source", omega, omega)
    arcs.unpersist()
    sources.unpersist()
    if jumps is not None:
        jumps.unpersist()
    log.info("distributed walks: %d rounds in %.1fs", rounds, time.perf_counter() - started)
    alpha = params.restart_prob
    return total.select("source", "target", ((F.col("visits") * alpha + F.col("ends")) / omega).alias("score"))
