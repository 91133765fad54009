"""Writing a run's results so that readers see the previous result or the new one, never a mix.

The commit needs no atomic rename of a folder (object stores have none: a "rename" there is a
copy and a delete, file by file). Layout of an output ``<target>``::

    <target>/manifest.json          the commit: written last, in one PUT; names the run folder
    <target>/_runs/<run-id>/run.json      written first: which job started when
    <target>/_runs/<run-id>/<table>/      Parquet tables
    <target>/_runs/<run-id>/<file>        reports, plots

A run writes everything under its own fresh folder, then writes ``manifest.json``: a single
small file, atomic on every object store (one PUT) and, on HDFS and local disks, written
beside and renamed over the old one in one step. So at every moment ``manifest.json`` names a
complete run; a target without one holds no result. Then the commit removes older run folders:
every run that started before it, except the one it replaced, which stays one more commit so
that a reader still reading it (a DataFrame read before the overwrite) never sees its files
vanish midway; the next commit removes it. A run that fails removes its folder; one that is
killed leaves it, and the next successful commit removes it. Runs that started later are left
alone: they may still be running.

Readers go through the manifest: :func:`read_manifest`, :func:`read_output` (a table of the
committed run), :func:`output_uri`. ``manifest.json`` has a plain name because Spark's readers,
the only way to read a file over Spark Connect, skip names that start with ``_``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from sparkgraph.errors import DatasetNotFoundError, OutputExistsError, ParameterError, SparkgraphError
from sparkgraph.fs import FileSystem, file_system

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RUNS = "_runs"
RUN_MARKER = "run.json"
WRITE_MODES = ("error", "overwrite")
_OWN_NAMES = {MANIFEST, RUNS}


def _new_run_id() -> str:
    """Sortable by start time (UTC, to the microsecond), unique by its random tail."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def crash_point(name: str) -> None:
    """Kill this process at a named point of the commit when ``SPARKGRAPH_CRASH_AT`` names it.

    Only the crash tests set it: they check that a run killed at each point leaves the previous
    result (or nothing) readable, never a mix.
    """
    if os.environ.get("SPARKGRAPH_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Output:
    """A run's output: tables and files go to its run folder; the manifest commits them.

    Use through :func:`atomic_output`. ``manifest`` records the job, parameters, inputs,
    row counts, versions, seed and the time of each phase.
    """

    def __init__(self, spark: SparkSession, fs: FileSystem, target: str, run_id: str, job: str,
                 params: dict[str, Any], seed: int | None):
        self.spark, self.target, self.run_id, self._fs = spark, target, run_id, fs
        self.folder = f"{target}/{RUNS}/{run_id}"
        self.manifest: dict[str, Any] = {
            "job": job, "run": run_id, "parameters": params, "seed": seed, "inputs": {}, "outputs": {},
            "phases": {}, "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def uri(self, name: str) -> str:
        """Where ``name`` (a table or file of this run) is written."""
        return f"{self.folder}/{name}"

    def write_table(self, name: str, df: DataFrame, count: bool = True) -> int | None:
        """Write ``df`` as Parquet under ``name``; returns its row count (read back from the files)."""
        started = time.perf_counter()
        uri = self.uri(name)
        df.write.mode("error").parquet(uri)
        rows = self.spark.read.parquet(uri).count() if count else None
        self.manifest["outputs"][name] = {"format": "parquet", "rows": rows, "path": uri,
                                          "seconds": round(time.perf_counter() - started, 3)}
        crash_point("after-table")
        return rows

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode("utf-8"))

    def write_bytes(self, name: str, data: bytes) -> None:
        self._fs.write_bytes(self.uri(name), data)
        self.manifest["outputs"][name] = {"format": "file", "bytes": len(data), "path": self.uri(name)}

    def record_input(self, name: str, **facts: Any) -> None:
        self.manifest["inputs"][name] = facts

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase; shows in the log, the Spark UI (job description or tag), the manifest, and its
        progress while it runs (:mod:`sparkgraph.progress`, in the mode the job set)."""
        from sparkgraph.progress import track
        from sparkgraph.session import job_label

        log.info("phase %s ...", name)
        started = time.perf_counter()
        try:
            with job_label(self.spark, f"sparkgraph {self.manifest['job']}: {name}"), track(self.spark, name):
                yield
        finally:
            seconds = time.perf_counter() - started
            self.manifest["phases"][name] = round(seconds, 3)
            log.info("phase %s done in %.1fs", name, seconds)


@contextmanager
def atomic_output(spark: SparkSession, path: str, mode: str = "error", job: str = "",
                  params: dict[str, Any] | None = None, seed: int | None = None) -> Iterator[Output]:
    """Write a run's outputs under ``path``, visible to readers only once all of them are complete.

    Args:
        spark: The session.
        path: Target folder (a URI, or a path on the cluster's default file system; see :mod:`sparkgraph.fs`).
        mode: ``error`` refuses a target that exists (checked before any work); ``overwrite``
            replaces a previous sparkgraph output once the new one is complete, and refuses a
            folder that holds anything else.
        job, params, seed: Recorded in the manifest.

    Raises:
        OutputExistsError: The target exists and ``mode`` is ``error``, or it holds files that
            are not a sparkgraph output.

    Example:
        >>> with atomic_output(spark, "out/ppr", mode="overwrite", job="ppr") as out:
        ...     out.write_table("scores", scores_df)
        >>> read_output(spark, "out/ppr", "scores").count()
    """
    if mode not in WRITE_MODES:
        raise ParameterError(f"output mode {mode!r} is not known; use 'error' or 'overwrite'")
    fs = file_system(spark)
    target = fs.qualify(path)
    created = _check_target(fs, target, path, mode)
    run_id = _new_run_id()
    out = Output(spark, fs, target, run_id, job, params or {}, seed)
    try:
        fs.write_text(out.uri(RUN_MARKER), json.dumps({"job": job, "run": run_id,
                                                       "started_at": out.manifest["started_at"]}))
    except SparkgraphError:
        raise
    except Exception as exc:  # a folder that cannot be made: say where and why, in one line
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ParameterError(f"output {path!r} cannot be written ({reason[:160]}); choose a writable folder "
                             "path") from None
    try:
        yield out
        crash_point("before-manifest")
        if mode == "error" and fs.exists(f"{target}/{MANIFEST}"):
            raise OutputExistsError(f"output {path!r} appeared during the run; it was left untouched")
        out.manifest["previous"] = _committed_run(fs, target)
        out.manifest["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        out.manifest["versions"] = _versions(spark)
        out.manifest["session"] = _session_facts(spark)
        fs.write_text(f"{target}/{MANIFEST}", json.dumps(out.manifest, indent=2, default=str))
    except BaseException:
        _remove_quietly(fs, target if created else out.folder)  # a target this run created goes whole
        raise
    log.info("wrote %s (run %s)", target, run_id)
    crash_point("before-cleanup")
    _remove_older_runs(fs, target, run_id, keep=out.manifest["previous"])


def check_output(spark: SparkSession, path: str, mode: str = "error") -> None:
    """Refuse, before any work, an output path that :func:`atomic_output` would refuse.

    Raises:
        OutputExistsError, ParameterError: As :func:`atomic_output` would.
    """
    if mode not in WRITE_MODES:
        raise ParameterError(f"output mode {mode!r} is not known; use 'error' or 'overwrite'")
    fs = file_system(spark)
    _check_target(fs, fs.qualify(path), path, mode)


def is_own_name(name: str) -> bool:
    """Whether a name inside an output folder is ours (or hidden, as Spark's readers treat it)."""
    return name in _OWN_NAMES or name.startswith(("_", "."))


def exists_message(path: str) -> str:
    return f"output {path!r} already exists; remove it or run with output mode 'overwrite'"


def foreign_message(path: str) -> str:
    return (f"{path!r} holds files that are not a sparkgraph output; overwrite replaces only a previous "
            "sparkgraph output: choose another output path")


def _check_target(fs: FileSystem, target: str, path: str, mode: str) -> bool:
    """Refuse a target the mode does not allow; returns whether the target is new."""
    if not fs.exists(target):
        return True
    committed = fs.exists(f"{target}/{MANIFEST}")
    if mode == "error" and (committed or fs.has_foreign_files(target, _OWN_NAMES)):
        raise OutputExistsError(exists_message(path))
    if mode == "overwrite" and fs.has_foreign_files(target, _OWN_NAMES):
        raise OutputExistsError(foreign_message(path))
    return False


def _committed_run(fs: FileSystem, target: str) -> str | None:
    """The run the target's manifest names now (None when there is none)."""
    if not fs.exists(f"{target}/{MANIFEST}"):
        return None
    return json.loads(fs.read_text(f"{target}/{MANIFEST}")).get("run")


def _run_ids(fs: FileSystem, target: str) -> list[str]:
    markers = fs.list_files(f"{target}/{RUNS}/*/{RUN_MARKER}")
    return sorted(marker.rsplit("/", 2)[-2] for marker in markers)


def _remove_older_runs(fs: FileSystem, target: str, current: str, keep: str | None) -> None:
    """Remove every run folder that started before ``current`` (superseded results, killed runs),
    except ``keep``, the run ``current`` replaced."""
    for run_id in _run_ids(fs, target):
        if run_id < current and run_id != keep:
            _remove_quietly(fs, f"{target}/{RUNS}/{run_id}")
            log.info("removed older run %s of %s", run_id, target)


def _remove_quietly(fs: FileSystem, uri: str) -> None:
    try:
        fs.delete(uri)
    except Exception as exc:  # cleanup must not hide the run's own outcome; the next commit tries again
        log.warning("could not remove %s: %s", uri, exc)


def read_manifest(spark: SparkSession, path: str) -> dict[str, Any]:
    """The manifest of the committed run at ``path``.

    Raises:
        DatasetNotFoundError: ``path`` has no ``manifest.json``: it holds no complete sparkgraph output.
    """
    fs = file_system(spark)
    target = fs.qualify(path)
    if not fs.exists(f"{target}/{MANIFEST}"):
        raise DatasetNotFoundError(f"{path!r} has no {MANIFEST}: it is not a complete sparkgraph output")
    manifest = json.loads(fs.read_text(f"{target}/{MANIFEST}"))
    manifest["target"] = target
    return manifest


def output_uri(manifest: dict[str, Any], name: str) -> str:
    """Where the committed run of ``manifest`` keeps its table or file ``name``."""
    if name not in manifest["outputs"]:
        raise DatasetNotFoundError(f"output {manifest['target']!r} has no {name!r}; it holds "
                                   f"{', '.join(manifest['outputs']) or 'nothing'}")
    return f"{manifest['target']}/{RUNS}/{manifest['run']}/{name}"


def read_output(spark: SparkSession, path: str, table: str, manifest: dict[str, Any] | None = None,
                attempts: int = 3) -> DataFrame:
    """A table of the run committed at ``path`` (follows ``manifest.json``).

    Args:
        spark: The session.
        path: The output folder.
        table: The table's name.
        manifest: A manifest from :func:`read_manifest`: read that run's table (to read several
            tables of one run, read the manifest once and pass it to each call).
        attempts: Without ``manifest``: if another run commits meanwhile, read its manifest again.

    The DataFrame reads its files when an action runs. A later overwrite keeps the run it
    replaced for one more commit, so a DataFrame read before one overwrite still works; read
    again after the next.

    Example:
        >>> scores = read_output(spark, "output/ppr", "scores")
    """
    if manifest is not None:
        return spark.read.parquet(output_uri(manifest, table))
    for attempt in range(attempts):
        manifest = read_manifest(spark, path)
        try:
            df = spark.read.parquet(output_uri(manifest, table))
            df.schema  # noqa: B018 (resolves the files now, so a removed run shows here)
            return df
        except DatasetNotFoundError:
            raise
        except Exception:
            if attempt == attempts - 1 or read_manifest(spark, path)["run"] == manifest["run"]:
                raise
    raise AssertionError("unreachable")


def _session_facts(spark: SparkSession) -> dict[str, Any]:
    """Where the run actually ran (the master in use, not the configured default)."""
    from sparkgraph.fs import is_connect

    if not is_connect(spark):
        return {"master": spark.sparkContext.master, "connect": False, "app_id": spark.sparkContext.applicationId}
    try:
        master = spark.conf.get("spark.master", None)
    except Exception:  # some Connect servers do not expose it
        master = None
    return {"master": master, "connect": True}


def _versions(spark: SparkSession) -> dict[str, str]:
    import numpy
    import pandas
    import pyarrow

    import sparkgraph

    return {"sparkgraph": sparkgraph.__version__, "spark": spark.version, "python": platform.python_version(),
            "numpy": numpy.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__}
