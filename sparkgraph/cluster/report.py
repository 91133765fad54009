"""The k-medoids section of the pipeline's report: cluster sizes, and agreement with the labels.

Purity (the share of points whose cluster's most common label is their own), NMI and ARI come
from the (label, cluster) contingency table aggregated on Spark; only k sizes reach the driver.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sparkgraph.cluster.kmedoids import KMedoidsResult
from sparkgraph.cluster.params import KMedoidsParams
from sparkgraph.community.report import partition_scores
from sparkgraph.report import figure_png, markdown_table, new_figure


def cluster_scores(assignments: DataFrame, truth: DataFrame) -> dict:
    """Purity, NMI and ARI of the clusters against ``truth (id, label)``, over the points in both.

    Example:
        >>> cluster_scores(result.assignments, labels_frame(spark, load_labels("cora")))
        {'vertices': 2708, 'nmi': 0.35, 'ari': 0.2, 'purity': 0.6}
    """
    found = assignments.select("id", F.col("cluster").alias("community"))
    scores = partition_scores(found, truth)
    cells = (found.join(truth.select("id", "label"), "id").groupBy("community", "label").agg(F.count("*").alias("x")))
    best = cells.withColumn("top", F.max("x").over(Window.partitionBy("community"))).filter(F.col("x") == F.col("top"))
    majority = best.groupBy("community").agg(F.first("x").alias("x")).agg(F.sum("x")).first()[0] or 0
    scores["purity"] = majority / scores["vertices"] if scores["vertices"] else float("nan")
    return scores


def sizes_png(result: KMedoidsResult, title: str) -> bytes:
    """Cluster sizes, largest first (PNG)."""
    sizes = result.medoids.sort_values("size", ascending=False)
    fig, ax = new_figure()
    ax.bar(range(len(sizes)), sizes["size"])
    ax.set_xlabel("cluster (largest first)")
    ax.set_ylabel("points")
    return figure_png(fig, title)


def kmedoids_section(result: KMedoidsResult, scores: dict | None, params: KMedoidsParams, plot_file: str) -> str:
    """Markdown: the method, the loss per step, the medoids with their cluster sizes, purity/NMI/ARI against
    the labels when there are labels, and the size plot ``plot_file``."""
    lines = [f"\n## k-medoids of the FastRP embedding (k={result.k}, {result.metric}, {result.method}, "
             f"{params.init} start, seed {params.seed})\n",
             f"Total deviation {result.loss:.6g} over {result.n} points, after these steps:\n",
             markdown_table([{"step": step["step"], "loss": step.get("loss", ""),
                              "points": step.get("points", ""), "seconds": step["seconds"]} for step in result.rounds]),
             "\nMedoids and their clusters:\n",
             markdown_table(result.medoids.to_dict("records"))]
    if scores is None:
        lines.append("\nNo labels for this input: no purity.\n")
    else:
        lines.append(f"\nAgreement with the bundled labels over {scores['vertices']} labelled vertices:\n")
        lines.append(markdown_table([{"purity": round(scores["purity"], 4), "NMI": round(scores["nmi"], 4),
                                      "ARI": round(scores["ari"], 4)}]))
    lines.append(f"\n![cluster sizes]({plot_file})\n")
    return "\n".join(lines)
