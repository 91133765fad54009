"""Connected components and weighted label propagation on an edge DataFrame, in DataFrame steps.

Connected components: alternating Large-Star and Small-Star (Kiveris, Lattanzi, Mirrokni,
Rastogi, Vassilvitskii, *Connected Components in MapReduce and Beyond*, SoCC 2014). Both
operations keep the components and move every vertex's edges towards the smallest id it
knows; when a round changes nothing, each component is a star around its smallest id. The
paper proves O(log² n) rounds for the alternation and observes about log n in practice.
Lineage is cut every round (:func:`~sparkgraph.session.truncate_lineage`).

Label propagation: every vertex starts with its own id as label; each round it takes the label
of largest total edge weight among its neighbours and itself (its own label counts with
``self_weight``; totals rounded to 1e-9 so the order of summation cannot flip a tie), ties to the
smallest label; a fixed number of rounds, all vertices at once.
"""

from __future__ import annotations

import logging
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.session import job_description, parallelism, release, truncate_lineage

log = logging.getLogger(__name__)


def _large_star(edges: DataFrame) -> DataFrame:
    """Every vertex u links its larger neighbours to the smallest of u and its neighbours.

    Why: a vertex's larger neighbours all jump straight to the smallest id u knows, which halves
    the distance to the component's minimum along many paths at once."""
    both = edges.select("u", "v").unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return (both.filter(F.col("v") > F.col("u")).join(smallest, "u")
            .select(F.col("v").alias("u"), F.col("m").alias("v")).distinct())


def _small_star(edges: DataFrame) -> DataFrame:
    """Every vertex u links itself and its smaller neighbours to the smallest of them.

    Why: it merges the stars Large-Star leaves around different local minima of one component."""
    oriented = edges.select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v")).filter(F.col("u") != F.col("v"))
    smallest = oriented.groupBy("u").agg(F.min("v").alias("m"))
    moved = oriented.join(smallest, "u").select(F.col("v").alias("u"), F.col("m").alias("v"))
    own = smallest.select("u", F.col("m").alias("v"))
    return moved.unionByName(own).filter(F.col("u") != F.col("v")).distinct()


def connected_components(edges: DataFrame, vertices: DataFrame, max_rounds: int = 60) -> tuple[DataFrame, int]:
    """``(id, component)``, the component being its smallest vertex id, and the rounds used.

    Args:
        edges: ``(u, v)`` undirected edges over long ids.
        vertices: ``(id)`` every vertex (isolated ones become their own component).
        max_rounds: Bound on Large-Star + Small-Star rounds.

    Example:
        >>> labels, rounds = connected_components(pairs.select("u", "v"), graph.vertices.select("id"))
    """
    spark = edges.sparkSession
    current = truncate_lineage(edges.select("u", "v").filter(F.col("u") != F.col("v")).distinct())
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        started = time.perf_counter()
        job_description(spark, f"sparkgraph components: large-star + small-star round {rounds}")
        progress.advance("component rounds (at most)", rounds - 1, max_rounds)
        nxt = truncate_lineage(_small_star(_large_star(current)))
        changed = nxt.exceptAll(current).limit(1).count() + current.exceptAll(nxt).limit(1).count()
        release(current)
        current = nxt
        log.info("components: round %d, %s (%.1fs)", rounds, "changed" if changed else "settled",
                 time.perf_counter() - started)
        if not changed:
            break
    job_description(spark, None)
    star = current.select(F.greatest("u", "v").alias("id"), F.least("u", "v").alias("root"))
    root = star.groupBy("id").agg(F.min("root").alias("root"))
    labels = (vertices.select("id").join(root, "id", "left")
              .select("id", F.coalesce("root", "id").alias("component")))
    return labels, rounds


def label_propagation(edges: DataFrame, vertices: DataFrame, rounds: int = 10,
                      self_weight: float = 0.0) -> DataFrame:
    """``(id, community)`` by weighted label propagation (deterministic; ties to the smallest label).

    Args:
        edges: ``(u, v, weight)`` undirected edges (each listed once).
        vertices: ``(id)`` every vertex.
        rounds: Rounds, every vertex updated at once in each.
        self_weight: Weight of a vertex's own current label (damps the two-colour oscillation of
            synchronous updates; 1.0 is the Jaccard of a vertex with itself).

    Example:
        >>> labels = label_propagation(similar.select("u", "v", "weight"), graph.vertices.select("id"))
    """
    spark = edges.sparkSession
    partitions = parallelism(spark)
    # arcs hashed by v and labels by id into the same number of partitions: the join of a round
    # then needs no shuffle, and the one shuffle by id serves both aggregations.
    arcs = (edges.select("u", "v", "weight")
            .unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v"), "weight"))
            .repartition(partitions, "v").cache())
    labels = truncate_lineage(vertices.select("id", F.col("id").alias("label")))
    for i in range(1, rounds + 1):
        job_description(spark, f"sparkgraph label propagation: round {i} of {rounds}")
        progress.advance("label propagation rounds", i - 1, rounds)
        heard = (arcs.join(labels.select(F.col("id").alias("v"), "label"), "v")
                 .select(F.col("u").alias("id"), "label", "weight")
                 .unionByName(labels.select("id", "label", F.lit(self_weight).alias("weight")))
                 .repartition(partitions, "id"))  # one shuffle serves both aggregations below
        votes = heard.groupBy("id", "label").agg(F.round(F.sum("weight"), 9).alias("votes"))
        best = votes.groupBy("id").agg(F.max(F.struct("votes", (-F.col("label")).alias("neg"))).alias("best"))
        previous = labels
        labels = truncate_lineage(best.select("id", (-F.col("best.neg")).alias("label")))
        release(previous)
    job_description(spark, None)
    arcs.unpersist()
    return labels.select("id", F.col("label").alias("community"))
