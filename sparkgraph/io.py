"""Reading edge lists and writing results atomically.

Reading: CSV/TSV (with or without header, gzip or not), Parquet, or a catalog table.
Local paths are made absolute so a job works from any directory; paths with a scheme
(``hdfs://``, ``s3a://``, ``dbfs:/``, ``file:/``) pass through untouched.

Writing: :class:`AtomicOutput` stages every table and file of a run under a hidden
temporary directory beside the target, writes ``_manifest.json`` last, and only then
renames the directory into place. A run that dies midway leaves no directory at the
target path, so nothing half-written can look complete. Filesystem calls go through
Hadoop's FileSystem API, so the same code works on local disk, HDFS and DBFS.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from sparkgraph.errors import DatasetNotFoundError, OutputExistsError, ParameterError
from sparkgraph.graph import Graph, GraphOptions

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
WRITE_MODES = ("error", "overwrite")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def resolve_path(path: str) -> str:
    """Absolute ``file:`` URI for a local path; anything with a scheme is returned unchanged."""
    if _SCHEME.match(path):
        return path
    return "file://" + os.path.abspath(os.path.expanduser(path))


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
    return "table" if ("/" not in path and not _SCHEME.match(path) and not os.path.exists(path)) else "parquet"


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
    if fmt == "table":
        if not spark.catalog.tableExists(path):
            raise DatasetNotFoundError(f"no file or table named {path!r}; give a path or an existing table name")
        return spark.table(path)
    if not _SCHEME.match(path) and not os.path.exists(path):
        raise DatasetNotFoundError(f"input path {path!r} does not exist; check the path (relative to {os.getcwd()})")
    uri = resolve_path(path)
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


# ---------------------------------------------------------------------- writing
class _FileSystem:
    """The few Hadoop FileSystem calls the writer needs, through the driver's JVM."""

    def __init__(self, spark: SparkSession, uri: str):
        jvm = self._jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.fs = self._Path(uri).getFileSystem(conf)
        if self.fs.getScheme() == "file":  # no .crc sidecar files beside the manifest and reports
            self.fs = self.fs.getRawFileSystem()

    def exists(self, uri: str) -> bool:
        return self.fs.exists(self._Path(uri))

    def delete(self, uri: str) -> None:
        self.fs.delete(self._Path(uri), True)

    def rename(self, src: str, dst: str) -> None:
        if not self.fs.rename(self._Path(src), self._Path(dst)):
            raise OSError(f"could not move {src} to {dst}")

    def mkdirs(self, uri: str) -> None:
        self.fs.mkdirs(self._Path(uri))

    def write_bytes(self, uri: str, data: bytes) -> None:
        out = self.fs.create(self._Path(uri), True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def read_bytes(self, uri: str) -> bytes:
        stream = self.fs.open(self._Path(uri))
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()


class AtomicOutput:
    """A run's output directory, staged and moved into place only when complete.

    Use through :func:`atomic_output`. Tables go to ``<target>/<name>/`` as Parquet,
    files to ``<target>/<name>``; ``_manifest.json`` records the job, parameters,
    inputs, row counts, versions, seed and the time of each phase.
    """

    def __init__(self, spark: SparkSession, target: str, staging: str, fs: _FileSystem, job: str,
                 params: dict[str, Any], seed: int | None):
        self.spark, self.target, self.staging, self._fs = spark, target, staging, fs
        self.manifest: dict[str, Any] = {
            "job": job, "parameters": params, "seed": seed, "inputs": {}, "outputs": {}, "phases": {},
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def write_table(self, name: str, df: DataFrame, count: bool = True) -> int | None:
        """Write ``df`` as Parquet under ``name``; returns its row count (read back from the files)."""
        started = time.perf_counter()
        uri = f"{self.staging}/{name}"
        df.write.mode("error").parquet(uri)
        rows = self.spark.read.parquet(uri).count() if count else None
        self.manifest["outputs"][name] = {"format": "parquet", "rows": rows,
                                          "seconds": round(time.perf_counter() - started, 3)}
        return rows

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode("utf-8"))

    def write_bytes(self, name: str, data: bytes) -> None:
        self._fs.write_bytes(f"{self.staging}/{name}", data)
        self.manifest["outputs"][name] = {"format": "file", "bytes": len(data)}

    def record_input(self, name: str, **facts: Any) -> None:
        self.manifest["inputs"][name] = facts

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase; shows in the log, the Spark UI job description and the manifest."""
        from sparkgraph.session import job_description

        job_description(self.spark, f"sparkgraph {self.manifest['job']}: {name}")
        log.info("phase %s ...", name)
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self.manifest["phases"][name] = round(seconds, 3)
            log.info("phase %s done in %.1fs", name, seconds)
            job_description(self.spark, None)


@contextmanager
def atomic_output(spark: SparkSession, path: str, mode: str = "error", job: str = "",
                  params: dict[str, Any] | None = None, seed: int | None = None) -> Iterator[AtomicOutput]:
    """Stage a run's outputs and move them to ``path`` only if the block completes.

    Args:
        spark: The session.
        path: Target directory (local path or URI).
        mode: ``error`` refuses an existing target (checked before any work);
            ``overwrite`` replaces it, but only once the new output is complete.
        job, params, seed: Recorded in the manifest.

    Raises:
        OutputExistsError: The target exists and ``mode`` is ``error``.

    Example:
        >>> with atomic_output(spark, "out/ppr", mode="overwrite", job="ppr") as out:
        ...     out.write_table("scores", scores_df)
    """
    if mode not in WRITE_MODES:
        raise ParameterError(f"output mode {mode!r} is not known; use 'error' or 'overwrite'")
    target = resolve_path(path).rstrip("/")
    fs = _FileSystem(spark, target)
    if fs.exists(target) and mode == "error":
        raise OutputExistsError(f"output {path!r} already exists; remove it or run with output mode 'overwrite'")
    parent, name = target.rsplit("/", 1)
    token = uuid.uuid4().hex[:12]
    staging = f"{parent}/_tmp.{name}.{token}"  # hidden from Spark/Hive readers by the leading underscore
    fs.mkdirs(parent)
    out = AtomicOutput(spark, target, staging, fs, job, params or {}, seed)
    try:
        yield out
        out.manifest["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        out.manifest["versions"] = _versions(spark)
        fs.write_bytes(f"{staging}/{MANIFEST}", json.dumps(out.manifest, indent=2, default=str).encode())
        old = f"{parent}/_old.{name}.{token}"
        if fs.exists(target):
            if mode != "overwrite":
                raise OutputExistsError(f"output {path!r} appeared during the run; it was left untouched")
            fs.rename(target, old)
        fs.rename(staging, target)
        if fs.exists(old):
            fs.delete(old)
        log.info("wrote %s", target)
    except BaseException:
        fs.delete(staging)
        raise


def read_manifest(spark: SparkSession, path: str) -> dict[str, Any]:
    """The manifest of a complete output; raises DatasetNotFoundError when there is none."""
    uri = resolve_path(path).rstrip("/")
    fs = _FileSystem(spark, uri)
    if not fs.exists(f"{uri}/{MANIFEST}"):
        raise DatasetNotFoundError(f"{path!r} has no {MANIFEST}: it is not a complete sparkgraph output")
    return json.loads(fs.read_bytes(f"{uri}/{MANIFEST}").decode())


def _versions(spark: SparkSession) -> dict[str, str]:
    import numpy
    import pandas
    import pyarrow

    import sparkgraph

    return {"sparkgraph": sparkgraph.__version__, "spark": spark.version, "python": platform.python_version(),
            "numpy": numpy.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__}


