"""Build a walk index of PPR fingerprints (PowerWalk) and save it for batched queries (ppr_query)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sparkgraph.jobs.common import (
    GraphConfig,
    InputConfig,
    OutputConfig,
    format_facts,
    input_label,
    read_input_graph,
)
from sparkgraph.output import check_output
from sparkgraph.ppr import WalkIndexParams, build_walk_index
from sparkgraph.progress import track
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    index: WalkIndexParams = field(default_factory=WalkIndexParams)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/walk_index"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def run(spark: SparkSession, config: Config) -> dict:
    check_output(spark, config.output.path, config.output.mode)  # before the index is built, not after
    started = time.perf_counter()
    with track(spark, "build graph"):
        graph, source = read_input_graph(spark, config.input, config.graph)
    built = time.perf_counter()
    with track(spark, "fingerprints"):
        index = build_walk_index(graph, config.index)
    indexed = time.perf_counter()
    phases = index.save(config.output.path, config.output.mode,
                        phases={"build graph": round(built - started, 3), "fingerprints": round(indexed - built, 3)})
    summary = {"input": input_label(source), "output": config.output.path, "vertices": graph.n, "edges": graph.m,
               "fingerprint_entries": index.rows["fingerprints"], "walks_per_vertex": config.index.walks_per_vertex,
               "phases": phases}
    index.unpersist()
    return summary


format_summary = format_facts
