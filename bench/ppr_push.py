"""Benchmark: push-then-walk rounds chosen by cost against every fixed number of rounds, in one run.

The broadcast strategy's kernel (:func:`sparkgraph.udfs.walks.walk_scores`, what each Spark task
runs) on one core (BLAS pinned to one thread), sources in batches of ``push_sources_per_batch`` as
the tasks take them, on the real graphs and on generated social graphs (planted partition and
Chung–Lu, 100k vertices / 2M arcs by default). For each setting: seconds per 1,000 sources,
precision@10 and mean L1 against exact PPR (scipy power iteration to 1e-10) on sampled sources.
The auto row is the product's default (:func:`sparkgraph.udfs.push.auto_push`); ``frontier`` says
whether a fixed setting is faster, more precise and closer in L1 than it at once (it should not be).
``l1²·s`` does not depend on ω for plain walks (the error falls as 1/√ω, the time grows as ω): lower
is more accuracy for the time.

Also measures the constants ``auto_push`` converts arcs to walk steps with: nanoseconds per walk
step, per arc touched by the sparse push and per arc and source of the dense push, and on graphs
of the dense layout a whole round per source in walk steps, next to what ``auto_push`` assumes.

    python bench/ppr_push.py                                  # everything (about 17 minutes; cnr-2000's exact
                                                              # vectors alone take 5: --exact-cache keeps them)
    python bench/ppr_push.py --graphs cora --generated 0      # a quick run

Prints a table and writes bench/results/ppr_push.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.embed import print_table  # noqa: E402
from sparkgraph import metrics  # noqa: E402
from sparkgraph.datasets import load_local  # noqa: E402
from sparkgraph.local.graph import LocalGraph  # noqa: E402
from sparkgraph.local.ppr import exact_ppr  # noqa: E402
from sparkgraph.ppr import PPRParams  # noqa: E402
from sparkgraph.udfs import push  # noqa: E402
from sparkgraph.udfs.generators import chung_lu_slice, degree_corrected_slice, planted_partition_slice  # noqa: E402
from sparkgraph.udfs.walks import walk_graph, walk_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ALPHA = 0.15
log = logging.getLogger("bench.ppr_push")


def generated(kind: str, n: int, degree: int) -> LocalGraph:
    """A generated social graph, seed 1: ``planted`` partition (communities of 1,000, mixing 0.2), ``chunglu``
    (exponent 2.5), or ``dcsbm``, Chung–Lu degrees (exponent 2.5) inside communities of 1,000 (mixing 0.2)."""
    slices = 8
    if kind == "planted":
        blocks = max(1, n // 1000)
        size = n // blocks
        p_in, p_out = 0.8 * degree / size, 0.2 * degree / (n - size)
        pieces = [planted_partition_slice(i, slices, n, blocks, p_in, p_out, 1) for i in range(slices)]
    elif kind == "dcsbm":
        pieces = [degree_corrected_slice(i, slices, n, max(1, n // 1000), 0.2, 2.5, degree, 1) for i in range(slices)]
    else:
        pieces = [chung_lu_slice(i, slices, n, 2.5, degree, 1) for i in range(slices)]
    src = np.concatenate([p[0] for p in pieces])
    dst = np.concatenate([p[1] for p in pieces])
    a = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    a = ((a + a.T) > 0).astype(np.float64).tocsr()
    keep = np.flatnonzero(np.diff(a.indptr) > 0)  # Chung–Lu slots that drew no edge are not vertices
    a = a[keep][:, keep].tocsr()
    a.sort_indices()
    return LocalGraph(a, keep.astype(np.int64), False, False)


def run_setting(local: LocalGraph, walked, sources: np.ndarray, params: PPRParams) -> tuple[float, sp.csr_matrix]:
    plan = params.push_plan(local.n, local.num_arcs)
    rows = []
    started = time.perf_counter()
    for lo in range(0, len(sources), params.push_sources_per_batch):
        batch = sources[lo: lo + params.push_sources_per_batch]
        owner, target, score = walk_scores(batch, walked, params.walks_per_source, ALPHA, "visits", "source",
                                           params.max_steps, params.seed, plan, None)
        rows.append(sp.csr_matrix((score, (owner, target)), shape=(len(batch), local.n)))
    return time.perf_counter() - started, sp.vstack(rows).tocsr()


def constants(local: LocalGraph, walked, sources: np.ndarray) -> dict:
    """ns per walk step, per arc of the sparse push, per arc and source of the dense push (one core)."""
    batch = sources[:256]
    started = time.perf_counter()
    walk_scores(batch, walked, 1000, ALPHA, "visits", "source", 100, 1, 0)
    step_ns = (time.perf_counter() - started) / (len(batch) * 1000 / ALPHA) * 1e9
    degree = np.diff(local.adjacency.indptr).astype(np.float64)
    flow = sp.csr_matrix((np.ones(len(batch)), (np.arange(len(batch)), batch)), shape=(len(batch), local.n))
    touched, seconds = 0.0, 0.0
    for _ in range(3):
        touched += float(((flow != 0).astype(np.float64) @ degree).sum())
        started = time.perf_counter()
        flow = (flow @ walked.transition).tocsr()
        flow.sort_indices()
        seconds += time.perf_counter() - started
    sparse_ns = seconds / max(touched, 1.0) * 1e9
    width = max(1, min(len(batch), push.DENSE_FLOW_ENTRIES // (local.n + 1)))
    transposed = walked.transition.T.tocsr().astype(np.float32)
    moving = np.random.default_rng(1).random((width, local.n)).astype(np.float32)
    started = time.perf_counter()
    for _ in range(3):
        _ = transposed @ moving.T
    dense_ns = (time.perf_counter() - started) / 3 / (local.num_arcs * width) * 1e9
    cost = {"step_ns": round(step_ns, 1), "sparse_arc_ns": round(sparse_ns, 1), "dense_arc_ns": round(dense_ns, 2),
            "step_in_sparse_arcs": round(step_ns / sparse_ns, 2), "step_in_dense_arcs": round(step_ns / dense_ns, 1)}
    if push.dense_layout(local.n):  # a whole dense round per source, in walk steps: measured and as auto_push models it
        started = time.perf_counter()
        push.push_flow(batch, walked.transition, 4, ALPHA, "source")
        round_ns = (time.perf_counter() - started) / 4 / len(batch) * 1e9
        cost["dense_round_steps"] = round(round_ns / step_ns)
        cost["dense_round_steps_model"] = round(local.num_arcs / push.STEP_COST_DENSE_ARCS
                                                + local.n / push.STEP_COST_DENSE_VERTICES)
    return cost


def graph_rows(name: str, local: LocalGraph, settings: list, sample: int, walks: int, cache: str) -> list[dict]:
    rng = np.random.default_rng(7)
    candidates = np.flatnonzero(np.diff(local.adjacency.indptr) > 0)
    sources = np.sort(rng.choice(candidates, min(sample, len(candidates)), replace=False))
    started = time.perf_counter()
    cached = Path(cache) / f"{name.replace(' ', '_').replace(',', '')}-{len(sources)}.npy" if cache else None
    if cached is not None and cached.exists():
        exact = np.load(cached)
    else:
        exact = exact_ppr(local, sources, ALPHA)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, exact)
    log.info("%s: n=%d arcs=%d, exact for %d sources in %.1fs", name, local.n, local.num_arcs, len(sources),
             time.perf_counter() - started)
    a = local.adjacency
    walked = walk_graph(a.indptr, a.indices, a.data if local.weighted else None, push=True)
    cost = constants(local, walked, sources)
    log.info("%s: %s", name, cost)
    rows = []
    for setting in settings:
        params = PPRParams(walks_per_source=walks, push_rounds=setting, seed=1)
        seconds, estimate = run_setting(local, walked, sources, params)
        dense = estimate.toarray()
        precision = float(np.mean([metrics.precision_at_k(dense[i], exact[i], 10) for i in range(len(sources))]))
        l1 = float(np.abs(dense - exact).sum(axis=1).mean())
        plan = params.push_plan(local.n, local.num_arcs)
        in_place = None
        if plan.walks_to_beat is not None:  # the share of sources that finished in place (walked none)
            _, residual = push.push_flow(sources, walked.transition, plan.rounds, ALPHA, "source",
                                         extra_rounds=plan.extra_rounds, walks_to_beat=plan.walks_to_beat)
            in_place = round(float(np.mean(residual.sum(axis=1) == 0)), 3)
        rows.append({"graph": name, "vertices": local.n, "arcs": local.num_arcs, "walks": walks,
                     "push": "auto" if setting is None else setting, "plan": plan.describe(), "in_place": in_place,
                     "s_per_1000_sources": round(seconds / len(sources) * 1000, 2),
                     "precision@10": round(precision, 4), "l1": round(l1, 4),
                     "l1²·s": round(l1**2 * seconds / len(sources) * 1000, 5)})
        log.info("%s", rows[-1])
    auto = next(r for r in rows if r["push"] == "auto")
    better = [r["push"] for r in rows if r["push"] != "auto" and r["s_per_1000_sources"] < auto["s_per_1000_sources"]
              and r["precision@10"] > auto["precision@10"] and r["l1"] < auto["l1"]]
    for row in rows:
        row.update(cost)
        row["frontier"] = "" if row["push"] != "auto" else ("on it" if not better else f"beaten by {better}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", default="cora,cond-mat-1999,blogcatalog,cnr-2000")
    parser.add_argument("--generated", default="planted:100000:20,chunglu:100000:20",
                        help="kind:n:mean_degree of generated social graphs, comma-separated (0 skips)")
    parser.add_argument("--settings", default="0,1,2,3,4,6,8,12,auto", help="push rounds to compare")
    parser.add_argument("--sources", type=int, default=200, help="sampled sources")
    parser.add_argument("--walks", type=int, default=1000, help="ω")
    parser.add_argument("--exact-cache", default="", help="folder keeping the exact vectors between runs")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ppr_push.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    settings = [None if s == "auto" else int(s) for s in args.settings.split(",")]
    graphs = [(g, lambda g=g: load_local(g)) for g in args.graphs.split(",") if g]
    if args.generated != "0":
        for spec in args.generated.split(","):
            kind, n, degree = spec.split(":")
            graphs.append((f"{kind} {int(n) // 1000}k, degree {degree}",
                           lambda k=kind, n=int(n), d=int(degree): generated(k, n, d)))
    rows: list[dict] = []
    with threadpool_limits(1):
        for name, load in graphs:
            graph_rows_ = graph_rows(name, load(), settings, args.sources, args.walks, args.exact_cache)
            print_table(graph_rows_)
            sys.stdout.flush()
            rows += graph_rows_
    print_table(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
