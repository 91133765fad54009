"""Reading edge lists: CSV/TSV (with or without header, gzip or not), Parquet, or a catalog table.

Paths are qualified against the cluster's default file system, and their existence is checked
through it, exactly as the executors will see them (:mod:`sparkgraph.fs`). Writing results
is :mod:`sparkgraph.output`.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from sparkgraph.errors import DatasetNotFoundError, ParameterError
from sparkgraph.fs import file_system, has_scheme
from sparkgraph.graph import Graph, GraphOptions

log = logging.getLogger(__name__)


def _format_of(path: str) -> str:
    name = path.rstrip("/").lower()
    for suffix in (".gz", ".bz2", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".tsv", ".txt", ".edges")):
        return "tsv"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    return "table?" if ("/" not in path and not has_scheme(path)) else "parquet"


def read_edges(spark: SparkSession, path: str, fmt: str = "auto", header: bool = False,
               sep: str | None = None, id_type: str = "auto") -> DataFrame:
    """Read an edge list into a DataFrame with columns ``src, dst[, weight]`` (or the header's names).

    Args:
        spark: The session.
        path: A file or directory (``.tsv``/``.csv``, optionally ``.gz``; ``.parquet``
            or a Parquet directory), or the name of a catalog table.
        fmt: ``auto`` (from the extension), ``tsv``, ``csv``, ``parquet`` or ``table``.
        header: Whether a CSV/TSV file starts with a header row. Without one, columns
            are named ``src``, ``dst`` and (if present) ``weight``.
        sep: Field separator; default tab for ``tsv`` and comma for ``csv``.
        id_type: ``auto`` (integers when every id parses as one), ``string`` or ``long``.

    Returns:
        The edges DataFrame, ready for :meth:`Graph.from_edges`.

    Example:
        >>> edges = read_edges(spark, "../shared/data/karate/edges.tsv.gz")
        >>> edges.columns
        ['src', 'dst', 'weight']
    """
    fmt = _format_of(path) if fmt == "auto" else fmt
    fs = file_system(spark)
    if fmt == "table?":  # a bare name: a file or folder of that name, else a catalog table
        try:
            fmt = "parquet" if fs.exists(fs.qualify(path)) else "table"
        except ParameterError:  # a relative path that Spark Connect cannot place: a table name
            fmt = "table"
    if fmt == "table":
        if not spark.catalog.tableExists(path):
            raise DatasetNotFoundError(f"no file or table named {path!r}; give a path or an existing table name")
        return spark.table(path)
    uri = fs.qualify(path)
    if not fs.exists(uri):
        raise DatasetNotFoundError(f"input path {path!r} does not exist ({uri}); check the path")
    if fmt == "parquet":
        return spark.read.parquet(uri)
    if fmt not in ("csv", "tsv"):
        raise ParameterError(f"format {fmt!r} is not supported; use auto, tsv, csv, parquet or table")
    sep = sep or ("\t" if fmt == "tsv" else ",")
    df = spark.read.csv(uri, sep=sep, header=header, inferSchema=False, comment="#")
    if not header:
        names = ["src", "dst", "weight"][: len(df.columns)] + [f"c{i}" for i in range(3, len(df.columns))]
        df = df.toDF(*names)
    if len(df.columns) < 2:
        raise ParameterError(f"{path!r} has fewer than two columns with separator {sep!r}; pass the right sep=")
    src, dst = df.columns[:2]
    if id_type == "long" or (id_type == "auto" and _all_integer(df, [src, dst])):
        df = df.withColumn(src, df[src].cast("long")).withColumn(dst, df[dst].cast("long"))
    if "weight" in df.columns and not header:
        df = df.withColumn("weight", df["weight"].try_cast("double"))
    return df


def _all_integer(df: DataFrame, columns: list[str]) -> bool:
    from pyspark.sql import functions as F

    bad = F.lit(0)
    for c in columns:
        bad = bad + F.when(F.col(c).isNotNull() & ~F.col(c).rlike(r"^-?\d{1,18}$"), 1).otherwise(0)
    return df.agg(F.sum(bad)).first()[0] in (0, None)


def read_graph(spark: SparkSession, path: str, options: GraphOptions | None = None,
               fmt: str = "auto", header: bool = False, **kwargs: Any) -> Graph:
    """Read an edge list and build a :class:`Graph` (``weight`` used when the file has one).

    Example:
        >>> g = read_graph(spark, "../shared/data/karate/edges.tsv.gz", directed=False)
    """
    edges = read_edges(spark, path, fmt=fmt, header=header)
    if options is None:
        if "weight" not in kwargs and "weight" in edges.columns:
            kwargs["weight"] = "weight"
        options = GraphOptions(**kwargs)
    if options.weight in edges.columns and dict(edges.dtypes)[options.weight] == "string":
        # text files carry weights as text; a value that is not a number becomes null and is reported
        edges = edges.withColumn(options.weight, edges[options.weight].try_cast("double"))
    return Graph.from_edges(edges, options=options)
