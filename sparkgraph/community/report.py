"""The communities section of the pipeline's report: agreement with the labels, and community sizes.

Everything graph-sized stays on Spark: NMI and ARI come from the contingency table of (label,
community) counts, aggregated in Spark to a handful of sums; the size plot from the histogram of
community sizes (one row per distinct size, at most about sqrt(2n) rows).
"""

from __future__ import annotations

import math

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkgraph.community.communities import CommunityResult
from sparkgraph.community.params import CommunityParams
from sparkgraph.report import figure_png, markdown_table, new_figure


def partition_scores(found: DataFrame, truth: DataFrame) -> dict:
    """NMI (arithmetic-mean normalisation) and ARI of two partitions, over the vertices in both.

    Args:
        found: ``(id, community)``.
        truth: ``(id, label)``, one label per vertex.

    Returns:
        ``{"vertices", "nmi", "ari"}``, equal to :func:`sparkgraph.metrics.nmi` and
        :func:`~sparkgraph.metrics.ari` on the same vertices.

    Why the sums: with cells n_ij, row sums a_i and column sums b_j of the contingency table,
    MI = log n + (Σ n_ij log n_ij - Σ a_i log a_i - Σ b_j log b_j) / n, H(truth) = log n - Σ a_i log a_i / n,
    H(found) = log n - Σ b_j log b_j / n, and ARI needs Σ C(n_ij, 2), Σ C(a_i, 2), Σ C(b_j, 2): six
    sums, one Spark job, nothing per vertex on the driver.

    Example:
        >>> partition_scores(result.communities, spark.createDataFrame(labels, "id long, label long"))
        {'vertices': 2708, 'nmi': 0.41, 'ari': 0.12}
    """
    cells = (found.select("id", "community").join(truth.select("id", "label"), "id")
             .groupBy("label", "community").agg(F.count("*").alias("x")))
    parts = (cells.select(F.lit("cell").alias("kind"), "x")
             .unionByName(cells.groupBy("label").agg(F.sum("x").alias("x")).select(F.lit("row").alias("kind"), "x"))
             .unionByName(cells.groupBy("community").agg(F.sum("x").alias("x"))
                          .select(F.lit("col").alias("kind"), "x")))
    sums = {r["kind"]: r for r in parts.groupBy("kind").agg(
        F.sum("x").alias("n"), F.sum(F.col("x") * F.log("x")).alias("xlogx"),
        F.sum(F.col("x") * (F.col("x") - 1) / 2).alias("pairs")).collect()}
    if not sums:
        return {"vertices": 0, "nmi": float("nan"), "ari": float("nan")}
    n = float(sums["cell"]["n"])
    log_n = math.log(n)
    mi = log_n + (sums["cell"]["xlogx"] - sums["row"]["xlogx"] - sums["col"]["xlogx"]) / n
    h_truth, h_found = log_n - sums["row"]["xlogx"] / n, log_n - sums["col"]["xlogx"] / n
    h_truth, h_found = max(h_truth, 0.0), max(h_found, 0.0)  # rounding can leave -1e-16
    if h_truth == 0 and h_found == 0:
        nmi = 1.0
    else:
        nmi = mi / ((h_truth + h_found) / 2) if h_truth + h_found > 0 else 0.0
    sum_ij, sum_a, sum_b = sums["cell"]["pairs"], sums["row"]["pairs"], sums["col"]["pairs"]
    expected = sum_a * sum_b / (n * (n - 1) / 2) if n > 1 else 0.0
    top = (sum_a + sum_b) / 2
    ari = 1.0 if top == expected else (sum_ij - expected) / (top - expected)
    return {"vertices": int(n), "nmi": float(nmi), "ari": float(ari)}


def size_histogram(result: CommunityResult) -> pd.DataFrame:
    """``(size, communities)``: how many communities have each size, smallest size first."""
    return (result.sizes.groupBy("size").agg(F.count("*").alias("communities")).orderBy("size").toPandas())


def sizes_png(histogram: pd.DataFrame, title: str) -> bytes:
    """Number of communities of each size, on log-log axes (PNG)."""
    fig, ax = new_figure()
    ax.scatter(histogram["size"], histogram["communities"], s=12)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("community size (vertices)")
    ax.set_ylabel("communities of that size")
    return figure_png(fig, title)


def labels_frame(spark: SparkSession, labels: pd.DataFrame) -> DataFrame:
    """``(id, label)`` in the caller's ids from ``load_labels``' ``(node, label)``: one label per
    vertex (the smallest, for data sets where a vertex has several)."""
    first = labels.groupby("node", as_index=False)["label"].min().rename(columns={"node": "id"})
    return spark.createDataFrame(first)


def community_section(result: CommunityResult, histogram: pd.DataFrame, scores: dict | None,
                      params: CommunityParams, plot_file: str) -> str:
    """Markdown: the parameters, counts, NMI/ARI against the labels when there are labels, the
    largest sizes, and the size plot ``plot_file``.

    Example:
        >>> community_section(result, size_histogram(result), partition_scores(...), params, "community_sizes.png")
    """
    lsh = params.lsh
    rule = "given" if lsh.bands is not None else f"{lsh.band_rule} rule"
    lines = [f"\n## Communities (MinHash + LSH: {params.minhash.num_perm} permutations, Jaccard threshold "
             f"{result.threshold}, {result.bands} bands × {result.rows} rows by the {rule}, "
             f"{params.method.replace('_', ' ')}, {result.rounds} rounds)\n"]
    total = int((histogram["size"] * histogram["communities"]).sum())
    count = int(histogram["communities"].sum())
    singletons = int(histogram.loc[histogram["size"] == 1, "communities"].sum())
    largest = int(histogram["size"].max()) if count else 0
    lines.append(f"{count} communities over {total} vertices from {result.similar_pairs} similar pairs; largest "
                 f"{largest} vertices, {singletons} singletons"
                 + (f"; {result.split_buckets} oversized buckets split ({result.dropped_pairs} bucket pairs dropped)"
                    if result.split_buckets else "") + ".\n")
    if scores is None:
        lines.append("No labels for this input: no agreement score.\n")
    else:
        lines.append(f"Agreement with the bundled labels over {scores['vertices']} labelled vertices (one label "
                     "per vertex):\n")
        lines.append(markdown_table([{"NMI": round(scores["nmi"], 4), "ARI": round(scores["ari"], 4)}]))
    lines.append(f"\n![community sizes]({plot_file})\n")
    return "\n".join(lines)
