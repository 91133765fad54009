"""The main job: every capability available so far on one graph, with a Markdown report."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sparkgraph.config import to_dict
from sparkgraph.io import atomic_output
from sparkgraph.jobs.common import GraphConfig, InputConfig, OutputConfig, read_input_graph
from sparkgraph.jobs.stats import degree_distribution
from sparkgraph.report import degree_plot_png, pipeline_report
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/pipeline"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def run(spark: SparkSession, config: Config) -> dict:
    sections: list[str] = []
    with atomic_output(spark, config.output.path, config.output.mode, job="pipeline",
                       params=to_dict(config)) as out:
        with out.phase("build graph"):
            graph, label = read_input_graph(spark, config.input, config.graph)
            out.record_input(label, vertices=graph.n, edges=graph.m)
        with out.phase("stats"):
            facts = graph.stats()
            out.write_table("facts", spark.createDataFrame([facts]))
            distribution = degree_distribution(graph)
            out.write_table("degree_distribution", distribution)
            out.write_bytes("degree_distribution.png",
                            degree_plot_png(distribution.toPandas(), f"{label}: degree distribution"))
        stages = [{"stage": k, "seconds": v} for k, v in out.manifest["phases"].items()]
        out.write_text("report.md", pipeline_report(label, facts, stages, "degree_distribution.png", sections))
    return {"input": label, "output": config.output.path, "report": f"{config.output.path}/report.md",
            **facts, "stages": {s["stage"]: s["seconds"] for s in stages}}


def format_summary(summary: dict) -> str:
    stages = summary.pop("stages")
    width = max(len(k) for k in summary)
    lines = [f"{k:<{width}}  {v}" for k, v in summary.items()]
    lines += [f"stage {name!r}: {seconds}s" for name, seconds in stages.items()]
    return "\n".join(lines)
