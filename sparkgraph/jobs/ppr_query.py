"""Top-k PPR of a batch of sources from a saved walk index (built by the walk_index job)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sparkgraph.errors import ConfigError
from sparkgraph.jobs.common import OutputConfig, format_facts, job_parameters
from sparkgraph.jobs.ppr import SourcesConfig, read_sources
from sparkgraph.output import atomic_output
from sparkgraph.ppr import QueryParams, WalkIndex, query
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class IndexConfig:
    """The walk index to answer from.

    Attributes:
        path: Directory written by the walk_index job (or WalkIndex.save).
    """

    path: str = "output/walk_index"


@dataclass(frozen=True)
class Config:
    index: IndexConfig = field(default_factory=IndexConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    query: QueryParams = field(default_factory=QueryParams)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/ppr_query"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def run(spark: SparkSession, config: Config) -> dict:
    if not (config.sources.ids or config.sources.path):
        raise ConfigError("ppr_query answers chosen sources: set sources.ids or sources.path")
    index = WalkIndex.load(spark, config.index.path)
    with atomic_output(spark, config.output.path, config.output.mode, job="ppr_query", params=job_parameters(config)) as out:
        out.record_input(config.index.path, vertices=index.rows["vertices"],
                         fingerprint_entries=index.rows["fingerprints"])
        with out.phase("query"):
            sources = read_sources(spark, index.id_type, config.sources)
            rows = out.write_table("scores", query(index, sources, config.query))
    index.unpersist()
    return {"index": config.index.path, "output": config.output.path,
            "sources": len(sources) if isinstance(sources, list) else "from file", "rows": rows,
            "top_k": config.query.top_k, "phases": out.manifest["phases"]}


format_summary = format_facts
