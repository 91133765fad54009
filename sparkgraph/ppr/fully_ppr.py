"""Fully personalized PageRank by Monte Carlo random walks (Lin, WWW 2019).

One function, two strategies:

* **broadcast** — the CSR adjacency reaches every task (as chunks under a SQL broadcast,
  :mod:`sparkgraph.shipping`, which also works over Spark Connect); each task walks its share
  of sources entirely in numpy (:mod:`sparkgraph.udfs.walks`), no shuffle per step.
* **distributed** — the graph is cut into shards of vertices that stay on the executors; walkers
  travel between them as compact arrays and walk as far as they can inside each
  (:mod:`sparkgraph.ppr.distributed`), for graphs whose adjacency does not fit a task.

``auto`` picks broadcast when the adjacency is under ``broadcast_max_bytes``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.errors import ParameterError
from sparkgraph.graph import Graph
from sparkgraph.ppr.params import PPRParams
from sparkgraph.session import job_description, parallelism
from sparkgraph.shipping import map_with_matrices, ship_matrix
from sparkgraph.udfs.smoothing import smooth_candidates
from sparkgraph.udfs.walks import walk_graph, walk_scores

log = logging.getLogger(__name__)

SCORES_SCHEMA = "source long, target long, score double"


def adjacency_bytes(graph: Graph, push: bool = False, smooth: bool = False) -> int:
    """Bytes one task of the broadcast strategy holds for the graph: the shipped CSR (indptr, 8-byte
    indices, 8-byte weights when weighted), each row's running sums as 16-byte complex keys when
    weighted (:func:`sparkgraph.udfs.walks.row_cumweights`), and with ``push`` the transition matrix
    (8-byte values, 4-byte indices), with ``smooth`` its in-arcs too."""
    matrices = int(push or smooth) + int(smooth)
    per_arc = 8 + (24 if graph.weighted else 0) + 12 * matrices
    return graph.num_arcs * per_arc + (graph.n + 1) * (8 + 8 * matrices)


def choose_strategy(graph: Graph, params: PPRParams) -> str:
    """``params.strategy``, or under auto broadcast when a task holds the graph within
    ``broadcast_max_bytes`` (:func:`adjacency_bytes`), else distributed; smoothing, which needs
    the whole graph in a task, raises :class:`ParameterError` there instead."""
    if params.strategy != "auto":
        return params.strategy
    push = params.push_plan(graph.n, graph.num_arcs).rounds > 0
    held = adjacency_bytes(graph, push, params.smooth)
    if held <= params.broadcast_max_bytes:
        return "broadcast"
    if params.smooth:
        raise ParameterError(f"smooth=True needs the whole graph in each task, {held:,} bytes here, over "
                             f"broadcast_max_bytes={params.broadcast_max_bytes:,}: raise broadcast_max_bytes if the "
                             "executors hold it, or leave smooth false", key="smooth")
    return "distributed"


def describe_method(graph: Graph, params: PPRParams) -> str:
    """The strategy ``params`` runs on ``graph`` and its push, in words (for reports and logs).

    Example:
        >>> describe_method(load_graph(spark, "karate"), PPRParams())
        'broadcast strategy, 8 push rounds (up to 42 more), then in place where its bound beats 1000 walks'
    """
    strategy = choose_strategy(graph, params)
    if strategy == "broadcast":
        smoothed = ", then smoothed" if params.smooth else ""
        return f"broadcast strategy, {params.push_plan(graph.n, graph.num_arcs).describe()}{smoothed}"
    from sparkgraph.ppr.distributed import ShardPush, memory_shards

    shards = memory_shards(graph, params.shard_max_bytes)
    return f"distributed strategy, {ShardPush.of(params, params.dangling, shards).describe()}"


def source_ids(graph: Graph, sources) -> DataFrame:
    """Dense ids ``(id)`` of the sources: all vertices when None, else the given caller ids (checked)."""
    if sources is None:
        return graph.vertices.select("id")
    return graph.to_ids(sources, what="source")


def fully_ppr(graph: Graph, params: PPRParams | None = None, sources=None, top_k: bool = True) -> DataFrame:
    """Top-k personalized PageRank for every source, estimated from random walks.

    Args:
        graph: The graph; walks follow out-edges with probability proportional to weight.
        params: :class:`PPRParams` (α, ω, k, estimator, dangling policy, strategy, seed).
        sources: None for every vertex, or caller ids (a list or a one-column DataFrame).
        top_k: False returns every estimated entry (the full sparse vectors).

    Returns:
        DataFrame ``(source, target, score)`` in the caller's ids: the ``top_k`` highest
        scores of each source (ties broken by the smaller dense id).

    Raises:
        UnknownVertexError: a source is not a vertex of the graph.
        ParameterError: ``count_top`` or ``smooth`` with every entry asked for; ``smooth`` on a graph
            over ``broadcast_max_bytes``.

    Example:
        >>> g = load_graph(spark, "karate")
        >>> top = fully_ppr(g, PPRParams(walks_per_source=2000, top_k=5, seed=1), sources=[1, 34])
        >>> top.filter("source = 34").orderBy("score", ascending=False).first().target
        34

    Notes:
        Error: each entry is a mean of ω independent walk contributions in [0, 1] (endpoints) or
        of bounded visit credits (visits); Hoeffding gives |π̂ - π| <= sqrt(ln(2/p)/(2ω)) with
        probability 1-p for the endpoint estimator, and Bernstein a tighter bound for small π.
    """
    params = params or PPRParams()
    if not top_k and params.smooth:
        raise ParameterError("smooth=True re-estimates each source's top_k + 20 entries, but every entry was "
                             "asked for (top_k=False): leave smooth false", key="smooth")
    if not top_k and params.count_top is not None:
        raise ParameterError(f"count_top={params.count_top} trims the counts, but every entry was asked for "
                             "(top_k=False): leave count_top null", key="count_top")
    started = time.perf_counter()
    strategy = choose_strategy(graph, params)
    ids = source_ids(graph, sources)
    log.info("fully_ppr: %s strategy, ω=%d, α=%.3f, estimator=%s, dangling=%s%s", strategy,
             params.walks_per_source, params.restart_prob, params.estimator, params.dangling,
             ", smoothed" if params.smooth else "")
    known = graph.n if sources is None else (len(sources) if isinstance(sources, (list, tuple)) else None)
    scores = dense_scores(graph, ids, params, top_k, sources_count=known)
    result = graph.to_names(scores, "source", "target")
    log.info("fully_ppr planned in %.1fs", time.perf_counter() - started)
    return result


def dense_scores(graph: Graph, ids: DataFrame, params: PPRParams, top_k: bool = True,
                 sources_count: int | None = None, dangling: str | None = None) -> DataFrame:
    """``(source, target, score)`` over dense ids, by the strategy ``params`` selects
    (``sources_count``, when known, is shown as progress).

    ``dangling`` overrides ``params.dangling`` with a policy users do not choose: ``discard``,
    for the walk index's walks (a walk ends at a jump and counts towards target -1).
    """
    dangling = dangling or params.dangling
    if choose_strategy(graph, params) == "broadcast":
        return _broadcast_scores(graph, ids, params, top_k, sources_count, dangling)
    from sparkgraph.ppr.distributed import distributed_scores

    return distributed_scores(graph, ids, params, dangling, params.top_k if top_k else None)


def keep_top_k(scores: DataFrame, k: int) -> DataFrame:
    """The ``k`` highest scores of every source (ties: smaller target first).

    Rows with target -1 (the jump share of the walk index) are kept besides the ``k``.
    """
    jump = F.col("target") == -1
    rank = F.row_number().over(Window.partitionBy("source", jump).orderBy(F.desc("score"), "target"))
    return scores.withColumn("_rank", rank).filter((F.col("_rank") <= k) | jump).drop("_rank")


def walk_tasks(graph: Graph) -> int:
    """Tasks of the broadcast strategy's walk stage: four per core (a straggler costs less), at most one per vertex."""
    return max(1, min(graph.n, 4 * parallelism(graph.spark)))


def _broadcast_scores(graph: Graph, ids: DataFrame, params: PPRParams, top_k: bool,
                      sources_count: int | None, dangling: str) -> DataFrame:
    """Each task walks its sources in numpy over the whole CSR adjacency, shipped to it as chunks.

    How the sources fall into partitions, Arrow batches and chunks changes nothing: each source
    walks on its own random stream (:func:`~sparkgraph.udfs.walks.walk_scores`).
    """
    adjacency = ship_matrix(graph.edges, "adjacency", graph.n, graph.n, graph.num_arcs, row="src", col="dst",
                            value="weight" if graph.weighted else None)
    per_chunk = max(1, params.walks_per_batch // params.walks_per_source)
    plan = params.push_plan(graph.n, graph.num_arcs, dangling)
    rounds = plan.rounds
    smooth = smooth_candidates(params.top_k) if params.smooth else None
    if rounds:
        per_chunk = min(per_chunk, params.push_sources_per_batch)
    p = params

    def build(matrices):
        indptr, indices, weights = matrices["adjacency"]
        return walk_graph(indptr, indices, weights, push=rounds > 0, smooth=smooth is not None)

    def walk(ids_batch, walked):
        for lo in range(0, len(ids_batch), per_chunk):
            chunk = ids_batch[lo: lo + per_chunk]
            owner, target, score = walk_scores(chunk, walked, p.walks_per_source, p.restart_prob, p.estimator,
                                               dangling, p.max_steps, p.seed, plan, p.top_k if top_k else None,
                                               smooth)
            target = np.where(target == walked.n, -1, target)  # the jump share under "discard"
            yield pd.DataFrame({"source": chunk[owner], "target": target, "score": score})

    partitions = walk_tasks(graph)
    if sources_count is not None:  # the sources are walked inside the tasks of one stage
        progress.expect_tasks("sources", sources_count, partitions)
    job_description(graph.spark, f"sparkgraph ppr: walks ({p.walks_per_source} per source, broadcast)")
    return map_with_matrices(ids, "id", [adjacency], partitions, build, walk, SCORES_SCHEMA)
