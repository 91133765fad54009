"""The main job: every capability available so far on one graph, with a Markdown report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sparkgraph import metrics
from sparkgraph.cluster import KMedoidsParams, kmedoids
from sparkgraph.cluster.report import cluster_scores, kmedoids_section
from sparkgraph.cluster.report import sizes_png as cluster_sizes_png
from sparkgraph.community import CommunityParams, LSHParams, lsh_communities
from sparkgraph.community.report import (
    community_section,
    labels_frame,
    partition_scores,
    size_histogram,
    sizes_png,
)
from sparkgraph.datasets import DATASETS, load_labels
from sparkgraph.embed import FastRPParams, fastrp
from sparkgraph.embed.evaluate import collect_embedding, label_matrix
from sparkgraph.embed.report import embedding_section, projection_png
from sparkgraph.errors import GraphTooLargeError
from sparkgraph.jobs.common import (
    GraphConfig,
    InputConfig,
    OutputConfig,
    format_facts,
    input_label,
    job_parameters,
    read_input_graph,
)
from sparkgraph.jobs.stats import degree_distribution
from sparkgraph.local.graph import LocalGraph
from sparkgraph.local.ppr import exact_ppr
from sparkgraph.output import atomic_output
from sparkgraph.params import at_least, param, validate
from sparkgraph.ppr import PPRParams, fully_ppr
from sparkgraph.ppr.fully_ppr import describe_method
from sparkgraph.report import degree_plot_png, markdown_table, pipeline_report
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class CheckConfig:
    """Validation of the distributed results against the exact local twin, shown in the report.

    Attributes:
        sources: Sampled sources whose top-k PPR is compared with exact power iteration (0 skips).
        max_driver_bytes: Driver memory the local twin may take; larger graphs skip the check.
    """

    sources: int = param(20, at_least(0))
    max_driver_bytes: int = param(1024**3, at_least(1))

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    ppr: PPRParams = field(default_factory=lambda: PPRParams(top_k=10))
    fastrp: FastRPParams = field(default_factory=FastRPParams)
    communities: CommunityParams = field(default_factory=lambda: CommunityParams(lsh=LSHParams(threshold=0.3),
                                                                                 rounds=5))
    kmedoids: KMedoidsParams = field(default_factory=lambda: KMedoidsParams(k=7, metric="cosine"))
    check: CheckConfig = field(default_factory=CheckConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/pipeline"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def run(spark: SparkSession, config: Config) -> dict:
    sections: list[str] = []
    with atomic_output(spark, config.output.path, config.output.mode, job="pipeline",
                       params=job_parameters(config), seed=config.ppr.seed) as out:
        with out.phase("build graph"):
            graph, source = read_input_graph(spark, config.input, config.graph)
            label = input_label(source)
            out.record_input(label, **source, vertices=graph.n, edges=graph.m)
        with out.phase("stats"):
            facts = graph.stats()
            out.write_table("facts", spark.createDataFrame([facts]))
            distribution = degree_distribution(graph)
            out.write_table("degree_distribution", distribution)
            out.write_bytes("degree_distribution.png",
                            degree_plot_png(distribution.toPandas(), f"{label}: degree distribution"))
        with out.phase("ppr"):
            scores = fully_ppr(graph, config.ppr).persist()
            out.write_table("ppr", scores)
            sections.append(ppr_section(graph, scores, config))
            scores.unpersist()
        with out.phase("embed"):
            embeddings = fastrp(graph, config.fastrp).persist()
            out.write_table("embeddings", embeddings)
            sections.append(embed_section(graph, embeddings, source, config, out))
        with out.phase("k-medoids"):
            clusters = kmedoids(embeddings, config.kmedoids)
            out.write_table("clusters", clusters.assignments)
            sections.append(kmedoids_report(spark, clusters, source, config, out))
            clusters.unpersist()
            embeddings.unpersist()
        with out.phase("communities"):
            result = lsh_communities(graph, config.communities)
            out.write_table("communities", result.communities)
            sections.append(communities_section(spark, result, source, config, out))
            result.unpersist()
        stages = [{"stage": k, "seconds": v} for k, v in out.manifest["phases"].items()]
        out.write_text("report.md", pipeline_report(label, facts, stages, "degree_distribution.png", sections))
    return {"input": label, "output": config.output.path, "report": out.uri("report.md"),
            **facts, "stages": {s["stage"]: s["seconds"] for s in stages}}


def embed_section(graph, embeddings, source: dict, config: Config, out) -> str:
    """The report's FastRP section (F1 on the bundled labels, 2-D plot), when the embeddings fit the driver."""
    try:
        names = graph.vertices.orderBy("id").select("name").toPandas()["name"].to_numpy()
        vectors = collect_embedding(embeddings, names, max_bytes=config.check.max_driver_bytes)
    except GraphTooLargeError as exc:
        return f"\n## FastRP embedding\n\nEvaluation skipped: {exc}\n"
    dataset = source.get("dataset")
    labels = load_labels(dataset) if dataset and DATASETS[dataset].labels else None
    y = label_matrix(labels, names) if labels is not None else None
    out.write_bytes("embedding.png", projection_png(vectors, y, f"{input_label(source)}: FastRP, 2 principal components"))
    return embedding_section(vectors, names, labels, config.fastrp, "embedding.png")


def kmedoids_report(spark, result, source: dict, config: Config, out) -> str:
    """The report's k-medoids section (purity, NMI, ARI against the bundled labels, a plot of the sizes)."""
    dataset = source.get("dataset")
    scores = None
    if dataset and DATASETS[dataset].labels:
        scores = cluster_scores(result.assignments, labels_frame(spark, load_labels(dataset)))
    out.write_bytes("cluster_sizes.png", cluster_sizes_png(result, f"{input_label(source)}: k-medoids cluster sizes"))
    return kmedoids_section(result, scores, config.kmedoids, "cluster_sizes.png")


def communities_section(spark, result, source: dict, config: Config, out) -> str:
    """The report's communities section (NMI/ARI against the bundled labels, a plot of the sizes)."""
    dataset = source.get("dataset")
    scores = None
    if dataset and DATASETS[dataset].labels:
        scores = partition_scores(result.communities, labels_frame(spark, load_labels(dataset)))
    histogram = size_histogram(result)
    out.write_bytes("community_sizes.png", sizes_png(histogram, f"{input_label(source)}: community sizes"))
    return community_section(result, histogram, scores, config.communities, "community_sizes.png")


def ppr_section(graph, scores, config: Config) -> str:
    """The report's PPR section: a few top lists, and precision/L1 against exact PPR on sampled sources."""
    p = config.ppr
    lines = [f"\n## Personalized PageRank (top {p.top_k}, {p.walks_per_source} walks per source, "
             f"α={p.restart_prob}, {p.estimator} estimator, {describe_method(graph, p)})\n"]
    if config.check.sources <= 0:
        return "\n".join(lines)
    try:
        local = LocalGraph.from_graph(graph, max_bytes=config.check.max_driver_bytes)
    except GraphTooLargeError as exc:
        return "\n".join(lines + [f"Exact check skipped: {exc}\n"])
    rng = np.random.default_rng(p.seed)
    sample = local.names[np.sort(rng.choice(local.n, size=min(config.check.sources, local.n), replace=False))]
    estimate = scores.filter(F.col("source").isin([s.item() if hasattr(s, "item") else s for s in sample])).toPandas()
    exact = exact_ppr(local, local.ids_of(sample), p.restart_prob, p.dangling)
    rows = []
    for i, source in enumerate(sample):
        part = estimate[estimate["source"] == source]
        vector = dict(zip(local.ids_of(part["target"].to_numpy()).tolist(), part["score"], strict=True))
        top_exact = {int(v): exact[i, v] for v in np.argsort(-exact[i])[: p.top_k]}
        rows.append({"precision": metrics.precision_at_k(vector, exact[i], p.top_k),
                     "ndcg": metrics.ndcg_at_k(vector, top_exact, p.top_k),
                     "l1_top": metrics.l1_error(vector, top_exact)})
    table = pd.DataFrame(rows)
    lines.append(f"Checked against exact power iteration (1e-10) on {len(sample)} sampled sources: "
                 f"precision@{p.top_k} {table.precision.mean():.3f}, NDCG@{p.top_k} {table.ndcg.mean():.3f}, "
                 f"L1 over the top {p.top_k} {table.l1_top.mean():.4f} (means).\n")
    first = sample[0].item() if hasattr(sample[0], "item") else sample[0]
    top = estimate[estimate["source"] == first].sort_values(["score", "target"], ascending=[False, True]).head(5)
    exact_top = {local.names[v]: exact[0, v] for v in np.argsort(-exact[0])[:5]}
    lines.append(f"Top 5 of source {first}, the first of the {len(sample)} sources sampled for the check (seed "
                 f"{p.seed}), ranked by estimated score, beside the exact score:\n")
    lines.append(markdown_table([{"rank": rank, "target": r.target, "estimated": float(r.score),
                                  "exact": float(exact[0, local.ids_of([r.target])[0]]),
                                  "in exact top 5": "yes" if r.target in exact_top else "no"}
                                 for rank, r in enumerate(top.itertuples(), start=1)]))
    return "\n".join(lines)


def format_summary(summary: dict) -> str:
    stages = summary.pop("stages")
    lines = [format_facts(summary)] + [f"stage {name!r}: {seconds}s" for name, seconds in stages.items()]
    return "\n".join(lines)
