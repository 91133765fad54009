"""Configuration sections shared by jobs, and reading a job's input graph."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from sparkgraph.config import to_dict
from sparkgraph.datasets import DATASETS, graph_options, load_edges
from sparkgraph.errors import ParameterError
from sparkgraph.graph import DUPLICATE_POLICIES, SELF_LOOP_POLICIES, Graph, GraphOptions
from sparkgraph.io import FORMATS, numeric_column, read_edges
from sparkgraph.output import WRITE_MODES
from sparkgraph.params import one_of, param, validate


def _non_empty(name: str, value: str) -> None:
    if not value.strip():
        raise ParameterError(f"{name} is empty; give a folder path or a URI", key=name)


@dataclass(frozen=True)
class InputConfig:
    """Where the graph comes from.

    Attributes:
        dataset: A named data set (karate, cora, lesmis, cond-mat-1999, blogcatalog, cnr-2000); used when path is empty.
        path: An edge list file or folder (TSV/CSV, gzip or not, or Parquet) or a catalog table name; wins over dataset.
        format: auto (from the extension, or from the files inside a folder), tsv, csv, parquet or table.
        header: Whether a TSV/CSV file starts with a header row; null detects it from the first lines.
        sep: Field separator of a TSV/CSV file; null detects it (tab, comma, semicolon or space).
    """

    dataset: str = param("cora", one_of(*DATASETS))
    path: str = ""
    format: str = param("auto", one_of(*FORMATS))
    header: bool | None = None
    sep: str | None = None

    def __post_init__(self) -> None:
        validate(self)


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
    duplicates: str = param("sum", one_of(*DUPLICATE_POLICIES))
    self_loops: str = param("keep", one_of(*SELF_LOOP_POLICIES))

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class OutputConfig:
    """Where results go.

    Attributes:
        path: Output folder (a URI, or a path on the cluster's default file system); committed by its manifest.json.
        mode: error (refuse an existing output) or overwrite (replace it once the new one is complete).
    """

    path: str = param("output/result", _non_empty)
    mode: str = param("error", one_of(*WRITE_MODES))

    def __post_init__(self) -> None:
        validate(self)


def read_input_graph(spark: SparkSession, inp: InputConfig, g: GraphConfig) -> tuple[Graph, dict]:
    """Build the job's :class:`Graph`, and what it was read from (for the manifest and the summary).

    ``input.path`` wins over ``input.dataset``; the returned description names only the one used.
    """
    if inp.path:
        edges = read_edges(spark, inp.path, fmt=inp.format, header=inp.header, sep=inp.sep)
        directed = True if g.directed is None else g.directed
        source = {"path": inp.path, "format": inp.format, "header": inp.header, "sep": inp.sep}
    else:
        edges = load_edges(spark, inp.dataset)
        directed = graph_options(inp.dataset).directed if g.directed is None else g.directed
        source = {"dataset": inp.dataset}
    weight = g.weight
    if weight is None and "weight" in edges.columns:
        weight = "weight"
    if g.unweighted:
        weight = None
    if weight is not None and weight in edges.columns:
        edges = numeric_column(edges, weight, "graph.weight")
    options = GraphOptions(directed=directed, weight=weight, src=g.src, dst=g.dst,
                           duplicates=g.duplicates, self_loops=g.self_loops)
    return Graph.from_edges(edges, options=options), source


def input_label(source: dict) -> str:
    """A short name of the input: the data set or the path."""
    return source.get("dataset") or source["path"]


def job_parameters(config) -> dict:
    """The job's configuration for its manifest, with only the input keys that were used."""
    params = to_dict(config)
    section = params.get("input")
    if section is not None:
        used = ("path", "format", "header", "sep") if section.get("path") else ("dataset",)
        params["input"] = {k: v for k, v in section.items() if k in used}
    return params


def format_facts(summary: dict) -> str:
    """A job summary as aligned ``key  value`` lines for the console."""
    width = max(len(k) for k in summary)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in summary.items())
