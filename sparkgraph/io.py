"""Reading edge lists: CSV/TSV (with or without header, gzip or not), Parquet, or a catalog table.

Paths are qualified against the cluster's default file system, and their existence is checked
through it, exactly as the executors will see them (:mod:`sparkgraph.fs`). Writing results
is :mod:`sparkgraph.output`.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from sparkgraph.errors import DatasetNotFoundError, InputError, InvalidWeightError, ParameterError
from sparkgraph.fs import file_system, has_scheme
from sparkgraph.graph import Graph, GraphOptions

log = logging.getLogger(__name__)


FORMATS = ("auto", "tsv", "csv", "parquet", "table")
SEPARATORS = ("\t", ",", ";", " ")
# Names that make a first line a header rather than an edge between two vertices so called.
HEADER_WORDS = {"src", "dst", "source", "target", "from", "to", "weight", "w", "u", "v", "i", "j", "node", "node1",
                "node2", "id1", "id2", "head", "tail", "start", "end", "sender", "receiver", "citing", "cited",
                "value", "count"}


def _format_of(name: str) -> str | None:
    """The format a file or folder name announces (None when it announces none)."""
    name = name.rstrip("/").lower()
    for suffix in (".gz", ".bz2", ".zst", ".snappy"):
        name = name.removesuffix(suffix)
    if name.endswith((".tsv", ".txt", ".edges")):
        return "tsv"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    return None


def read_edges(spark: SparkSession, path: str, fmt: str = "auto", header: bool | None = None,
               sep: str | None = None, id_type: str = "auto") -> DataFrame:
    """Read an edge list into a DataFrame with columns ``src, dst[, weight]`` (or the header's names).

    Args:
        spark: The session.
        path: A file or folder (``.tsv``/``.csv``/``.txt``, optionally ``.gz``; ``.parquet`` or a
            Parquet folder), or the name of a catalog table.
        fmt: ``auto`` (from the extension; a folder by the files inside it), ``tsv``, ``csv``,
            ``parquet`` or ``table``.
        header: Whether a CSV/TSV file starts with a header row; None detects it: a first line
            whose ids are not integers while the next lines' are, or whose fields are column
            names (src, dst, source, target, weight ...). Without a header, columns are named
            ``src``, ``dst`` and (if present) ``weight``.
        sep: Field separator; None takes the format's (tab for tsv, comma for csv) when every
            line splits on it, else the first of tab, comma, semicolon, space that does.
        id_type: ``auto`` (integers when every id parses as one), ``string`` or ``long``.

    Returns:
        The edges DataFrame, ready for :meth:`Graph.from_edges`; a ``weight`` column read from
        text is cast to double.

    Raises:
        DatasetNotFoundError: The path does not exist, or is an empty folder.
        InputError: The file is empty, its lines do not split into two fields, weights are not
            numbers, or a folder mixes formats.

    Example:
        >>> edges = read_edges(spark, "../shared/data/karate/edges.tsv.gz")
        >>> edges.columns
        ['src', 'dst', 'weight']
    """
    if fmt not in FORMATS:
        raise ParameterError(f"format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    fs = file_system(spark)
    if fmt == "auto" and _format_of(path) is None and "/" not in path and not has_scheme(path):
        try:  # a bare name: a file or folder of that name, else a catalog table
            fmt = "auto" if fs.exists(fs.qualify(path)) else "table"
        except ParameterError:  # a relative path that Spark Connect cannot place: a table name
            fmt = "table"
    if fmt == "table":
        if not spark.catalog.tableExists(path):
            raise DatasetNotFoundError(f"no file or table named {path!r}; give a path or an existing table name")
        return spark.table(path)
    uri = fs.qualify(path)
    if not fs.exists(uri):
        raise DatasetNotFoundError(f"input path {path!r} does not exist ({uri}); check the path")
    if fmt == "auto":
        fmt = _format_of(path) or _format_of_files(fs.files_at(uri), path)
    if fmt == "parquet":
        return spark.read.parquet(uri)
    return _read_text_edges(spark, uri, path, fmt, header, sep, id_type)


def _format_of_files(files: list[str], path: str) -> str:
    """The one format of the visible files in a folder."""
    if not files:
        raise DatasetNotFoundError(f"{path!r} is an empty folder; give a folder that holds the edge files")
    formats = {_format_of(name) for name in files}
    if formats == {None}:
        raise InputError(f"cannot tell the format of the files in {path!r} from their names; set input.format "
                         "(tsv, csv or parquet)")
    formats.discard(None)
    if len(formats) > 1:
        raise InputError(f"{path!r} mixes {' and '.join(sorted(formats))} files; give a folder of one format")
    return formats.pop()


def _read_text_edges(spark: SparkSession, uri: str, path: str, fmt: str, header: bool | None, sep: str | None,
                     id_type: str) -> DataFrame:
    lines = [row[0] for row in spark.read.text(uri).limit(50).collect()]
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{path!r} is empty: it holds no edge lines; give a file with one edge per line")
    sep = sep or _sniff_separator(lines, "\t" if fmt == "tsv" else ",")
    rows = [[field.strip().strip('"') for field in line.strip().split(sep)] for line in lines]
    short = next((line for line, fields in zip(lines, rows, strict=True) if len(fields) < 2), None)
    if short is not None:
        raise InputError(f"{path!r}: the line {short[:60]!r} does not split into two ids at separator {sep!r}; "
                         "set input.sep (tab, ',', ';' or ' ')")
    if header is None:
        header = _looks_like_header(rows)
        if header:
            log.info("%s: the first line is a header (%s)", path, lines[0][:80])
    df = spark.read.csv(uri, sep=sep, header=header, inferSchema=False, comment="#")
    if not header:
        names = ["src", "dst", "weight"][: len(df.columns)] + [f"c{i}" for i in range(3, len(df.columns))]
        df = df.toDF(*names)
    src, dst = df.columns[:2]
    if id_type == "long" or (id_type == "auto" and _all_integer(df, [src, dst])):
        df = df.withColumn(src, df[src].cast("long")).withColumn(dst, df[dst].cast("long"))
    if "weight" in df.columns:
        df = numeric_column(df, "weight", "graph.weight")
    return df


def _sniff_separator(lines: list[str], preferred: str) -> str:
    """The first separator (``preferred`` first) that splits every line into the same 2+ fields."""
    for sep in (preferred,) + tuple(s for s in SEPARATORS if s != preferred):
        widths = {len(line.strip().split(sep)) for line in lines}
        if len(widths) == 1 and widths.pop() >= 2:
            return sep
    return preferred


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns rather than holding an edge.

    It does when its fields are all column names (src, dst, weight ...), or when none of them is
    a number while a column holds numbers on every other line (``from,to,w`` above ``a,b,0.5``).
    """
    first, rest = rows[0], rows[1:]
    if all(field.lower() in HEADER_WORDS for field in first):
        return True
    if any(_is_number(field) for field in first):
        return False
    for column, name in enumerate(first):
        values = [row[column] for row in rest if len(row) > column]
        if values and all(_is_number(v) for v in values) and not _is_number(name):
            return True
    return False


def numeric_column(df: DataFrame, column: str, key: str) -> DataFrame:
    """``df`` with a text ``column`` cast to double; values that are not numbers are an error.

    Args:
        df: The edges.
        column: The weight column.
        key: The setting that names the column, for the message (``graph.weight``).

    Raises:
        InvalidWeightError: Naming how many values are not numbers, with an example.
    """
    if dict(df.dtypes)[column] != "string":
        return df
    from pyspark.sql import functions as F

    cast = F.col(column).try_cast("double")
    bad = df.filter(F.col(column).isNotNull() & cast.isNull())
    row = bad.agg(F.count("*").alias("n"), F.first(column).alias("example")).first()
    if row["n"]:
        what = "1 value" if row["n"] == 1 else f"{row['n']} values"
        verb = "is not a number" if row["n"] == 1 else "are not numbers"
        raise InvalidWeightError(f"{what} of the weight column {column!r} {verb} (e.g. {row['example']!r}); fix "
                                 f"those lines, name another column with {key} or read the graph unweighted")
    return df.withColumn(column, cast)


def _all_integer(df: DataFrame, columns: list[str]) -> bool:
    from pyspark.sql import functions as F

    bad = F.lit(0)
    for c in columns:
        bad = bad + F.when(F.col(c).isNotNull() & ~F.col(c).rlike(r"^-?\d{1,18}$"), 1).otherwise(0)
    return df.agg(F.sum(bad)).first()[0] in (0, None)


def read_graph(spark: SparkSession, path: str, options: GraphOptions | None = None,
               fmt: str = "auto", header: bool | None = None, sep: str | None = None, **kwargs: Any) -> Graph:
    """Read an edge list and build a :class:`Graph` (``weight`` used when the file has one).

    Example:
        >>> g = read_graph(spark, "../shared/data/karate/edges.tsv.gz", directed=False)
    """
    edges = read_edges(spark, path, fmt=fmt, header=header, sep=sep)
    if options is None:
        if "weight" not in kwargs and "weight" in edges.columns:
            kwargs["weight"] = "weight"
        options = GraphOptions(**kwargs)
    if options.weight in edges.columns:
        edges = numeric_column(edges, options.weight, "weight=")
    return Graph.from_edges(edges, options=options)
