"""Communities grown from seeds on a saved community index (built by ``communities --communities.index true``),
answered in this process (no Spark work): a table ``(query, id, score, step)``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from sparkgraph.community.index import CommunityIndex
from sparkgraph.errors import ConfigError
from sparkgraph.jobs.common import OutputConfig, format_facts, job_parameters
from sparkgraph.output import atomic_output
from sparkgraph.params import at_least, param, validate
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class IndexConfig:
    """The community index to answer from.

    Attributes:
        path: Directory written by ``sparkgraph run communities --communities.index true``.
    """

    path: str = "output/community_index"


@dataclass(frozen=True)
class QueryConfig:
    """The queries.

    Attributes:
        seeds: Seed groups: ids separated by commas, groups by semicolons ("1,2,3;40,41").
        size: Members wanted per community, seeds included.
    """

    seeds: str = ""
    size: int = param(100, at_least(1))

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Config:
    index: IndexConfig = field(default_factory=IndexConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/community_query"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def _groups(text: str, integer_ids: bool) -> list[list]:
    groups = []
    for part in text.split(";"):
        ids = [s.strip() for s in part.split(",") if s.strip()]
        if integer_ids:
            try:
                ids = [int(s) for s in ids]
            except ValueError:
                raise ConfigError(f"query.seeds={text!r} holds ids that are not integers, but the index's ids "
                                  "are") from None
        groups.append(ids)
    return groups


def run(spark: SparkSession, config: Config) -> dict:
    if not config.query.seeds.strip():
        raise ConfigError("community_query grows communities from seeds: set query.seeds, e.g. '1,2,3;40,41'")
    started = time.perf_counter()
    index = CommunityIndex.load(config.index.path)
    loaded = time.perf_counter() - started
    groups = _groups(config.query.seeds, index.names.dtype != object)
    frames, latencies = [], []
    for number, seeds in enumerate(groups):
        began = time.perf_counter()
        found = index.query(seeds, config.query.size)
        latencies.append(time.perf_counter() - began)
        frames.append(found.assign(query=number)[["query", "id", "score", "step"]])
    table = pd.concat(frames, ignore_index=True)
    with atomic_output(spark, config.output.path, config.output.mode, job="community_query",
                       params=job_parameters(config)) as out:
        out.record_input(config.index.path, vertices=index.n)
        rows = out.write_table("members", spark.createDataFrame(table))
    return {"index": config.index.path, "output": config.output.path, "queries": len(groups), "rows": rows,
            "load_seconds": round(loaded, 2), "median_query_ms": round(1000 * float(np.median(latencies)), 2)}


format_summary = format_facts
