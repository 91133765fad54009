"""Benchmark: PPR on a generated graph of 1M vertices and ~20M arcs, executors in their own JVMs.

A planted-partition graph (communities of 1,000, mixing 0.2, mean degree 20; :func:`bench.ppr_push.generated`;
``--kind dcsbm``: Chung–Lu degrees inside the same communities)
written as Parquet, then on ``local-cluster[2,1,6144]`` (two executors of one core and 6 GiB, so no
shared driver heap): ``fully_ppr`` for all sources at defaults (auto: broadcast at this size) and for
a sample of sources with the distributed strategy forced, each written as Parquet, with the peak
resident memory of the largest PySpark Python worker and Spark JVM (``bench.kmedoids.PeakMemory``,
from /proc). There is
no exact reference at this size, so no accuracy: ``bench/ppr.py`` measures accuracy on smaller graphs.

    python bench/ppr_large.py                            # both runs (about 30 minutes on 2 cores)
    python bench/ppr_large.py --all 0 --sample 10000     # the distributed sample only (about 4 minutes)
    python bench/ppr_large.py --all 0 --sample 100000    # a sample whose counts ask for more batches
    python bench/ppr_large.py --all 0 --count-top 1000   # and the same sample with PPRParams.count_top
    python bench/ppr_large.py --all 0 --sample 100000 --push-rounds 8   # the sample pushing over the shards
    python bench/ppr_large.py --all 0 --sample 0 --all-distributed 1   # all sources, distributed forced
    python bench/ppr_large.py --all 0 --sample 0 --all-distributed 1 --shard-max-mib 256   # ... as one shard

Rows of earlier runs that this one does not repeat (the same ``run`` label, graph, master and sources) are
kept in the JSON, marked ``"measured": "earlier"``. The executors get the workers' memory (6 GiB each,
:func:`sparkgraph.session.get_session` under ``local-cluster``). Each distributed row records its
batches (planned, by the walks per batch and by the counts held, ``PPRParams.counts_max_bytes``;
and dealt, after the merges resized them), the largest count entries a merge found held, shards,
replicas, count buckets and rounds.

Prints a table and writes bench/results/ppr_large.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import merge_rows, read_rows, this_command  # noqa: E402
from bench.embed import print_table  # noqa: E402
from bench.kmedoids import PeakMemory  # noqa: E402
from bench.ppr_push import generated  # noqa: E402
from sparkgraph.graph import Graph  # noqa: E402
from sparkgraph.ppr import PPRParams, fully_ppr  # noqa: E402
from sparkgraph.session import SessionConfig, get_session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Layout(logging.Handler):
    """The distributed strategy's layout and rounds, from its log lines."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.found: dict = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if m := re.search(r"in (\d+) batches, (\d+) shards, (\d+) replicas, (\d+) count buckets .* walks per batch: "
                          r"(\d+), by the counts held, counts_max_bytes: (\d+)", message):
            names = ("batches_planned", "shards", "replicas", "count_buckets", "batches_by_work", "batches_by_counts")
            self.found.update({name: int(value) for name, value in zip(names, m.groups(), strict=True)})
            self.found["batches"] = self.found["batches_planned"]
        if m := re.search(r"\((\d+) entries held\), .*, (\d+) batches \(", message):  # a merge resized them
            self.found["batches"] = int(m.group(2))
            self.found["largest_counts_held"] = max(int(m.group(1)), self.found.get("largest_counts_held", 0))
        if m := re.search(r"distributed ppr: (\d+) rounds \(", message):
            self.found["rounds"] = int(m.group(1))


def run(graph: Graph, params: PPRParams, sources, out: str, label: str) -> dict:
    count = graph.n if sources is None else len(sources)
    layout = Layout()
    logger = logging.getLogger("sparkgraph.ppr.distributed")
    logger.setLevel(logging.INFO)
    logger.addHandler(layout)
    with PeakMemory() as memory:
        started = time.perf_counter()
        fully_ppr(graph, params, sources=sources).write.mode("overwrite").parquet(out)
        seconds = time.perf_counter() - started
    logger.removeHandler(layout)
    positions = count * params.walks_per_source / params.restart_prob
    return {"run": label, "sources": count, "seconds": round(seconds, 1),
            "walk_positions_per_s_per_core": round(positions / seconds / 2),
            "largest_python_mib": round(memory.worker / 2**20), "largest_java_mib": round(memory.jvm / 2**20),
            **layout.found}


def against_uncut(cut: pd.DataFrame, uncut: pd.DataFrame) -> dict:
    """How far the cut counts moved the result (same seed, so only the cut differs): the share of
    each source's top 10 that the uncut run also has, and the mean L1 distance of the rows."""
    def top10(frame: pd.DataFrame) -> pd.Series:
        ranked = frame.sort_values(["source", "score", "target"], ascending=[True, False, True])
        return ranked.groupby("source").head(10).groupby("source")["target"].apply(set)

    a, b = top10(cut), top10(uncut)
    both = cut.merge(uncut, on=["source", "target"], how="outer", suffixes=("_cut", "_uncut")).fillna(0.0)
    l1 = (both["score_cut"] - both["score_uncut"]).abs().groupby(both["source"]).sum()
    shares = [len(a[s] & b.get(s, set())) / max(1, len(b.get(s, set()))) for s in a.index]
    return {"top10_agreement_with_uncut": round(float(np.mean(shares)), 4),
            "mean_l1_to_uncut": float(f"{l1.mean():.3g}")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vertices", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--all", type=int, default=1, help="1: all sources at defaults; 0 skips")
    parser.add_argument("--sample", type=int, default=10_000, help="sources for the forced distributed run (0 skips)")
    parser.add_argument("--all-distributed", type=int, default=0,
                        help="1: all sources with the distributed strategy forced")
    parser.add_argument("--shard-max-mib", type=int, default=0,
                        help="PPRParams.shard_max_bytes of the --all-distributed run, in MiB (0: the default)")
    parser.add_argument("--count-top", type=int, default=0,
                        help="also run the sample (--sample) with this PPRParams.count_top (0 skips)")
    parser.add_argument("--push-rounds", type=int, default=-1,
                        help="PPRParams.push_rounds of the distributed runs (-1: auto, which over several shards "
                             "walks without push)")
    parser.add_argument("--kind", default="planted", choices=["planted", "dcsbm"],
                        help="the generated graph (bench.ppr_push.generated): planted partition, or Chung-Lu degrees "
                             "inside the same communities")
    parser.add_argument("--master", default="local-cluster[2,1,6144]")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ppr_large.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sparkgraph-bench-large-") as folder:
        started = time.perf_counter()
        local = generated(args.kind, args.vertices, args.degree)
        coo = local.adjacency.tocoo()
        path = os.path.join(folder, "edges.parquet")
        pq.write_table(pa.table({"src": local.names[coo.row], "dst": local.names[coo.col]}), path)
        generate_s = time.perf_counter() - started
        del local, coo
        spark = get_session(SessionConfig(master=args.master, driver_memory="3g", app_name="sparkgraph-bench-ppr-large",
                                          extra={"spark.executorEnv.PYTHONPATH": str(ROOT),
                                                 "spark.executorEnv.PYSPARK_PYTHON": sys.executable}))
        started = time.perf_counter()
        graph = Graph.from_edges(spark.read.parquet(path), directed=False)
        base = {"graph": f"{args.kind} {args.vertices:,} vertices, {graph.num_arcs:,} arcs", "master": args.master,
                "generate_s": round(generate_s, 1), "build_s": round(time.perf_counter() - started, 1)}
        if args.all:
            rows.append({**base, **run(graph, PPRParams(seed=1), None, os.path.join(folder, "all"),
                                       "all sources, defaults (auto)")})
        push = {"push_rounds": args.push_rounds} if args.push_rounds >= 0 else {}
        pushed = f", push_rounds={args.push_rounds}" if push else ""
        if args.all_distributed:
            budget = {"shard_max_bytes": args.shard_max_mib * 2**20} if args.shard_max_mib else {}
            label = "all sources, distributed forced" + (f", shard_max_bytes={args.shard_max_mib} MiB" if budget else "")
            rows.append({**base, **run(graph, PPRParams(strategy="distributed", seed=1, **budget, **push), None,
                                       os.path.join(folder, "all_distributed"), label + pushed)})
        if args.sample:
            chosen = np.random.default_rng(1).choice(graph.n, args.sample, replace=False)
            rows.append({**base, **run(graph, PPRParams(strategy="distributed", seed=1, **push),
                                       [int(s) for s in chosen], os.path.join(folder, "sample"),
                                       "sample, distributed forced" + pushed)})
            if args.count_top:
                rows.append({**base, **run(graph, PPRParams(strategy="distributed", seed=1, count_top=args.count_top),
                                           [int(s) for s in chosen], os.path.join(folder, "sample_cut"),
                                           f"sample, distributed forced, count_top={args.count_top}"),
                             **against_uncut(spark.read.parquet(os.path.join(folder, "sample_cut")).toPandas(),
                                             spark.read.parquet(os.path.join(folder, "sample")).toPandas())})
        spark.stop()
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = this_command()
    kept = merge_rows(read_rows(out), [{**row, "command": command} for row in rows],
                      key=lambda row: (row["run"], row["graph"], row["master"], row["sources"]))
    out.write_text(json.dumps(kept, indent=2))


if __name__ == "__main__":
    main()
