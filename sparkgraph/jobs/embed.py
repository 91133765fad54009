"""Embeddings of every vertex (d floats each), written as a table (id, embedding): FastRP of the whole
graph, or partitioned embedding (split into parts, embed every part, fuse; also writes the parts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sparkgraph.embed import FastRPParams, fastrp
from sparkgraph.embed.params import PartitionedParams
from sparkgraph.embed.partitioned import partitioned_embedding
from sparkgraph.errors import ConfigError
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
from sparkgraph.params import one_of, param, validate
from sparkgraph.session import SessionConfig

METHODS = ("fastrp", "partitioned")


@dataclass(frozen=True)
class MethodConfig:
    """Which embedding to compute.

    Attributes:
        method: fastrp (the whole graph at once) or partitioned (split into parts of at most
            partitioned.max_part_size vertices, embed each part with the fastrp settings, fuse into one space).
    """

    method: str = param("fastrp", one_of(*METHODS))

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class FeaturesConfig:
    """Optional vertex features mixed into the embedding (fastrp.feature_dim of the dimensions).

    Attributes:
        path: A Parquet table or catalog table whose first column holds vertex ids and second an array of numbers.
    """

    path: str = ""


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    embedding: MethodConfig = field(default_factory=MethodConfig)
    fastrp: FastRPParams = field(default_factory=FastRPParams)
    partitioned: PartitionedParams = field(default_factory=PartitionedParams)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/embed"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def run(spark: SparkSession, config: Config) -> dict:
    with atomic_output(spark, config.output.path, config.output.mode, job="embed", params=job_parameters(config),
                       seed=config.fastrp.seed) as out:
        with out.phase("build graph"):
            graph, source = read_input_graph(spark, config.input, config.graph)
            out.record_input(input_label(source), **source, vertices=graph.n, edges=graph.m)
        features = None
        if config.features.path:
            if config.fastrp.feature_dim == 0:
                raise ConfigError("features were given but feature_dim is 0; set fastrp.feature_dim to the "
                                  "dimensions they get")
            if config.embedding.method == "partitioned":
                raise ConfigError("features are not used by the partitioned method; remove features.path or set "
                                  "embedding.method: fastrp")
            features = read_edges(spark, config.features.path)  # checked and read like any input table
        facts = {}
        if config.embedding.method == "partitioned":
            with out.phase("partitioned embedding"):
                result = partitioned_embedding(graph, config.partitioned, config.fastrp)
                rows = out.write_table("embeddings", result.embeddings)
                out.write_table("parts", result.parts, count=False)
            out.manifest["levels"] = result.levels
            facts = {"levels": len(result.levels), "parts": [lv["parts"] for lv in result.levels],
                     "cut_fraction": [lv["cut_fraction"] for lv in result.levels]}
        else:
            with out.phase("fastrp"):
                rows = out.write_table("embeddings", fastrp(graph, config.fastrp, features))
    return {"input": input_label(source), "output": config.output.path, "vertices": graph.n, "edges": graph.m,
            "method": config.embedding.method, "rows": rows, "dimension": config.fastrp.dimension,
            "iterations": config.fastrp.iterations, **facts, "phases": out.manifest["phases"]}

format_summary = format_facts
