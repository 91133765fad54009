"""Benchmark: k-medoids, local and on Spark, against the Rust FasterPAM and Spark ML k-means, in one run.

Sections (all by default, or pick with --sections):
- local: sparkgraph's numpy FasterPAM vs ``kmedoids.fasterpam`` (Rust, n_cpu=1, GPL-3.0: a peer only)
  vs alternating, same initial medoids, same matrix, n = 2,000 / 10,000 / 20,000, k = 10 / 100
  (:mod:`_kmedoids_local`);
- distributed: CLARA and partitioned on Spark at n = 20,000 (32 dimensions, 20 blobs), their loss over
  full FasterPAM's on the 20,000 x 20,000 matrix, the local twin's time, and Spark ML k-means
  (its k-means centres replaced by their nearest points to get a k-medoids loss);
- million: CLARA and partitioned at n = 1,000,000 vectors of 128 dimensions, k = 100 (no n x n
  matrix can exist): time, loss, the largest Python worker's peak memory; Spark ML k-means' time;
- hop: hop-distance k-medoids of Cora (CLARA, BFS on Spark) vs the local twin and full FasterPAM
  on the full hop matrix;
- embeddings: FastRP embeddings of Cora (k=7) and BlogCatalog (k=39) clustered by cosine k-medoids
  and by Spark ML k-means on unit vectors: time, purity, NMI and ARI against the labels.

    python bench/kmedoids.py                                   # everything (about 30 minutes on 2 cores)
    python bench/kmedoids.py --sections distributed,hop        # a part

Spark runs in local mode with 2 cores (local[2]) and 12g of driver memory; local rows use one
core. Times are the median of 3 runs below a minute (after a warm-up), one run above. Prints
tables and writes bench/results/kmedoids.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _kmedoids_local import local_rows  # noqa: E402
from embed import print_table, timed  # noqa: E402

from sparkgraph.cluster import KMedoidsParams, kmedoids  # noqa: E402
from sparkgraph.cluster.report import cluster_scores  # noqa: E402
from sparkgraph.community.report import labels_frame  # noqa: E402
from sparkgraph.datasets import gaussian_blobs, load_graph, load_labels, load_local  # noqa: E402
from sparkgraph.embed import FastRPParams, fastrp, to_vectors  # noqa: E402
from sparkgraph.local.kmedoids import fasterpam_all  # noqa: E402
from sparkgraph.local.kmedoids import kmedoids as local_kmedoids  # noqa: E402
from sparkgraph.session import SessionConfig, get_session  # noqa: E402
from sparkgraph.udfs.generators import blob_vectors  # noqa: E402
from sparkgraph.udfs.kmedoids import pairwise  # noqa: E402
from sparkgraph.udfs.medoid_steps import nearest  # noqa: E402

log = logging.getLogger("bench.kmedoids")
SECTIONS = ("local", "distributed", "million", "hop", "embeddings")


class PeakMemory:
    """The largest resident memory of any PySpark Python worker (and of the JVM) while the block runs,
    sampled from /proc every 0.2 s (Linux)."""

    def __init__(self):
        self.worker, self.jvm, self._stop = 0, 0, threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                except (OSError, ValueError, IndexError):
                    continue
                if b"pyspark.daemon" in cmd or b"pyspark.worker" in cmd:
                    self.worker = max(self.worker, rss)
                elif b"java" in cmd and b"spark" in cmd:
                    self.jvm = max(self.jvm, rss)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def blobs_frame(n: int, dimension: int, centers: int, seed: int) -> pd.DataFrame:
    ids = np.arange(n, dtype=np.int64)
    _, vectors = blob_vectors(ids, dimension, centers, 1.0, seed)
    return pd.DataFrame({"id": ids, "vector": list(vectors.astype(np.float64))})


def kmeans_medoid_loss(frame: pd.DataFrame, centers: np.ndarray) -> float:
    """The k-medoids loss of k-means' clustering: each centre replaced by the point nearest to it."""
    x = np.vstack(frame["vector"].to_numpy())
    medoids = [int(np.argmin(pairwise(x, c[None, :], "euclidean"))) for c in centers]
    return float(nearest(x, x[medoids], "euclidean")[1].sum())


def spark_kmeans(data, k: int, seed: int, column: str = "vector"):
    from pyspark.ml.clustering import KMeans

    vectors = to_vectors(data, column).cache()
    vectors.count()
    model, seconds = timed(lambda: KMeans(k=k, seed=seed, featuresCol=column, maxIter=20).fit(vectors))
    return model, seconds, vectors


def run_spark(data, params: KMedoidsParams):
    def go():
        result = kmedoids(data, params)
        result.unpersist()
        return result
    return timed(go)


def distributed_rows(spark, n: int = 20_000, dimension: int = 32) -> list[dict]:
    rows = []
    frame = blobs_frame(n, dimension, 20, seed=0)
    data = spark.createDataFrame(frame, "id long, vector array<double>").repartition(8).cache()
    data.count()
    for k in (10, 100):
        full_started = time.perf_counter()
        _, full = fasterpam_all(frame, KMedoidsParams(k=k), max_bytes=4 * 1024**3)
        full_seconds = time.perf_counter() - full_started
        rows.append({"n": n, "k": k, "method": "full FasterPAM (local, n x n matrix)", "where": "1 core",
                     "seconds": round(full_seconds, 2), "loss": round(full, 2), "loss / full": 1.0})
        for method in ("clara", "partitioned"):
            params = KMedoidsParams(k=k, method=method)
            result, seconds = run_spark(data, params)
            twin_started = time.perf_counter()
            twin = local_kmedoids(frame, params)
            twin_seconds = time.perf_counter() - twin_started
            assert list(twin.medoids["medoid"]) == list(result.medoids["medoid"]), "Spark and the twin disagree"
            rows.append({"n": n, "k": k, "method": f"{method} (Spark)", "where": "local[2]", "seconds": round(seconds, 2),
                         "loss": round(result.loss, 2), "loss / full": round(result.loss / full, 4),
                         "steps": len(result.rounds)})
            rows.append({"n": n, "k": k, "method": f"{method} (local twin, same medoids)", "where": "1 core",
                         "seconds": round(twin_seconds, 2), "loss": round(twin.loss, 2),
                         "loss / full": round(twin.loss / full, 4)})
        model, seconds, vectors = spark_kmeans(data, k, seed=0)
        loss = kmeans_medoid_loss(frame, np.asarray(model.clusterCenters()))
        vectors.unpersist()
        rows.append({"n": n, "k": k, "method": "Spark ML k-means (20 iterations; centres -> nearest points)",
                     "where": "local[2]", "seconds": round(seconds, 2), "loss": round(loss, 2),
                     "loss / full": round(loss / full, 4)})
        print_table(rows[-6:])
    data.unpersist()
    return rows


def million_rows(spark, n: int, dimension: int = 128, k: int = 100) -> list[dict]:
    rows = []
    data = gaussian_blobs(spark, n, dimension, centers=k, seed=1, slices=16)
    losses = {}
    for method in ("clara", "partitioned"):
        with PeakMemory() as peak:
            started = time.perf_counter()
            result = kmedoids(data, KMedoidsParams(k=k, method=method))
            seconds = time.perf_counter() - started
            result.unpersist()
        losses[method] = result.loss
        rows.append({"n": n, "k": k, "dimension": dimension, "method": f"{method} (Spark)", "where": "local[2]",
                     "seconds": round(seconds, 1), "loss": round(result.loss, 1),
                     "loss / clara": round(result.loss / losses["clara"], 4),
                     "steps": ", ".join(f"{r['step']} {r['seconds']:.0f}s" for r in result.rounds),
                     "peak worker MB": round(peak.worker / 2**20), "peak JVM MB": round(peak.jvm / 2**20)})
        print_table(rows[-1:])
    from pyspark.ml.clustering import KMeans

    vectors = to_vectors(data, "vector")
    started = time.perf_counter()
    KMeans(k=k, seed=1, featuresCol="vector", maxIter=20).fit(vectors)
    rows.append({"n": n, "k": k, "dimension": dimension, "method": "Spark ML k-means (20 iterations)",
                 "where": "local[2]", "seconds": round(time.perf_counter() - started, 1)})
    print_table(rows[-1:])
    return rows


def hop_rows(spark, name: str = "cora", k: int = 7) -> list[dict]:
    from scipy.sparse import csgraph

    from sparkgraph.udfs.kmedoids import fasterpam, init_medoids

    graph, local = load_graph(spark, name), load_local(name)
    params = KMedoidsParams(k=k, metric="hop")
    started = time.perf_counter()
    result = kmedoids(graph, params)
    seconds = time.perf_counter() - started
    result.unpersist()
    started = time.perf_counter()
    twin = local_kmedoids(local, params)
    twin_seconds = time.perf_counter() - started
    started = time.perf_counter()
    adjacency = local.adjacency.copy()
    adjacency.data[:] = 1.0
    hops = csgraph.shortest_path(adjacency, directed=False, unweighted=True)
    hops[np.isinf(hops)] = local.n
    full = fasterpam(hops, init_medoids(hops, k, "lab", 0))
    full_seconds = time.perf_counter() - started
    rows = [{"graph": name, "k": k, "method": "CLARA, hops by BFS (Spark)", "seconds": round(seconds, 1),
             "loss": result.loss, "unreachable": result.unreachable, "loss / full": round(result.loss / full.loss, 4)},
            {"graph": name, "k": k, "method": "CLARA, hops by scipy (local twin, same medoids)",
             "seconds": round(twin_seconds, 1), "loss": twin.loss, "unreachable": twin.unreachable,
             "loss / full": round(twin.loss / full.loss, 4)},
            {"graph": name, "k": k, "method": "full FasterPAM on all-pairs hops (local)",
             "seconds": round(full_seconds, 1), "loss": float(full.loss), "loss / full": 1.0}]
    print_table(rows)
    return rows


def embedding_rows(spark, name: str, k: int, fastrp_params: FastRPParams) -> list[dict]:
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    graph = load_graph(spark, name)
    embedding = fastrp(graph, fastrp_params).cache()
    embedding.count()
    truth = labels_frame(spark, load_labels(name))
    rows = []
    params = KMedoidsParams(k=k, metric="cosine")
    result, seconds = run_spark(embedding, params)
    result = kmedoids(embedding, params)
    scores = cluster_scores(result.assignments, truth)
    result.unpersist()
    rows.append({"graph": name, "k": k, "method": "k-medoids, cosine, partitioned (Spark)", "seconds": round(seconds, 1),
                 **{m: round(scores[m], 4) for m in ("purity", "nmi", "ari")}})
    unit = embedding.select("id", F.col("embedding").alias("vector"))
    unit = unit.withColumn("vector", array_to_vector(F.expr("transform(vector, x -> x / sqrt(aggregate(vector, "
                                                            "0D, (a, y) -> a + y * y)))")))
    unit = unit.cache()
    unit.count()
    from pyspark.ml.clustering import KMeans

    model, km_seconds = timed(lambda: KMeans(k=k, seed=0, featuresCol="vector", maxIter=20).fit(unit))
    clusters = model.transform(unit).select("id", F.col("prediction").alias("cluster"))
    km_scores = cluster_scores(clusters, truth)
    unit.unpersist()
    embedding.unpersist()
    rows.append({"graph": name, "k": k, "method": "Spark ML k-means on unit vectors", "seconds": round(km_seconds, 1),
                 **{m: round(km_scores[m], 4) for m in ("purity", "nmi", "ari")}})
    print_table(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--million", type=int, default=1_000_000, help="points in the million section")
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--out", default=str(BENCH / "results" / "kmedoids.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    results: dict[str, list[dict]] = {}
    if "local" in sections:
        results["local"] = local_rows()
        print_table(results["local"])
    spark = None
    if set(sections) - {"local"}:
        spark = get_session(SessionConfig(master="local[2]", driver_memory=args.driver_memory))
        warm = spark.createDataFrame(blobs_frame(300, 4, 3, 0), "id long, vector array<double>")
        kmedoids(warm, KMedoidsParams(k=3)).unpersist()  # warm-up: JVM, Python workers
    if "distributed" in sections:
        results["distributed"] = distributed_rows(spark)
    if "million" in sections:
        results["million"] = million_rows(spark, args.million)
    if "hop" in sections:
        results["hop"] = hop_rows(spark)
    if "embeddings" in sections:
        results["embeddings"] = (embedding_rows(spark, "cora", 7, FastRPParams(dimension=128, direction="both",
                                                                                iteration_weights=(0, 1, 1, 1), seed=1))
                                 + embedding_rows(spark, "blogcatalog", 39, FastRPParams.paper_blogcatalog(seed=1)))
    for name, rows in results.items():
        print(f"\n## {name}\n")
        print_table(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
