"""GraphX's ``PageRank.runParallelPersonalizedPageRank``, the JVM peer of the PPR benchmark.

What a Spark user without sparkgraph would run: GraphX (bundled with Spark, Scala only) iterates
``numIter`` rounds of personalized PageRank for a set of sources at once, every vertex holding a
vector with one entry per source. Reached from Python through the session's JVM gateway (classic
Spark only: Spark Connect has no JVM on the client). The graph is read with
``GraphLoader.edgeListFile`` from a text edge list of dense ids; every vector is normalised to sum 1
(GraphX leaves the mass of the stopped iteration out) before precision@10 and L1 against exact PPR.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from sparkgraph import metrics

_VERTEX = re.compile(r"^\((\d+),\((\d+),\[([^\]]*)\],\[([^\]]*)\]\)\)$")  # (id,(k,[i...],[v...]))


def write_edge_list(local, path: str) -> str:
    """The arcs of ``local`` (a LocalGraph) as ``src dst`` lines of dense ids, GraphX's input."""
    coo = local.adjacency.tocoo()
    np.savetxt(path, np.column_stack([coo.row, coo.col]), fmt="%d")
    return path


def graphx_ppr(spark, edge_list: str, sources: np.ndarray, n: int, iterations: int, alpha: float, out_dir: str
               ) -> tuple[np.ndarray, float]:
    """``(len(sources) x n estimates, seconds)``: GraphX's parallel personalized PageRank from ``sources``
    (dense ids), ``iterations`` rounds, reset probability ``alpha``; the time covers loading the edge
    list, the iterations and writing the vectors out (GraphX is lazy until then)."""
    jvm, sc = spark.sparkContext._jvm, spark.sparkContext
    level = jvm.org.apache.spark.storage.StorageLevel.MEMORY_ONLY()
    ids = sc._gateway.new_array(jvm.long, len(sources))
    for i, s in enumerate(sources):
        ids[i] = int(s)
    tags = jvm.scala.reflect.ClassTag
    out = str(Path(out_dir) / f"graphx-{time.time_ns()}")
    started = time.perf_counter()
    graph = jvm.org.apache.spark.graphx.GraphLoader.edgeListFile(sc._jsc.sc(), edge_list, False, -1, level, level)
    result = jvm.org.apache.spark.graphx.lib.PageRank.runParallelPersonalizedPageRank(
        graph, iterations, alpha, ids, tags.Int(), tags.Int())
    result.vertices().saveAsTextFile(out)
    seconds = time.perf_counter() - started
    estimate = np.zeros((len(sources), n))
    for part in sorted(Path(out).glob("part-*")):
        for line in part.read_text().splitlines():
            vertex, _, indices, values = _VERTEX.match(line).groups()
            if indices:
                estimate[np.array(indices.split(","), dtype=np.int64), int(vertex)] = np.array(
                    values.split(","), dtype=np.float64)
    estimate /= np.maximum(estimate.sum(axis=1, keepdims=True), 1e-300)
    return estimate, seconds


def graphx_row(spark, local, sample_ids: np.ndarray, exact: np.ndarray, out_dir: str, base: dict,
               sources: int = 10, iterations: int = 10, alpha: float = 0.15) -> dict:
    """The benchmark row: GraphX from the first ``sources`` sampled sources, with its accuracy on them
    and its time for all sources extrapolated linearly (GraphX holds a vector of one entry per source
    at every vertex, so all sources at once do not fit)."""
    edge_list = write_edge_list(local, str(Path(out_dir) / "graphx-edges.txt"))
    chosen = sample_ids[:sources]
    estimate, seconds = graphx_ppr(spark, edge_list, chosen, local.n, iterations, alpha, out_dir)
    precision = float(np.mean([metrics.precision_at_k(estimate[i], exact[i], 10) for i in range(len(chosen))]))
    l1 = float(np.abs(estimate - exact[: len(chosen)]).sum(axis=1).mean())
    return {**base, "method": f"GraphX runParallelPersonalizedPageRank ({iterations} iterations)",
            "sources": len(chosen), "cores": base.get("cores"), "seconds": seconds,
            "all_sources_seconds": seconds * local.n / len(chosen), "all_sources_note": "extrapolated",
            "precision@10": precision, "l1": l1}
