"""Configuration sections shared by jobs, and reading a job's input graph."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from sparkgraph.datasets import DATASETS, graph_options, load_edges
from sparkgraph.errors import ConfigError
from sparkgraph.graph import Graph, GraphOptions
from sparkgraph.io import read_edges


@dataclass(frozen=True)
class InputConfig:
    """Where the graph comes from.

    Attributes:
        dataset: A named data set (karate, cora, lesmis, cond-mat-1999, blogcatalog, cnr-2000); used when path is empty.
        path: An edge list file or directory (TSV/CSV, gzip or not, or Parquet) or a catalog table name.
        format: auto (from the extension), tsv, csv, parquet or table.
        header: Whether a TSV/CSV file starts with a header row.
    """

    dataset: str = "cora"
    path: str = ""
    format: str = "auto"
    header: bool = False


@dataclass(frozen=True)
class GraphConfig:
    """How the input becomes a graph.

    Attributes:
        directed: true/false; null takes the data set's own direction (files: directed).
        weight: Name of the weight column; null uses a column named 'weight' when there is one.
        unweighted: Ignore any weight column (every edge weighs 1).
        src: Source column of the edges.
        dst: Destination column of the edges.
        duplicates: Repeated edges are merged by sum, max or first.
        self_loops: keep or drop edges from a vertex to itself.
    """

    directed: bool | None = None
    weight: str | None = None
    unweighted: bool = False
    src: str = "src"
    dst: str = "dst"
    duplicates: str = "sum"
    self_loops: str = "keep"


@dataclass(frozen=True)
class OutputConfig:
    """Where results go.

    Attributes:
        path: Output folder (a URI, or a path on the cluster's default file system); committed by its manifest.json.
        mode: error (refuse an existing output) or overwrite (replace it once the new one is complete).
    """

    path: str = "output/result"
    mode: str = "error"


def read_input_graph(spark: SparkSession, inp: InputConfig, g: GraphConfig) -> tuple[Graph, str]:
    """Build the job's :class:`Graph` and a short label of where it came from."""
    if inp.path:
        edges = read_edges(spark, inp.path, fmt=inp.format, header=inp.header)
        directed = True if g.directed is None else g.directed
        label = inp.path
    else:
        if inp.dataset not in DATASETS:
            raise ConfigError(f"input.dataset={inp.dataset!r} is not known; use one of {', '.join(DATASETS)} "
                              "or set input.path")
        edges = load_edges(spark, inp.dataset)
        directed = graph_options(inp.dataset).directed if g.directed is None else g.directed
        label = inp.dataset
    weight = g.weight
    if weight is None and "weight" in edges.columns:
        weight = "weight"
    if g.unweighted:
        weight = None
    options = GraphOptions(directed=directed, weight=weight, src=g.src, dst=g.dst,
                           duplicates=g.duplicates, self_loops=g.self_loops)
    return Graph.from_edges(edges, options=options), label


def format_facts(summary: dict) -> str:
    """A job summary as aligned ``key  value`` lines for the console."""
    width = max(len(k) for k in summary)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in summary.items())
