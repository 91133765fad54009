"""Communities grown from seeds on a saved community index (built by ``communities --communities.index true``),
answered in this process (no Spark work): a table ``(query, id, score, step)``; the console shows each
query's latency and first members."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from sparkgraph.community.index import CommunityIndex, client_reads_directly
from sparkgraph.errors import ConfigError
from sparkgraph.fs import qualify
from sparkgraph.jobs.common import OutputConfig, format_facts, job_parameters
from sparkgraph.output import atomic_output, check_output
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
        seeds_path: Or a text file of seed groups, one group per line, ids separated by commas or
            spaces (lines starting with # are skipped). A local path is read here; a URI
            (hdfs://, s3a://, dbfs:/ ...) through Spark.
        size: Members wanted per community, seeds included.
        show: Members printed per query on the console (all are written to the output).
    """

    seeds: str = ""
    seeds_path: str = ""
    size: int = param(100, at_least(1))
    show: int = param(10, at_least(0))

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Config:
    index: IndexConfig = field(default_factory=IndexConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/community_query"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def _seed_lines(spark: SparkSession, path: str) -> list[str]:
    """The seed file's groups, one per non-empty line (not starting with #), as ``a,b,c`` text."""
    uri = qualify(spark, path)
    if client_reads_directly(spark, uri):
        try:
            with open(urllib.request.url2pathname(urllib.parse.urlparse(uri).path), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise ConfigError(f"query.seeds_path={path!r} cannot be read ({exc.strerror}); give a text file of "
                              "seed groups, one per line") from None
    else:
        lines = [row[0] for row in spark.read.text(uri).collect()]
    groups = [",".join(line.replace(",", " ").split()) for line in lines if line.strip() and
              not line.lstrip().startswith("#")]
    if not groups:
        raise ConfigError(f"query.seeds_path={path!r} holds no seed groups; write one group per line, e.g. 1,2,3")
    return groups


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
    q = config.query
    if bool(q.seeds.strip()) == bool(q.seeds_path):
        raise ConfigError("community_query grows communities from seeds: set query.seeds (e.g. '1,2,3;40,41') or "
                          "query.seeds_path (a file, one group per line), not both")
    check_output(spark, config.output.path, config.output.mode)  # before the work, not after
    text = q.seeds if q.seeds.strip() else ";".join(_seed_lines(spark, q.seeds_path))
    started = time.perf_counter()
    index = CommunityIndex.load(config.index.path, spark=spark)
    loaded = time.perf_counter() - started
    groups = _groups(text, index.names.dtype != object)
    for seeds in groups:  # every group checked before any is answered: a bad seed leaves no output
        index.ids_of(seeds)
    frames, latencies = [], []
    for number, seeds in enumerate(groups):
        began = time.perf_counter()
        found = index.query(seeds, q.size)
        latencies.append(time.perf_counter() - began)
        frames.append(found.assign(query=number)[["query", "id", "score", "step"]])
    table = pd.concat(frames, ignore_index=True)
    with atomic_output(spark, config.output.path, config.output.mode, job="community_query",
                       params=job_parameters(config)) as out:
        out.record_input(config.index.path, vertices=index.n)
        rows = out.write_table("members", spark.createDataFrame(table))
    answers = [{"seeds": seeds, "members": frame["id"].tolist(), "ms": round(1000 * seconds, 2)}
               for seeds, frame, seconds in zip(groups, frames, latencies, strict=True)]
    return {"index": config.index.path, "output": config.output.path, "queries": len(groups), "rows": rows,
            "load_seconds": round(loaded, 2), "median_query_ms": round(1000 * float(np.median(latencies)), 2),
            "answers": answers, "show": q.show}


def format_summary(summary: dict) -> str:
    """The facts, then one line per query: its seeds, latency and first ``query.show`` members."""
    summary = dict(summary)
    answers, show = summary.pop("answers"), summary.pop("show")
    lines = [format_facts(summary)]
    for number, a in enumerate(answers):
        members = a["members"]
        listed = ", ".join(str(m) for m in members[:show]) + (f", ... ({len(members)} in all)"
                                                              if len(members) > show else "")
        lines.append(f"query {number} seeds {','.join(str(s) for s in a['seeds'])}: {a['ms']} ms, "
                     f"{len(members)} members: {listed}")
    return "\n".join(lines)
