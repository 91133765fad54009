"""Top-k personalized PageRank for every vertex (or chosen sources) by Monte Carlo walks."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType

from sparkgraph.errors import ConfigError, DatasetNotFoundError
from sparkgraph.fs import file_system
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
from sparkgraph.output import atomic_output
from sparkgraph.ppr import PPRParams, fully_ppr
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class SourcesConfig:
    """Which vertices get a PPR vector.

    Attributes:
        ids: Comma-separated vertex ids; empty (with path empty) means every vertex.
        path: A file (one id per line) or Parquet/table with the ids in its first column.
    """

    ids: str = ""
    path: str = ""


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    ppr: PPRParams = field(default_factory=PPRParams)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/ppr"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def read_sources(spark: SparkSession, id_type: DataType, config: SourcesConfig) -> list | DataFrame | None:
    """The configured sources: None (all), a list of ids, or a one-column DataFrame.

    ``id_type`` is the graph's id type (``graph.id_type``): ids given as text are checked against it.
    """
    if config.ids and config.path:
        raise ConfigError("set sources.ids or sources.path, not both")
    if config.ids:
        values = [v.strip() for v in config.ids.split(",") if v.strip()]
        if id_type.simpleString() == "bigint":
            bad = [v for v in values if not v.lstrip("-").isdigit()]
            if bad:
                raise ConfigError(f"sources.ids {bad[:5]} are not integers, but the graph's ids are; fix sources.ids")
            return [int(v) for v in values]
        return values
    if config.path:
        if config.path.endswith((".txt", ".tsv", ".csv", ".txt.gz")):
            fs = file_system(spark)
            uri = fs.qualify(config.path)
            if not fs.exists(uri):  # on a cluster, where the local check before Spark could not look
                raise DatasetNotFoundError(f"sources.path {config.path!r} does not exist ({uri}); check the path")
            return spark.read.text(uri).select(F.trim("value").alias("id")).filter("id != ''")
        table = read_edges(spark, config.path)
        return table.select(F.col(table.columns[0]).alias("id"))
    return None


def run(spark: SparkSession, config: Config) -> dict:
    with atomic_output(spark, config.output.path, config.output.mode, job="ppr", params=job_parameters(config),
                       seed=config.ppr.seed) as out:
        with out.phase("build graph"):
            graph, source = read_input_graph(spark, config.input, config.graph)
            label = input_label(source)
            out.record_input(label, **source, vertices=graph.n, edges=graph.m)
        with out.phase("ppr"):
            sources = read_sources(spark, graph.id_type, config.sources)
            rows = out.write_table("scores", fully_ppr(graph, config.ppr, sources=sources))
    return {"input": label, "output": config.output.path, "vertices": graph.n, "edges": graph.m,
            "sources": "all" if sources is None else (len(sources) if isinstance(sources, list) else "from file"),
            "rows": rows, "walks_per_source": config.ppr.walks_per_source, "top_k": config.ppr.top_k,
            "phases": out.manifest["phases"]}


format_summary = format_facts
