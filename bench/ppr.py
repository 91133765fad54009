"""Benchmark: Monte Carlo fully-PPR and the walk index against scipy and igraph, in one run.

For each graph (the real ones and generated social graphs): exact PPR by scipy power iteration
(our reference, 1e-10) for sampled sources; igraph's personalized PageRank (PRPACK) for the same
sources; sparkgraph for several walk counts, estimators and both strategies (precision@10 and L1
against exact); sparkgraph for *all* sources (top-100 written as Parquet, precision checked on the
sampled sources) and, beside it, **power iteration stopped at matched accuracy** on as many
processes as Spark has cores (:mod:`bench._ppr_peer`): the fair exact peer; a plain numpy walk
loop on one core as the physical reference; GraphX's ``runParallelPersonalizedPageRank`` from a
few sources (:mod:`bench._graphx_peer`, the peer inside Spark); and on the largest graph the walk
index (build, a batch of queries, accuracy against the index alone).

Every graph starts with an untimed warm-up run (Spark's Python workers, the graph's caches); runs
under a minute are timed 3 times and the median is reported (``runs`` says how many); ``cores``
is what each side used.

    python bench/ppr.py                         # all graphs (about 90 minutes on 2 cores; --smooth 0: an hour)
    python bench/ppr.py --graphs cora --generated ""    # a quick run
    python bench/ppr.py --graphs '' --generated dcsbm:100000:23 --walks 500 --all-walks 500 \
        --all-sources dcsbm-100k-d23 --peer-sources 0 --graphx '' --index '' --distributed '' --distributed-all ''
                                                # the 100k / 2M-arc social graph, all sources, with and without smooth

The default sample rows and the all-sources runs are also made with ``PPRParams.smooth`` (``--smooth 0``
skips them); ``--all-walks`` gives the ω values of the all-sources runs.

Prints a table and writes bench/results/ppr.json after every graph; rows of earlier runs that this one
does not repeat (same graph, method, sources and ω) are kept there, marked ``"measured": "earlier"``,
and every row names the command that measured it (:mod:`bench._results`). Peer times for all sources are extrapolated
linearly from the sources they ran (marked "extrapolated"); everything else is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._graphx_peer import graphx_row  # noqa: E402
from bench._ppr_peer import accuracy_by_iterations, all_sources_seconds, matched_iterations  # noqa: E402
from bench._results import merge_rows, read_rows, this_command  # noqa: E402
from bench.ppr_push import generated  # noqa: E402
from sparkgraph import metrics  # noqa: E402
from sparkgraph.datasets import load_graph, load_local  # noqa: E402
from sparkgraph.graph import Graph  # noqa: E402
from sparkgraph.local.ppr import exact_ppr  # noqa: E402
from sparkgraph.ppr import (  # noqa: E402
    PPRParams,
    QueryParams,
    WalkIndex,
    WalkIndexParams,
    build_walk_index,
    fully_ppr,
    query,
)
from sparkgraph.ppr.distributed import walk_graph_bytes  # noqa: E402
from sparkgraph.session import SessionConfig, get_session, parallelism  # noqa: E402
from sparkgraph.udfs.walks import walk_graph, walk_scores  # noqa: E402

log = logging.getLogger("bench.ppr")
ALPHA = 0.15


def accuracy(frame, local, sample, exact, k: int = 10) -> tuple[float, float]:
    """Mean precision@k and mean L1 (over the returned entries vs the full exact vector)."""
    precisions, l1s = [], []
    groups = {s: g for s, g in frame.groupby("source")}
    for i, source in enumerate(sample):
        part = groups.get(source)
        est = np.zeros(local.n)
        if part is not None:
            est[local.ids_of(part["target"].to_numpy())] = part["score"].to_numpy()
        precisions.append(metrics.precision_at_k(est, exact[i], k))
        l1s.append(float(np.abs(est - exact[i]).sum()))
    return float(np.mean(precisions)), float(np.mean(l1s))


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def measured(fn, repeat: int = 3, once_over: float = 60.0):
    """``(value, median seconds, runs)``: ``fn`` once, and ``repeat`` times in all when that took under ``once_over``."""
    value, seconds = timed(fn)
    times = [seconds]
    while seconds < once_over and len(times) < repeat:
        value, again = timed(fn)
        times.append(again)
    return value, float(np.median(times)), len(times)


def spark_cores(spark) -> int:
    """Cores Spark runs tasks on: ``N`` of ``local[N]`` (this machine's for ``local[*]``), else the
    cluster's default parallelism (a local session sets that to twice its cores, to balance tasks)."""
    master = spark.conf.get("spark.master", "")
    if master.startswith("local["):
        threads = master[len("local["):].split(",")[0].rstrip("]")
        return (os.cpu_count() or 1) if threads == "*" else int(threads)
    return parallelism(spark)


def generated_graph(spark, spec: str, out_dir: str):
    """``(name, local, graph)`` of ``kind:n:mean_degree`` (:func:`bench.ppr_push.generated`, seed 1):
    the same arcs on one machine and on Spark, read from Parquet like a user's graph (a DataFrame
    made from pandas would carry its 2M rows in every query's plan: 30 s more per call)."""
    kind, n, degree = spec.split(":")
    name = f"{kind}-{int(n) // 1000}k-d{degree}"
    local = generated(kind, int(n), int(degree))
    coo = local.adjacency.tocoo()
    path = os.path.join(out_dir, f"{name}_edges.parquet")
    pd.DataFrame({"src": local.names[coo.row], "dst": local.names[coo.col]}).to_parquet(path)
    return name, local, Graph.from_edges(spark.read.parquet(path), directed=True)


def igraph_ppr(local, sources: np.ndarray, budget_s: float) -> tuple[np.ndarray, float]:
    """igraph PPR for the sources, one call each, stopping once ``budget_s`` is spent (at least one call)."""
    import igraph as ig

    coo = local.adjacency.tocoo()
    g = ig.Graph(n=local.n, edges=list(zip(coo.row.tolist(), coo.col.tolist(), strict=True)), directed=True)
    weights = coo.data.tolist() if local.weighted else None
    started = time.perf_counter()
    rows = []
    for s in sources:
        rows.append(g.personalized_pagerank(directed=True, damping=1 - ALPHA, reset_vertices=[int(s)],
                                            weights=weights))
        if time.perf_counter() - started > budget_s:
            break
    return np.array(rows), time.perf_counter() - started


def numpy_one_core(local, sources: np.ndarray, walks: int) -> float:
    """Walk positions per second of the bare numpy kernel on this process's one core (no push)."""
    a = local.adjacency
    walked = walk_graph(a.indptr, a.indices, a.data if local.weighted else None, push=False)
    _, seconds = timed(lambda: walk_scores(sources, walked, walks, ALPHA, "visits", "source", 100, 0, 0))
    return len(sources) * walks / ALPHA / seconds


def bench_graph(spark, name: str, local, graph, args, out_dir: str) -> list[dict]:
    rows: list[dict] = []
    cores = spark_cores(spark)
    log.info("%s: n=%d m=%d", name, local.n, local.m)
    rng = np.random.default_rng(42)
    sample_ids = np.sort(rng.choice(local.n, size=min(args.sources, local.n), replace=False))
    sample = local.names[sample_ids]
    exact, t_exact = timed(lambda: exact_ppr(local, sample_ids, ALPHA))
    base = {"graph": name, "n": local.n, "m": local.m}
    fully_ppr(graph, PPRParams(top_k=100, seed=1), sources=list(sample[:10])).toPandas()  # warm-up, untimed
    rows.append({**base, "method": "scipy power iteration 1e-10", "sources": len(sample), "omega": None, "cores": 1,
                 "seconds": t_exact, "all_sources_seconds": t_exact * local.n / len(sample),
                 "all_sources_note": "extrapolated", "precision@10": 1.0, "l1": 0.0})
    if args.peer_sources > 0 and local.m > args.igraph_max_edges:
        rows.append({**base, "method": "igraph personalized_pagerank (prpack)", "sources": 0,
                     "all_sources_note": f"skipped: over --igraph-max-edges={args.igraph_max_edges} "
                     "(one single-source call on cnr-2000 ran over 10 minutes here)"})
    elif args.peer_sources > 0:
        ig_vectors, t_ig = igraph_ppr(local, sample_ids[: args.peer_sources], args.peer_budget)
        peer_ids = sample_ids[: len(ig_vectors)]
        ig_prec = np.mean([metrics.precision_at_k(ig_vectors[i], exact[i], 10) for i in range(len(peer_ids))])
        rows.append({**base, "method": "igraph personalized_pagerank (prpack)", "sources": len(peer_ids),
                     "omega": None, "cores": 1, "seconds": t_ig, "all_sources_seconds": t_ig * local.n / len(peer_ids),
                     "all_sources_note": "extrapolated", "precision@10": float(ig_prec),
                     "l1": float(np.mean(np.abs(ig_vectors - exact[: len(peer_ids)]).sum(axis=1)))})

    variants = [("sparkgraph broadcast visits push auto (default)", PPRParams(walks_per_source=w, top_k=100, seed=1))
                for w in args.walks]
    variants += [("sparkgraph broadcast visits push auto, smooth",
                  PPRParams(walks_per_source=w, top_k=100, seed=1, smooth=True)) for w in args.walks if args.smooth]
    variants += [
        ("sparkgraph broadcast visits push0", PPRParams(top_k=100, push_rounds=0, seed=1)),
        ("sparkgraph broadcast endpoints push0", PPRParams(top_k=100, push_rounds=0, estimator="endpoints", seed=1)),
    ]
    if name in args.distributed:
        # every benchmark graph fits one shard (shard_max_bytes), so auto pushes (push0 gives broadcast
        # push0's numbers); the last row cuts the graph into 8 shards by memory, as a graph that does
        # not fit a task would be, so the sharded rounds are measured too (auto then walks plainly)
        sharded = -(-walk_graph_bytes(graph) // 8)
        variants += [("sparkgraph distributed visits push auto (default)",
                      PPRParams(top_k=100, strategy="distributed", seed=1)),
                     ("sparkgraph distributed visits push0",
                      PPRParams(top_k=100, strategy="distributed", push_rounds=0, seed=1)),
                     ("sparkgraph distributed visits, 8 shards by shard_max_bytes",
                      PPRParams(top_k=100, strategy="distributed", seed=1, shard_max_bytes=sharded))]
    for label, params in variants:
        frame, seconds, runs = measured(lambda p=params: fully_ppr(graph, p, sources=list(sample)).toPandas())
        precision, l1 = accuracy(frame, local, sample, exact)
        positions = len(sample) * params.walks_per_source / ALPHA
        rows.append({**base, "method": label, "sources": len(sample), "omega": params.walks_per_source,
                     "cores": cores, "runs": runs, "seconds": seconds, "precision@10": precision, "l1": l1,
                     "walk_positions_per_s": positions / seconds})
        log.info("%s %s ω=%d: %.1fs p@10=%.3f", name, label, params.walks_per_source, seconds, precision)

    runs_all = [(omega, smooth) for omega in args.all_walks for smooth in (False, True)[: 1 + args.smooth]]
    for omega, smooth in runs_all if name in args.all_sources else []:
        params = PPRParams(walks_per_source=omega, top_k=100, seed=1, smooth=smooth)
        path = os.path.join(out_dir, f"{name}_all")

        def run_all(params=params, path=path):
            fully_ppr(graph, params).write.mode("overwrite").parquet(path)
            return spark.read.parquet(path)

        written, seconds, runs = measured(run_all)
        total = written.count()
        check = written.filter(written.source.isin([s.item() for s in sample])).toPandas()
        precision, l1 = accuracy(check, local, sample, exact)
        positions = local.n * params.walks_per_source / ALPHA
        ours = {**base, "method": "sparkgraph ALL sources top-100 (written)" + (", smooth" if smooth else ""),
                "sources": local.n,
                "omega": params.walks_per_source, "cores": cores, "runs": runs, "seconds": seconds, "rows": total,
                "precision@10": precision, "l1": l1, "walk_positions_per_s": positions / seconds,
                "walk_positions_per_s_per_core": positions / seconds / cores,
                "speedup_vs_scipy_all": t_exact * local.n / len(sample) / seconds}
        rows.append(ours)
        rows.append(matched_power_iteration(local, sample_ids, exact, ours, cores, args.peer_budget))
        if name in args.distributed_all and (omega, smooth) == runs_all[0]:
            rows.append(all_sources_distributed(spark, graph, local, sample, exact, out_dir, base, seconds))
    if name in args.all_sources:
        one_core = numpy_one_core(local, sample_ids[: max(1, len(sample_ids) // 2)], 1000)
        rows.append({**base, "method": "numpy walk loop, one core (physical reference)", "sources": len(sample_ids) // 2,
                     "omega": 1000, "walk_positions_per_s": one_core})

    if name in args.graphx:
        rows.append(graphx_row(spark, local, sample_ids, exact, out_dir, {**base, "cores": cores}, args.graphx_sources,
                               args.graphx_iterations, ALPHA))
        log.info("%s GraphX: %s", name, rows[-1])

    if name in args.index:
        rows += walk_index_rows(spark, graph, local, sample, sample_ids, exact, rng, args, out_dir, base)
    graph.unpersist()
    return rows


def row_key(row: dict) -> tuple:
    """What makes a row the same measurement as an earlier one: graph, method, sources and ω; a
    matched power iteration row is the one matched to its run, whatever iterations and sources it took."""
    method = row["method"]
    if "matched accuracy" in method:
        return row["graph"], "matched power iteration" + (" smooth" if method.endswith("smooth run") else ""), \
            row.get("omega")
    return row["graph"], method, row.get("sources"), row.get("omega")


def matched_power_iteration(local, sample_ids, exact, ours: dict, cores: int, budget_s: float) -> dict:
    """All sources by power iteration stopped at the first iteration count at least as accurate as
    ``ours`` (precision@10 and L1 on the sampled sources), on ``cores`` processes; sets
    ``speedup_vs_matched_power_iteration`` in ``ours``."""
    base = {key: ours[key] for key in ("graph", "n", "m", "omega")}  # omega: the run it is matched to
    curve = accuracy_by_iterations(local, sample_ids, exact, ALPHA, ours["precision@10"], ours["l1"])
    log.info("%s power iteration (t, p@10, L1): %s", base["graph"],
             [(t, round(p, 4), round(e, 4)) for t, p, e in curve])
    iterations = matched_iterations(curve, ours["precision@10"], ours["l1"])
    if iterations is None:
        return {**base, "method": "scipy power iteration, matched accuracy", "sources": 0,
                "all_sources_note": f"no iteration count up to {curve[-1][0]} matched"}
    seconds, ran = all_sources_seconds(local, iterations, ALPHA, cores, budget_s)
    ours["speedup_vs_matched_power_iteration"] = seconds / ours["seconds"]
    _, precision, l1 = curve[iterations - 1]
    against = ", matched to the smooth run" if ours["method"].endswith("smooth") else ""
    return {**base, "method": f"scipy power iteration, matched accuracy ({iterations} iterations, float32, "
                              f"{cores} processes){against}", "sources": ran, "cores": cores, "seconds": None,
            "all_sources_seconds": seconds, "all_sources_note": "measured" if ran == local.n else "extrapolated",
            "precision@10": precision, "l1": l1}


def all_sources_distributed(spark, graph, local, sample, exact, out_dir, base, broadcast_seconds) -> dict:
    """Every source by the distributed strategy (forced; its auto push, one shard), written as
    Parquet, next to the broadcast strategy's time in the same run; its sampled rows must equal the
    same strategy's run on those sources alone (a source's estimate does not depend on its batch)."""
    params = PPRParams(top_k=100, seed=1, strategy="distributed")
    path = os.path.join(out_dir, f"{base['graph']}_all_distributed")

    def run_all():
        fully_ppr(graph, params).write.mode("overwrite").parquet(path)
        return spark.read.parquet(path)

    written, seconds = timed(run_all)
    check = written.filter(written.source.isin([s.item() for s in sample])).toPandas()
    precision, l1 = accuracy(check, local, sample, exact)
    alone = fully_ppr(graph, params, sources=list(sample)).toPandas()
    key = ["source", "target"]
    same = check.sort_values(key).reset_index(drop=True).equals(alone.sort_values(key).reset_index(drop=True))
    positions = local.n * params.walks_per_source / ALPHA
    log.info("%s all sources distributed: %.1fs (broadcast %.1fs), p@10=%.3f, sample equal to its own run: %s",
             base["graph"], seconds, broadcast_seconds, precision, same)
    return {**base, "method": "sparkgraph ALL sources top-100, distributed (forced, written)", "sources": local.n,
            "omega": params.walks_per_source, "cores": spark_cores(spark), "seconds": seconds, "precision@10": precision,
            "l1": l1, "walk_positions_per_s": positions / seconds,
            "walk_positions_per_s_per_core": positions / seconds / spark_cores(spark),
            "ratio_to_broadcast_all": seconds / broadcast_seconds, "sample_equals_its_own_run": same}


def walk_index_rows(spark, graph, local, sample, sample_ids, exact, rng, args, out_dir, base) -> list[dict]:
    """Build the index, save and reload it, then answer two batches of ``--batch`` sources (the first
    also collects and broadcasts the index); accuracy of the first batch and of the index alone."""
    index_path = os.path.join(out_dir, f"{base['graph']}_walk_index")
    index, t_build = timed(lambda: build_walk_index(graph, WalkIndexParams(walks_per_vertex=args.index_walks,
                                                                           seed=1)))
    _, t_save = timed(lambda: index.save(index_path, mode="overwrite"))
    index.unpersist()
    loaded = WalkIndex.load(spark, index_path)
    rest = np.setdiff1d(np.arange(local.n), sample_ids)
    extra = rng.choice(rest, size=min(2 * (args.batch - len(sample)), len(rest)), replace=False)
    half = len(extra) // 2
    batches = [list(sample) + list(local.names[extra[:half]]), list(local.names[extra[half:]])]
    seconds = []
    for i, batch in enumerate(batches):
        path = os.path.join(out_dir, f"{base['graph']}_queries_{i}")
        _, t_query = timed(lambda b=batch, p=path: query(loaded, b, QueryParams(top_k=100))
                           .write.mode("overwrite").parquet(p))
        seconds.append(t_query)
    answered = spark.read.parquet(os.path.join(out_dir, f"{base['graph']}_queries_0"))
    check = answered.filter(answered.source.isin([s.item() for s in sample])).toPandas()
    q_prec, q_l1 = accuracy(check, local, sample, exact)
    alone = loaded.fingerprint_scores(list(sample)).toPandas()
    f_prec, f_l1 = accuracy(alone, local, sample, exact)
    loaded.unpersist()
    omega = args.index_walks
    return [
        {**base, "method": f"walk index build (R={omega})", "sources": local.n, "omega": omega, "seconds": t_build,
         "rows": index.rows["fingerprints"]},
        {**base, "method": "walk index save (Parquet)", "sources": local.n, "omega": omega, "seconds": t_save},
        {**base, "method": "walk index query batch 1 (T=6, loads the index)", "sources": len(batches[0]),
         "omega": omega, "seconds": seconds[0], "precision@10": q_prec, "l1": q_l1},
        {**base, "method": "walk index query batch 2 (T=6)", "sources": len(batches[1]), "omega": omega,
         "seconds": seconds[1]},
        {**base, "method": "walk index fingerprints alone", "sources": len(sample), "omega": omega,
         "precision@10": f_prec, "l1": f_l1},
    ]


def print_table(rows: list[dict]) -> None:
    cols = ["graph", "method", "sources", "omega", "cores", "runs", "seconds", "all_sources_seconds", "precision@10",
            "l1", "walk_positions_per_s", "speedup_vs_matched_power_iteration"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", default="cora,cond-mat-1999,blogcatalog,cnr-2000")
    parser.add_argument("--generated", default="planted:100000:20,chunglu:100000:20",
                        help="generated social graphs kind:n:mean_degree (planted partition, Chung-Lu, or dcsbm: "
                             "Chung-Lu degrees inside planted communities; '' skips)")
    parser.add_argument("--walks", default="100,1000,10000", help="ω values for the default estimator")
    parser.add_argument("--sources", type=int, default=200, help="sampled sources checked against exact")
    parser.add_argument("--peer-sources", type=int, default=50, help="sources timed for igraph (at most; 0 skips igraph)")
    parser.add_argument("--igraph-max-edges", type=int, default=1_000_000,
                        help="graphs with more edges skip igraph (PRPACK re-solves the whole graph per source)")
    parser.add_argument("--peer-budget", type=float, default=120.0,
                        help="seconds igraph, and matched power iteration for all sources, may take per graph")
    parser.add_argument("--all-sources", default="cora,cond-mat-1999,blogcatalog,cnr-2000,planted-100k-d20,"
                                                  "chunglu-100k-d20")
    parser.add_argument("--all-walks", default="1000",
                        help="ω values of the all-sources runs (the first also times --distributed-all)")
    parser.add_argument("--smooth", type=int, default=1,
                        help="1: the default sample rows and the all-sources runs also with PPRParams.smooth")
    parser.add_argument("--distributed", default="cora,cond-mat-1999,blogcatalog,cnr-2000,planted-100k-d20,chunglu-100k-d20",
                        help="graphs whose sampled sources also run the distributed strategy")
    parser.add_argument("--distributed-all", default="cnr-2000",
                        help="graphs (among --all-sources) whose all sources also run the forced distributed strategy")
    parser.add_argument("--graphx", default="blogcatalog,planted-100k-d20,chunglu-100k-d20",
                        help="graphs on which GraphX's runParallelPersonalizedPageRank runs (graphs without sinks: "
                             "GraphX loses the mass reaching one)")
    parser.add_argument("--graphx-sources", type=int, default=10, help="sampled sources GraphX starts from")
    parser.add_argument("--graphx-iterations", type=int, default=10)
    parser.add_argument("--index", default="cnr-2000", help="graphs that build a walk index and answer a batch")
    parser.add_argument("--index-walks", type=int, default=500)
    parser.add_argument("--batch", type=int, default=10_000, help="sources in the walk index query batch")
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "ppr.json"))
    args = parser.parse_args()
    args.walks = [int(w) for w in args.walks.split(",")]
    args.all_walks = [int(w) for w in args.all_walks.split(",")]
    for key in ("all_sources", "distributed", "distributed_all", "index", "graphx"):
        setattr(args, key, set(filter(None, getattr(args, key).split(","))))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    spark = get_session(SessionConfig(driver_memory=args.driver_memory, app_name="sparkgraph-bench-ppr"))
    rows: list[dict] = []
    out, command = Path(args.out), this_command()
    earlier = read_rows(out)
    with tempfile.TemporaryDirectory(prefix="sparkgraph-bench-") as out_dir:
        graphs = [(name, lambda name=name: (name, load_local(name), load_graph(spark, name)))
                  for name in filter(None, args.graphs.split(","))]
        graphs += [(spec, lambda spec=spec: generated_graph(spark, spec, out_dir))
                   for spec in filter(None, args.generated.split(","))]
        for _, build in graphs:
            name, local, graph = build()
            rows.extend({**row, "command": command} for row in bench_graph(spark, name, local, graph, args, out_dir))
            out.parent.mkdir(parents=True, exist_ok=True)
            kept = merge_rows(earlier, rows, key=row_key)
            out.write_text(json.dumps({"cores": os.cpu_count(), "spark": spark.version, "rows": kept},
                                      indent=2, default=float))
    print_table(rows)
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
