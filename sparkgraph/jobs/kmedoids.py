"""k-medoids clusters: of a table of vectors or MinHash signatures, of the input graph's FastRP embedding,
or of the graph's vertices under hop distance; written as ``assignments (id, cluster, medoid, distance)``
and ``medoids (cluster, medoid, size, deviation)``."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from sparkgraph.cluster import KMedoidsParams, kmedoids
from sparkgraph.embed import FastRPParams, fastrp
from sparkgraph.errors import DatasetNotFoundError
from sparkgraph.io import read_edges
from sparkgraph.jobs.common import (
    GraphConfig,
    InputConfig,
    OutputConfig,
    format_facts,
    input_label,
    job_parameters,
    read_input_graph,
)
from sparkgraph.output import atomic_output, read_output
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class PointsConfig:
    """The points to cluster (metrics euclidean, cosine, jaccard). Empty path: the input graph is embedded
    with FastRP (the fastrp section) and its vertices clustered; metric hop always clusters the input graph.

    Attributes:
        path: A Parquet table or folder, a catalog table, or a sparkgraph output folder (then ``table`` is read).
        table: Which table of a sparkgraph output folder: embeddings (embed job), or another of its tables.
    """

    path: str = ""
    table: str = "embeddings"


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    points: PointsConfig = field(default_factory=PointsConfig)
    fastrp: FastRPParams = field(default_factory=FastRPParams)
    kmedoids: KMedoidsParams = field(default_factory=KMedoidsParams)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/kmedoids"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def read_points(spark: SparkSession, points: PointsConfig) -> DataFrame:
    """The points table: a sparkgraph output's table when ``path`` holds a manifest, else the table itself."""
    try:
        return read_output(spark, points.path, points.table)
    except DatasetNotFoundError as exc:
        if "manifest" not in str(exc):
            raise
    return read_edges(spark, points.path)


def run(spark: SparkSession, config: Config) -> dict:
    p = config.kmedoids
    with atomic_output(spark, config.output.path, config.output.mode, job="kmedoids", params=job_parameters(config),
                       seed=p.seed) as out:
        if p.metric != "hop" and config.points.path:
            with out.phase("read points"):
                data = read_points(spark, config.points)
                label = config.points.path
                out.record_input(label, path=config.points.path, table=config.points.table)
        else:
            with out.phase("build graph"):
                graph, source = read_input_graph(spark, config.input, config.graph)
                label = input_label(source)
                out.record_input(label, **source, vertices=graph.n, edges=graph.m)
            data = graph
            if p.metric != "hop":
                with out.phase("fastrp"):
                    data = fastrp(graph, config.fastrp).persist()
        with out.phase("k-medoids"):
            result = kmedoids(data, p)
            rows = out.write_table("assignments", result.assignments)
            out.write_table("medoids", spark.createDataFrame(result.medoids))
            out.manifest["kmedoids"] = {"loss": result.loss, "rounds": result.rounds, "method": result.method,
                                        "unreachable": result.unreachable}
            result.unpersist()
    sizes = result.medoids["size"]
    return {"input": label, "output": config.output.path, "points": result.n, "rows": rows, "k": p.k,
            "metric": p.metric, "method": result.method, "loss": round(result.loss, 6),
            "cluster sizes": f"{int(sizes.min())} to {int(sizes.max())}", "phases": out.manifest["phases"]}


format_summary = format_facts
