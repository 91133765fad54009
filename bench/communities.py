"""Benchmark: MinHash + LSH communities (Chamberlain et al. 2018) against datasketch, Spark ML and igraph.

1. Signatures: Spark ``minhash_signatures`` (written to Parquet) against ``datasketch.MinHash.bulk``
   over the same neighbour sets (same seed, scheme and element hash; the results are checked equal
   on the vertices both computed) and against our numpy kernel on one core.
2. Candidates: ``lsh_candidates`` time and recall of the exact pairs above the threshold (local
   twin), beside the S-curve's expectation, with the recall band rule (default) and datasketch's,
   each against Spark ML ``MinHashLSH.approxSimilarityJoin`` (``numHashTables`` = that rule's b) on
   0/1 neighbourhood vectors. Both start from the same cached neighbour sets (``ours_s``: signatures
   and candidates; ``ours_from_graph_s`` adds gathering the sets from the edges); times are the
   median of 3 runs under a minute, one run above.
3. Communities: NMI / ARI / modularity on planted partitions and LFR benchmark graphs
   (``networkx.LFR_benchmark_graph``) at mixing 0.1 .. 0.5, and on Cora's and BlogCatalog's labels
   (label propagation and components, the same settings everywhere) against Louvain (igraph
   ``community_multilevel``) and Leiden (igraph ``community_leiden``, modularity).
4. Seed queries: index build time, load time, latency p50/p95/p99 of queries of 1 to 5 random
   seeds and 100 members on cnr-2000 and BlogCatalog, with every candidate (the paper) and with
   the default cap (20 x size), the cap's overlap with the uncapped answers, and on BlogCatalog
   the recall of a labelled group grown from 3 of its members, beside the same growth with exact
   Jaccard (the local twin) and the recall of members picked at random.

    python bench/communities.py            # everything (long: cnr-2000 twice through Spark)
    python bench/communities.py --quick    # cora and a small planted graph, no cnr-2000
    python bench/communities.py --sections candidates,queries   # a subset

Prints a table and writes bench/results/communities.json (bench/results/communities-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embed import timed  # noqa: E402

from sparkgraph.community import (  # noqa: E402
    CommunityParams,
    LSHParams,
    MinHashParams,
    lsh_candidates,
    lsh_communities,
    minhash_signatures,
    neighbour_sets,
    set_signatures,
)
from sparkgraph.community.index import CommunityIndex, build_community_index  # noqa: E402
from sparkgraph.community.params import CommunityIndexParams, candidate_probability  # noqa: E402
from sparkgraph.datasets import load_graph, load_labels, load_local, planted_partition  # noqa: E402
from sparkgraph.graph import Graph  # noqa: E402
from sparkgraph.local.community import exact_jaccard, grow_community, neighbour_matrix, similar_pairs  # noqa: E402
from sparkgraph.local.community import minhash_signatures as local_signatures  # noqa: E402
from sparkgraph.local.graph import LocalGraph  # noqa: E402
from sparkgraph.metrics import ari, nmi  # noqa: E402
from sparkgraph.session import SessionConfig, get_session  # noqa: E402
from sparkgraph.udfs.minhash import datasketch_hashfunc  # noqa: E402

log = logging.getLogger("bench.communities")
ROOT = Path(__file__).resolve().parents[1]


def signatures_section(spark, name: str, params: MinHashParams, tmp: str, datasketch_limit: int) -> dict:
    from datasketch import MinHash

    graph = load_graph(spark, name)
    started = time.perf_counter()
    minhash_signatures(graph, params).write.mode("overwrite").parquet(f"{tmp}/{name}-sigs")
    spark_s = time.perf_counter() - started
    local = load_local(name)
    started = time.perf_counter()
    ours = local_signatures(local, params)
    numpy_s = time.perf_counter() - started
    sets = neighbour_matrix(local, params)
    count = min(local.n, datasketch_limit)
    lists = [sets.indices[sets.indptr[i]:sets.indptr[i + 1]].tolist() for i in range(count)]
    started = time.perf_counter()
    bulk = MinHash.bulk(lists, num_perm=params.num_perm, seed=params.seed, hashfunc=datasketch_hashfunc,
                        scheme=params.scheme)
    datasketch_s = (time.perf_counter() - started) * local.n / count
    equal = all(np.array_equal(m.hashvalues.astype(np.int64), ours[i]) for i, m in enumerate(bulk))
    return {"graph": name, "vertices": local.n, "set_elements": int(sets.nnz), "spark_s": round(spark_s, 2),
            "numpy_one_core_s": round(numpy_s, 2), "datasketch_bulk_s": round(datasketch_s, 2),
            "datasketch_extrapolated_from": count, "equal_to_datasketch": bool(equal)}


def candidates_section(spark, name: str, params: MinHashParams, threshold: float, band_rule: str) -> dict:
    from pyspark.ml.feature import MinHashLSH
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    graph = load_graph(spark, name)
    lsh = LSHParams(threshold=threshold, band_rule=band_rule)
    bands, rows = lsh.banding(params.num_perm)
    local = load_local(name)
    u, v, exact = similar_pairs(local, params, threshold)
    truth = pd.DataFrame({"u": u, "v": v, "j": exact})
    # the same input on both sides: the neighbour sets, cached (ours as arrays, Spark ML's as 0/1 vectors)
    cached_sets = neighbour_sets(graph, params).cache()
    cached_sets.count()

    def ours(source):
        cands = lsh_candidates(set_signatures(source, params) if source is cached_sets
                               else minhash_signatures(graph, params), lsh)
        pairs = cands.pairs.toPandas()
        cands.unpersist()
        return pairs, cands

    ours(cached_sets)  # warm-up: Python workers, the graph's cached tables
    (found, cands), ours_s = timed(lambda: ours(cached_sets))
    _, ours_graph_s = timed(lambda: ours(graph))
    cached_sets.unpersist()
    hit = truth.merge(found, on=["u", "v"], how="left")["jaccard"].notna()
    expected = float(candidate_probability(truth["j"].to_numpy(), bands, rows).mean())
    # Spark ML: 0/1 vectors of the same neighbourhoods, Jaccard distance 1 - J
    sets = neighbour_matrix(local, params)
    rows_ = [(i, SparseVector(local.n, sets.indices[sets.indptr[i]:sets.indptr[i + 1]].tolist(),
                              [1.0] * int(sets.indptr[i + 1] - sets.indptr[i]))) for i in range(local.n)]
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("features", VectorUDT())])
    vectors = spark.createDataFrame(rows_, schema).cache()
    vectors.count()
    def spark_ml():
        model = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=bands, seed=1).fit(vectors)
        # Spark ML keeps distance < its threshold, strictly: nudge it so pairs of Jaccard exactly t count too
        return (model.approxSimilarityJoin(vectors, vectors, float(np.nextafter(1 - threshold, 1)), distCol="distance")
                .select(F.col("datasetA.id").alias("u"), F.col("datasetB.id").alias("v"), "distance")
                .filter("u < v").toPandas())

    joined, ml_s = timed(spark_ml)  # its input is cached already; the median drops the cold first run
    ml_hit = truth.merge(joined, on=["u", "v"], how="left")["distance"].notna()
    vectors.unpersist()
    return {"graph": name, "threshold": threshold, "band_rule": band_rule, "bands": bands, "rows": rows,
            "s_curve_at_threshold": round(float(candidate_probability(threshold, bands, rows)), 4),
            "exact_pairs": len(truth),
            "candidates": len(found), "recall": round(float(hit.mean()), 4) if len(truth) else None,
            "s_curve_expected_recall": round(expected, 4), "ours_s": round(ours_s, 2), "ours_from_graph_s": round(ours_graph_s, 2),
            "spark_ml_pairs": len(joined), "spark_ml_recall": round(float(ml_hit.mean()), 4) if len(truth) else None,
            "spark_ml_s": round(ml_s, 2), "split_buckets": cands.split_buckets, "dropped_pairs": cands.dropped_pairs}


def quality_row(spark, graph: Graph, truth: pd.Series, row: dict) -> dict:
    """NMI / ARI / modularity of our two community methods and of Louvain and Leiden on one graph.

    ``truth``: one label per vertex, indexed by the caller's ids. The same settings on every graph
    (label propagation at threshold 0.1, components at 0.3; 6 rounds), none tuned per graph.
    """
    import igraph

    local = LocalGraph.from_graph(graph)
    coo = local.adjacency.tocoo()
    keep = coo.row < coo.col if not graph.directed else coo.row != coo.col
    g = igraph.Graph(n=local.n, edges=list(zip(coo.row[keep].tolist(), coo.col[keep].tolist(), strict=True)))
    g.simplify()  # Louvain / Leiden: undirected, no multi-edges
    names = pd.Series(local.names)
    truth = truth.reindex(names)

    def scores(membership: pd.Series) -> dict:
        codes = pd.factorize(membership.reindex(names).to_numpy())[0]
        return {"nmi": round(nmi(truth, membership.reindex(names)), 4), "ari": round(ari(truth, membership.reindex(names)), 4),
                "modularity": round(float(g.modularity(codes.tolist())), 4), "communities": int(codes.max() + 1)}

    for method, threshold in (("label_propagation", 0.1), ("components", 0.3)):
        started = time.perf_counter()
        result = lsh_communities(graph, CommunityParams(lsh=LSHParams(threshold=threshold), method=method, rounds=6))
        found = result.communities.toPandas().set_index("id")["community"]
        result.unpersist()
        row[method] = {**scores(found), "threshold": threshold, "seconds": round(time.perf_counter() - started, 1)}
    for peer in ("louvain", "leiden"):
        started = time.perf_counter()
        clusters = (g.community_multilevel() if peer == "louvain"
                    else g.community_leiden(objective_function="modularity", n_iterations=-1))
        seconds = time.perf_counter() - started
        row[peer] = {**scores(pd.Series(clusters.membership, index=names)), "seconds": round(seconds, 2)}
    log.info("quality %s", row)
    return row


def planted_section(spark, mixings: list[float], n: int, blocks: int, degree: float, seed: int) -> list[dict]:
    rows = []
    size = n // blocks
    for mixing in mixings:
        p_in, p_out = (1 - mixing) * degree / (size - 1), mixing * degree / (n - size)
        edges, labels = planted_partition(spark, n, blocks, p_in, p_out, seed=seed)
        graph = Graph.from_edges(edges, labels.withColumnRenamed("node", "id"), directed=False)
        truth = labels.toPandas().set_index("node")["label"]
        rows.append(quality_row(spark, graph, truth, {"graph": "planted", "mixing": mixing, "n": n, "blocks": blocks,
                                                       "degree": degree}))
        graph.unpersist()
    return rows


def lfr_section(spark, mus: list[float], n: int, seed: int) -> list[dict]:
    """LFR benchmark graphs (networkx): power-law degrees (exponent 3) and community sizes (1.5),
    mean degree 20, communities of 50 to 200 vertices, mixing ``mu``."""
    import networkx as nx

    rows = []
    for mu in mus:
        started = time.perf_counter()
        g = nx.LFR_benchmark_graph(n, tau1=3, tau2=1.5, mu=mu, average_degree=20, max_degree=100,
                                   min_community=50, max_community=200, seed=seed)
        built = time.perf_counter() - started
        truth = pd.Series({v: min(g.nodes[v]["community"]) for v in g}, dtype="int64")
        frame = pd.DataFrame([(u, v) for u, v in g.edges() if u != v], columns=["src", "dst"])
        graph = Graph.from_edges(spark.createDataFrame(frame), spark.createDataFrame(truth.index.to_frame(name="id")),
                                 directed=False)
        rows.append(quality_row(spark, graph, truth, {"graph": "lfr", "mixing": mu, "n": n,
                                                       "blocks": int(truth.nunique()), "degree": 20.0,
                                                       "generate_s": round(built, 1)}))
        graph.unpersist()
    return rows


def labelled_section(spark, names: list[str]) -> list[dict]:
    """Real graphs with labels: Cora (one topic per paper) and BlogCatalog (interest groups, several
    per blogger: the truth is each blogger's smallest group id, so NMI there is indicative only)."""
    rows = []
    for name in names:
        labels = load_labels(name).sort_values(["node", "label"]).drop_duplicates("node")
        graph = load_graph(spark, name)
        rows.append(quality_row(spark, graph, labels.set_index("node")["label"],
                                {"graph": name, "n": graph.n, "blocks": int(labels["label"].nunique())}))
        graph.unpersist()
    return rows


def query_section(spark, name: str, tmp: str, queries: int, labelled: bool) -> dict:
    graph = load_graph(spark, name)
    params = CommunityIndexParams(minhash=MinHashParams(num_perm=128))  # datasketch rule at 0.2: 28 x 2
    path = f"{tmp}/{name}-index"
    started = time.perf_counter()
    facts = build_community_index(graph, path, params, mode="overwrite")
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    index = CommunityIndex.load(path)
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    out = {"graph": name, "vertices": index.n, "bands": facts["bands"], "rows": facts["rows"],
           "split_buckets": facts["split_buckets"], "build_s": round(build_s, 1), "load_s": round(load_s, 2)}
    queries_ = [list(index.names[rng.choice(index.n, size=int(rng.integers(1, 6)), replace=False)])
                for _ in range(queries)]
    answers = {}
    for cap in (None, "auto"):
        latencies, answers[cap] = [], []
        for seeds in queries_:
            began = time.perf_counter()
            found = index.query(seeds, size=100, max_candidates=cap)
            latencies.append(1000 * (time.perf_counter() - began))
            answers[cap].append(set(found["id"]))
        key = "all_candidates" if cap is None else "max_candidates_auto"
        out[key] = {f"p{q}_ms": round(float(np.percentile(latencies, q)), 2) for q in (50, 95, 99)}
    # the cap's recall cost: the share of the uncapped community the capped query also returns
    overlap = [len(a & b) / len(b) for a, b in zip(answers["auto"], answers[None], strict=True)]
    out["auto_cap_overlap"] = {"mean": round(float(np.mean(overlap)), 4), "p5": round(float(np.percentile(overlap, 5)), 4),
                               "identical": round(float(np.mean([a == b for a, b in zip(answers["auto"], answers[None],
                                                                                          strict=True)])), 4)}
    if labelled:
        # is a low recall the index's doing, or the labels'? the same growth with exact Jaccard
        # (the local twin), and what picking members at random would recall
        labels = load_labels(name)
        groups = labels.groupby("label")["node"].apply(list)
        local = load_local(name)
        jaccard = exact_jaccard(local, params.minhash)
        recalls, exact, chance = [], [], []
        for members in groups[groups.map(len) >= 50]:
            seeds = sorted(members)[:3]
            found = index.query(seeds, size=len(members))
            recalls.append(len(set(found["id"]) & set(members)) / len(members))
            grown = grow_community(local, params.minhash, seeds, len(members), jaccard=jaccard)
            exact.append(len(set(grown["id"]) & set(members)) / len(members))
            chance.append((len(members) - 3) / (local.n - 3))
        out["group_recall_mean"] = round(float(np.mean(recalls)), 4)
        out["group_recall_exact_jaccard"] = round(float(np.mean(exact)), 4)
        out["group_recall_at_random"] = round(float(np.mean(chance)), 4)
        out["groups"] = len(recalls)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="cora and a small planted graph, no cnr-2000")
    ap.add_argument("--queries", type=int, default=1000, help="seed queries per graph (1 to 5 seeds, size 100)")
    ap.add_argument("--sections", default="signatures,candidates,planted,queries",
                    help="comma-separated subset of signatures,candidates,planted,queries")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = get_session(SessionConfig(master="local[*]", driver_memory="6g",
                                      extra={"spark.ui.enabled": "false"}))
    params = MinHashParams(num_perm=128)
    results: dict = {"params": {"num_perm": 128, "scheme": params.scheme, "seed": params.seed}}
    with tempfile.TemporaryDirectory(prefix="bench-communities-") as tmp:
        sig_graphs = ["cora"] if args.quick else ["blogcatalog", "cnr-2000"]
        results["signatures"] = [] if "signatures" not in sections else [signatures_section(spark, g, params, tmp, 2000 if args.quick else 20_000)
                                 for g in sig_graphs]
        if "candidates" in sections:
            results["candidates"] = [candidates_section(spark, g, params, t, rule)
                                     for g, t in ((("cora", 0.5),) if args.quick else (("cora", 0.5), ("blogcatalog", 0.5)))
                                     for rule in ("recall", "datasketch")]
        mixings = [0.1, 0.3] if args.quick else [0.1, 0.2, 0.3, 0.4, 0.5]
        results["planted"] = [] if "planted" not in sections else (
            planted_section(spark, mixings, n=300 if args.quick else 3000, blocks=3 if args.quick else 10,
                            degree=60.0, seed=5)
            + lfr_section(spark, [0.1, 0.3] if args.quick else [0.1, 0.2, 0.3, 0.4, 0.5], n=1000 if args.quick else 5000,
                          seed=7)
            + labelled_section(spark, ["cora"] if args.quick else ["cora", "blogcatalog"]))
        query_graphs = [] if "queries" not in sections else (
            [("blogcatalog", True)] + ([] if args.quick else [("cnr-2000", False)]))
        results["queries"] = [query_section(spark, g, tmp, args.queries if not args.quick else 100, labelled)
                              for g, labelled in query_graphs]
    spark.stop()
    suffix = ("-quick" if args.quick else "") + ("" if len(sections) == 4 else "-" + "-".join(sorted(sections)))
    out = ROOT / "bench" / "results" / f"communities{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for section, rows in results.items():
        if isinstance(rows, list):
            print(f"\n## {section}")
            print(pd.json_normalize(rows).to_string(index=False))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
