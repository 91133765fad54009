"""Graph facts and degree distribution of an edge list."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkgraph.graph import Graph, union_all
from sparkgraph.jobs.common import (
    GraphConfig,
    InputConfig,
    OutputConfig,
    format_facts,
    input_label,
    job_parameters,
    read_input_graph,
)
from sparkgraph.output import atomic_output
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/stats"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def degree_distribution(graph: Graph) -> DataFrame:
    """``(direction, degree, vertices)``: how many vertices have each out- (and, if directed, in-) degree."""
    out = graph.out_degrees().groupBy(F.col("out_degree").alias("degree")).count()
    frames = [out.select(F.lit("out").alias("direction"), "degree", F.col("count").alias("vertices"))]
    if graph.directed:
        inn = graph.in_degrees().groupBy(F.col("in_degree").alias("degree")).count()
        frames.append(inn.select(F.lit("in").alias("direction"), "degree", F.col("count").alias("vertices")))
    return union_all(frames).orderBy("direction", "degree")


def run(spark: SparkSession, config: Config) -> dict:
    with atomic_output(spark, config.output.path, config.output.mode, job="stats",
                       params=job_parameters(config)) as out:
        with out.phase("build graph"):
            graph, source = read_input_graph(spark, config.input, config.graph)
            label = input_label(source)
        with out.phase("facts"):
            facts = graph.stats()
            out.record_input(label, **source, vertices=graph.n, edges=graph.m)
            out.write_table("facts", spark.createDataFrame([facts]))
        with out.phase("degree distribution"):
            out.write_table("degree_distribution", degree_distribution(graph))
    return {"input": label, "output": config.output.path, **facts}


format_summary = format_facts
