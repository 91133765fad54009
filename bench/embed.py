"""Benchmark: FastRP on Spark against its scipy twin, and against DeepWalk and node2vec, in one run.

For each graph: Spark FastRP (the strategy auto picks; the 20M-arc graph also forced to blocks),
computed into Spark rows (a ``noop`` sink) and written as Parquet, the local scipy twin with the same parameters on one core, their ratio and
arcs x dimensions per second per core (d=128, 4 iterations, weights (0, 1, 1, 1)); quality on
BlogCatalog (the paper's preset) and Cora: node-classification micro/macro-F1 at 10 % and 50 %
labelled (5 shuffles, standardised columns, C=0.1 as in the FastRP notebook) and link-prediction
AUC (10 % of the edges held out, embedded on the rest); DeepWalk and node2vec on BlogCatalog,
from their own environment (``.venv-peers``, pecanpy needs numpy < 2), on the same protocols.

    python bench/embed.py                                   # everything (about 40 minutes on 2 cores)
    python bench/embed.py --graphs cora,blogcatalog --generated 0 --peers ""   # a quick run

Prints a table and writes bench/results/embed.json. Spark times are the median of 3 runs below a
minute (after a warm-up), one run above.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparkgraph.datasets import chung_lu, load_graph, load_labels, load_local  # noqa: E402
from sparkgraph.embed import FastRPParams, fastrp  # noqa: E402
from sparkgraph.embed.evaluate import (  # noqa: E402
    collect_embedding,
    label_matrix,
    link_prediction,
    node_classification,
    split_edges,
)
from sparkgraph.embed.fastrp import choose_strategy  # noqa: E402
from sparkgraph.graph import Graph  # noqa: E402
from sparkgraph.local.fastrp import fastrp as local_fastrp  # noqa: E402
from sparkgraph.local.graph import LocalGraph  # noqa: E402
from sparkgraph.session import SessionConfig, get_session, parallelism  # noqa: E402

log = logging.getLogger("bench.embed")
ROOT = Path(__file__).resolve().parents[1]
SPEED = FastRPParams(dimension=128, iteration_weights=(0.0, 1.0, 1.0, 1.0), seed=1)


def timed(fn, repeat: int = 3):
    """(result, seconds): the median of ``repeat`` runs, or one run when the first takes over a minute."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        if times[0] > 60:
            break
    return result, statistics.median(times)


def speed_rows(spark, name: str, graph: Graph, local: LocalGraph | None, out: str, strategies: list[str]) -> list[dict]:
    rows = []
    twin_seconds = None
    if local is not None:
        _, twin_seconds = timed(lambda: local_fastrp(local, SPEED))
        rows.append({"graph": name, "what": "local scipy twin (one core)", "seconds": round(twin_seconds, 2),
                     "arc_dims_per_s_per_core": round(graph.num_arcs * 128 * 4 / twin_seconds)})
    cores = parallelism(spark)
    chosen = set()
    for strategy in strategies:
        params = FastRPParams(**{**SPEED.__dict__, "strategy": strategy})
        if choose_strategy(graph, params) in chosen:
            continue  # auto already ran it
        chosen.add(choose_strategy(graph, params))
        label = f"spark fastrp ({choose_strategy(graph, params)}{', auto' if strategy == 'auto' else ''})"
        sinks = {  # computed and converted into Spark rows (what the twin's time covers), and also written
            "computed": lambda p=params: fastrp(graph, p).write.format("noop").mode("overwrite").save(),
            "written as Parquet": lambda p=params: fastrp(graph, p).write.mode("overwrite").parquet(f"{out}/{name}"),
        }
        for sink, run in sinks.items():
            if sink == "computed" and graph.num_arcs > 10_000_000:
                continue  # one run of the largest graph takes minutes: only the written result
            _, seconds = timed(run)
            rows.append({"graph": name, "what": f"{label}, {sink}", "seconds": round(seconds, 2),
                         "ratio_to_twin": round(seconds / twin_seconds, 2) if twin_seconds else None,
                         "arc_dims_per_s_per_core": round(graph.num_arcs * 128 * 4 / seconds / cores)})
    return rows


def quality_rows(spark, name: str, params: FastRPParams, label: str) -> list[dict]:
    """F1 of the Spark embedding (collected), and link-prediction AUC of the twin on the split graph."""
    graph, local = load_graph(spark, name), load_local(name)
    labels = label_matrix(load_labels(name), local.names)
    embedding = collect_embedding(fastrp(graph, params), local.names)
    row = {"graph": name, "what": label}
    for fraction in (0.1, 0.5):
        score = node_classification(embedding, labels, train_fraction=fraction, repeats=5, C=0.1)
        row[f"micro_f1@{fraction:.0%}"] = round(score["micro_f1"], 4)
        row[f"macro_f1@{fraction:.0%}"] = round(score["macro_f1"], 4)
    undirected = LocalGraph(((local.adjacency + local.adjacency.T) > 0).astype(float).tocsr(), local.names, False,
                            False)
    remaining, positive, negative = split_edges(undirected, 0.1, seed=1)
    row.update({k: round(v, 4) for k, v in link_prediction(local_fastrp(remaining, params), remaining, positive,
                                                           negative).items()})
    return [row]


def peer_rows(name: str, peers: list[str], python: str) -> list[dict]:
    """DeepWalk / node2vec in their own environment, scored like FastRP."""
    local = load_local(name)
    labels = label_matrix(load_labels(name), local.names)
    undirected = LocalGraph(((local.adjacency + local.adjacency.T) > 0).astype(float).tocsr(), local.names, False,
                            False)
    remaining, positive, negative = split_edges(undirected, 0.1, seed=1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for peer in peers:
            results = {}
            for part, graph in (("full", undirected), ("split", remaining)):
                triangle = sp.triu(graph.adjacency, k=1).tocoo()
                upper = np.column_stack([triangle.row, triangle.col])
                np.save(f"{folder}/edges.npy", upper)
                done = subprocess.run([python, str(ROOT / "bench" / "_embed_peers.py"), peer, f"{folder}/edges.npy",
                                       str(local.n), f"{folder}/{part}.npy"], capture_output=True, text=True, check=True)
                results[part] = (np.load(f"{folder}/{part}.npy"), json.loads(done.stdout.strip().splitlines()[-1]))
            row = {"graph": name, "what": f"{peer} ({'gensim' if peer == 'deepwalk' else 'pecanpy'}, one machine)",
                   "seconds": results["full"][1]["seconds"]}
            for fraction in (0.1, 0.5):
                score = node_classification(results["full"][0], labels, train_fraction=fraction, repeats=5, C=0.1)
                row[f"micro_f1@{fraction:.0%}"] = round(score["micro_f1"], 4)
                row[f"macro_f1@{fraction:.0%}"] = round(score["macro_f1"], 4)
            row.update({k: round(v, 4) for k, v in link_prediction(results["split"][0], remaining, positive,
                                                                   negative).items()})
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join("" if row.get(c) is None else str(row[c]) for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", default="cora,blogcatalog,cond-mat-1999,cnr-2000")
    parser.add_argument("--generated", default="1000000:20", help="n:mean_degree of a Chung-Lu graph (0 skips)")
    parser.add_argument("--peers", default="deepwalk,node2vec")
    parser.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "embed.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    spark = get_session(SessionConfig(master="local[2]", driver_memory=args.driver_memory))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as out:
        fastrp(load_graph(spark, "karate"), SPEED).count()  # warm-up: JVM, Python workers
        for name in [g for g in args.graphs.split(",") if g]:
            graph = load_graph(spark, name)
            rows += speed_rows(spark, name, graph, load_local(name), out, ["auto"])
            print_table(rows[-3:])
        if args.generated != "0":
            n, mean_degree = (float(x) for x in args.generated.split(":"))
            edges = chung_lu(spark, int(n), exponent=2.5, mean_degree=mean_degree, seed=1)
            graph = Graph.from_edges(edges, directed=False)
            local = LocalGraph.from_graph(graph, max_bytes=8 * 1024**3)
            name = f"chung-lu {graph.n // 1000}k vertices / {graph.num_arcs // 1_000_000}M arcs"
            rows += speed_rows(spark, name, graph, local, out, ["auto", "blocks"])
            del local
            print_table(rows[-4:])
    rows += quality_rows(spark, "blogcatalog", FastRPParams.paper_blogcatalog(seed=1), "fastrp paper preset (spark)")
    rows += quality_rows(spark, "cora", FastRPParams(dimension=128, iteration_weights=(0.0, 1.0, 1.0, 1.0),
                                                     direction="both", seed=1), "fastrp d=128, 4 iterations (spark)")
    peers = [p for p in args.peers.split(",") if p]
    if peers and os.path.exists(args.peers_python):
        rows += peer_rows("blogcatalog", peers, args.peers_python)
    elif peers:
        log.warning("no peer environment at %s: run `make bench` to build it; peers skipped", args.peers_python)
    print_table(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
