"""Cheap checks of a job's paths before Spark starts, so a typo costs a second, not a JVM start.

Choices and types are checked when the configuration is built (:mod:`sparkgraph.params`).
Paths can be checked without Spark only when they are on this machine's disk, which they are
when the job runs here: a local master (or a local Connect server) and no Hadoop configuration
that points the default file system elsewhere. On a cluster the same checks run through the
cluster file system once Spark is up (:func:`sparkgraph.io.read_edges`, :func:`sparkgraph.output.atomic_output`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from sparkgraph.errors import DatasetNotFoundError, OutputExistsError, ParameterError
from sparkgraph.fs import has_scheme, is_connect, is_local_connect, is_local_master, scheme_of
from sparkgraph.output import MANIFEST, exists_message, foreign_message, is_own_name

INPUT_KEYS = ("input.path", "sources.path", "index.path")


def preflight(config: Any) -> None:
    """Check the configured input paths exist and the output path can be written, when they are local.

    Raises:
        DatasetNotFoundError, OutputExistsError, ParameterError: With the key and the fix.
    """
    if not _paths_are_local(config):
        return
    for key in INPUT_KEYS:
        section, name = key.split(".")
        path = getattr(getattr(config, section, None), name, "")
        if path:
            _check_input(config, key, path)
    output = getattr(config, "output", None)
    if output is not None:
        check_local_output(output.path, output.mode)


def _paths_are_local(config: Any) -> bool:
    from pyspark.sql import SparkSession

    if os.environ.get("HADOOP_CONF_DIR"):  # the default file system may be HDFS or an object store
        return False
    active = SparkSession.getActiveSession()
    if active is not None:
        return is_local_connect() if is_connect(active) else is_local_master(active.sparkContext.master)
    remote = config.spark.remote or os.environ.get("SPARK_REMOTE")
    if remote:
        return remote.startswith("local")
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit: the master is its own
        return False
    return is_local_master(config.spark.master or "local[*]")


def _local(path: str) -> Path | None:
    """The local file of ``path``, or None when it lives on another file system."""
    if has_scheme(path):
        return Path(urllib.parse.urlparse(path).path) if scheme_of(path) == "file" else None
    return Path(os.path.expanduser(path)).absolute()


def _check_input(config: Any, key: str, path: str) -> None:
    local = _local(path)
    if local is None:
        return
    if key == "input.path" and "/" not in path and config.input.format in ("auto", "table"):
        return  # a bare name may be a catalog table
    if not local.exists():
        raise DatasetNotFoundError(f"{key} {path!r} does not exist ({local}); check the path")
    if key == "index.path" and not (local / MANIFEST).exists():
        if type(config).__module__.endswith("community_query"):
            raise DatasetNotFoundError(f"{key} {path!r} holds no {MANIFEST}: it is not a saved community index; "
                                       "build one with the communities job and communities.index true")
        raise DatasetNotFoundError(f"{key} {path!r} holds no {MANIFEST}: it is not a saved walk index; build one "
                                   "with the walk_index job")


def check_local_output(path: str, mode: str) -> None:
    """Refuse an output path on this disk that cannot be written, or that the mode does not allow."""
    local = _local(path)
    if local is None:
        return
    ancestor = local
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputExistsError(f"output.path {path!r} lies under the file {ancestor}; choose a folder path")
    try:  # the only sure test of "can this process create a folder here"
        shutil.rmtree(tempfile.mkdtemp(prefix=".sparkgraph-check-", dir=ancestor))
    except OSError as exc:
        raise ParameterError(f"output.path {path!r} cannot be written ({ancestor}: {exc.strerror}); choose a "
                             "writable folder") from None
    if local.exists():
        names = [entry.name for entry in local.iterdir()]
        foreign = any(not is_own_name(name) for name in names)
        if mode == "error" and (MANIFEST in names or foreign):
            raise OutputExistsError(exists_message(path))
        if mode == "overwrite" and foreign:
            raise OutputExistsError(foreign_message(path))
