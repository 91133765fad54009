"""Benchmark: partitioned embedding against whole-graph FastRP, and its partitioner against METIS, in one run.

For each graph and ``max_part_size``: the partition (parts per level, largest part, cut fraction
and border of level 0) next to METIS (``pymetis``, the same number of parts, one core) on the same
undirected graph; Spark times of the partition and of the whole partitioned embedding (computed
into rows, a ``noop`` sink) next to whole-graph Spark FastRP with the same FastRP settings (d=128,
weights 0, 1, 1, seed 1) in the same run; node-classification micro/macro-F1 at 10 % labelled (5
shuffles; C=0.1 on Cora as in the FastRP notebook, 1.0 elsewhere) and link-prediction cosine AUC
on 10 % held-out edges: all of them, those whose endpoints fall in different level-0 parts (cut)
and those inside a part (within), for the partitioned embedding and for whole-graph FastRP on the
same pairs. Quality is measured on the local twin's vectors (equal to Spark's, see
tests/test_partitioned.py); times on Spark.

    python bench/partitioned.py                                   # everything (about 45 minutes on 2 cores)
    python bench/partitioned.py --graphs cora --generated 0 --large 0     # a quick run

``--large`` adds a 1M-vertex / 20M-arc planted-partition graph on Spark only (no quality, ~18 minutes
with driver memory 12g): times next to whole-graph FastRP and the peak memory of the largest Python
worker and of the JVM.

Prints a table and writes bench/results/partitioned.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.embed import print_table  # noqa: E402  (one table printer for the benchmarks)
from bench.kmedoids import PeakMemory  # noqa: E402
from sparkgraph import metrics  # noqa: E402
from sparkgraph.datasets import load_graph, load_labels, load_local, planted_partition  # noqa: E402
from sparkgraph.embed import FastRPParams, fastrp  # noqa: E402
from sparkgraph.embed.evaluate import label_matrix, node_classification, split_edges  # noqa: E402
from sparkgraph.embed.params import PartitionedParams  # noqa: E402
from sparkgraph.embed.partitioned import partitioned_embedding  # noqa: E402
from sparkgraph.graph import Graph  # noqa: E402
from sparkgraph.local.fastrp import fastrp as local_fastrp  # noqa: E402
from sparkgraph.local.graph import LocalGraph  # noqa: E402
from sparkgraph.local.partitioned import partitioned_embedding as local_partitioned  # noqa: E402
from sparkgraph.local.partitioned import symmetric_pairs  # noqa: E402
from sparkgraph.session import SessionConfig, get_session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FASTRP = FastRPParams(dimension=128, seed=1)
log = logging.getLogger("bench.partitioned")


def undirected(graph: LocalGraph) -> LocalGraph:
    a = graph.adjacency
    return LocalGraph(((a + a.T) > 0).astype(np.float64).tocsr(), graph.names, False, False)


def metis_cut(local: LocalGraph, parts: int) -> tuple[float, float]:
    """(cut fraction, seconds) of METIS's ``parts``-way partition of the undirected graph."""
    import pymetis

    pairs = symmetric_pairs(local.adjacency)
    started = time.perf_counter()
    _, membership = pymetis.part_graph(parts, xadj=pairs.indptr, adjncy=pairs.indices)
    seconds = time.perf_counter() - started
    membership = np.asarray(membership)
    coo = pairs.tocoo()
    return float((membership[coo.row] != membership[coo.col]).mean()), seconds


def spark_seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def link_aucs(embedding: np.ndarray, parts: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> dict:
    unit = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
    same = parts[positive[:, 0]] == parts[positive[:, 1]]
    return {"all": metrics.link_prediction_auc(unit, positive, negative),
            "within": metrics.link_prediction_auc(unit, positive[same], negative),
            "cut": metrics.link_prediction_auc(unit, positive[~same], negative)}


def graph_rows(spark, name: str, graph: Graph, local: LocalGraph, labels: np.ndarray | None, sizes: list[int],
               embedders: list[str], link_prediction: bool) -> list[dict]:
    rows = []
    whole_seconds = spark_seconds(lambda: fastrp(graph, FASTRP).write.format("noop").mode("overwrite").save())
    c = 0.1 if name == "cora" else 1.0
    whole_f1 = node_classification(local_fastrp(local, FASTRP), labels, C=c) if labels is not None else {}
    split = None
    if link_prediction:
        remaining, positive, negative = split_edges(undirected(local), 0.1, seed=1)
        whole_remaining = local_fastrp(remaining, FASTRP)
        split = (remaining, positive, negative)
    for size in sizes:
        for embedder in embedders:
            params = PartitionedParams(max_part_size=size, embedder=embedder)
            result = partitioned_embedding(graph, params, FASTRP)
            total = spark_seconds(lambda p=params: partitioned_embedding(graph, p, FASTRP).embeddings.write.format(
                "noop").mode("overwrite").save())
            first = result.levels[0]
            row = {"graph": name, "max_part": size, "embedder": embedder,
                   "parts": "/".join(str(lv["parts"]) for lv in result.levels), "largest": first["largest"],
                   "cut": first["cut_fraction"], "border": first["border"],
                   "partition_s": result.seconds["partition"], "spark_s": round(total, 1),
                   "whole_fastrp_s": round(whole_seconds, 1)}
            if embedder == embedders[0] and first["parts"] > 1:
                cut, seconds = metis_cut(local, first["parts"])
                row.update(metis_cut=round(cut, 4), metis_s=round(seconds, 2))
            twin = None
            if labels is not None:
                twin = local_partitioned(local, params, FASTRP)
                f1 = node_classification(twin.embedding, labels, C=c)
                row.update(micro=round(f1["micro_f1"], 4), macro=round(f1["macro_f1"], 4),
                           whole_micro=round(whole_f1["micro_f1"], 4), whole_macro=round(whole_f1["macro_f1"], 4))
            if split is not None:
                remaining, positive, negative = split
                fused = local_partitioned(remaining, params, FASTRP)
                parts = fused.parts[0][1]
                ours, whole = link_aucs(fused.embedding, parts, positive, negative), link_aucs(
                    whole_remaining, parts, positive, negative)
                row.update({f"auc_{k}": round(v, 4) for k, v in ours.items()})
                row.update({f"whole_auc_{k}": round(v, 4) for k, v in whole.items()})
            rows.append(row)
            log.info("%s", row)
            print_table([row])
            sys.stdout.flush()
    return rows


def planted(spark, spec: str):
    """``(edges, truth, name)`` of the planted-partition graph ``n:communities:mean_degree`` (mixing 0.2)."""
    n, blocks, degree = (int(x) for x in spec.split(":"))
    size = n // blocks
    p_in, p_out = 0.8 * degree / size, 0.2 * degree / (n - size)
    edges, truth = planted_partition(spark, n, blocks, p_in, p_out, seed=1)
    return edges, truth, n


def large_rows(spark, spec: str, size: int, strategy: str, single_max_bytes: int) -> list[dict]:
    """Spark only (no local twin, no quality): partitioned embedding of a large generated graph, its
    levels, its time next to whole-graph Spark FastRP and the largest Python worker's and the JVM's
    peak resident memory (sampled from /proc)."""
    edges, _, n = planted(spark, spec)
    edges = edges.cache()
    graph = Graph.from_edges(edges, directed=False)
    name = f"planted {n // 1000}k vertices/{graph.num_arcs / 1e6:.0f}M arcs, mixing 0.2"
    with PeakMemory() as whole_peak:
        whole_seconds = spark_seconds(lambda: fastrp(graph, FASTRP).write.format("noop").mode("overwrite").save())
    params = PartitionedParams(max_part_size=size, strategy=strategy, single_max_bytes=single_max_bytes)
    with PeakMemory() as peak:
        started = time.perf_counter()
        result = partitioned_embedding(graph, params, FASTRP)
        result.embeddings.write.format("noop").mode("overwrite").save()
        total = time.perf_counter() - started
    first = result.levels[0]
    row = {"graph": name, "max_part": size, "embedder": "fastrp", "strategy": strategy,
           "parts": "/".join(str(lv["parts"]) for lv in result.levels), "largest": first["largest"],
           "cut": first["cut_fraction"], "border": first["border"], "partition_s": result.seconds["partition"],
           "spark_s": round(total, 1), "whole_fastrp_s": round(whole_seconds, 1),
           "peak_worker_mb": round(peak.worker / 2**20), "peak_jvm_mb": round(peak.jvm / 2**20),
           "whole_peak_worker_mb": round(whole_peak.worker / 2**20)}
    log.info("%s", row)
    print_table([row])
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", default="cora,blogcatalog,cnr-2000")
    parser.add_argument("--generated", default="100000:100:20",
                        help="n:communities:mean_degree of a planted-partition social graph (0 skips)")
    parser.add_argument("--large", default="1000000:1000:20",
                        help="n:communities:mean_degree of a large planted-partition graph, Spark only (0 skips)")
    parser.add_argument("--large-strategy", default="single", choices=["auto", "single", "distributed"],
                        help="partitioner strategy on the large graph (single: its pairs in one task)")
    parser.add_argument("--large-single-bytes", type=int, default=12 * 1024**3,
                        help="single_max_bytes on the large graph")
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "partitioned.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    spark = get_session(SessionConfig(master="local[2]", driver_memory=args.driver_memory))
    partitioned_embedding(load_graph(spark, "karate"), PartitionedParams(max_part_size=10),
                          FastRPParams(dimension=8)).embeddings.count()  # warm-up: JVM, Python workers
    plan = {"cora": ([500, 1000], ["fastrp", "spectral"], True),
            "blogcatalog": ([2000, 1000], ["fastrp", "spectral"], True),
            "cnr-2000": ([2000], ["fastrp"], False)}
    rows: list[dict] = []
    for name in [g for g in args.graphs.split(",") if g]:
        sizes, embedders, lp = plan.get(name, ([2000], ["fastrp"], False))
        local = load_local(name)
        labels = label_matrix(load_labels(name), local.names) if name in ("cora", "blogcatalog") else None
        rows += graph_rows(spark, name, load_graph(spark, name), local, labels, sizes, embedders, lp)
    if args.generated != "0":
        edges, truth, n = planted(spark, args.generated)
        graph = Graph.from_edges(edges, directed=False)
        local = LocalGraph.from_pandas(edges.toPandas(), directed=False)
        frame = truth.toPandas()
        labels = np.zeros(local.n, np.int64)
        labels[local.ids_of(frame.iloc[:, 0].to_numpy())] = frame.iloc[:, 1].to_numpy()
        name = f"planted {n // 1000}k vertices/{graph.m / 1e6:.1f}M edges, mixing 0.2"
        rows += graph_rows(spark, name, graph, local, labels, [2000], ["fastrp"], True)
    if args.large != "0":
        rows += large_rows(spark, args.large, 2000, args.large_strategy, args.large_single_bytes)
    print_table(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
