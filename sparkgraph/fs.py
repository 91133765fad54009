"""The cluster file system, reached the same way in classic Spark and over Spark Connect.

**What a path means.** sparkgraph hands paths to Spark's readers and writers, which the
executors use, so a path must mean the same thing on the driver and on every executor:

* a URI with a scheme (``hdfs://nn:8020/x``, ``s3a://bucket/x``, ``abfss://…``, ``dbfs:/x``,
  ``file:/x``) is used as given;
* a path without a scheme belongs to the cluster's default file system (``fs.defaultFS``).
  An absolute path keeps its path (``/data/x`` → ``hdfs://nn:8020/data/x``); a relative one
  starts at the file system's default working directory, ``/user/<user>`` (Hadoop's, on HDFS
  and S3A). Only when the master is local and the default file system is the local
  disk does a relative path start from the driver's current directory (``file:`` only then);
* over **Spark Connect** the client sees neither the server's disks nor its Hadoop
  configuration, so a path must be a URI or an absolute path (taken on the server's default
  file system). A relative path is refused with a message, except with a local Connect server
  that pyspark started on this machine (``remote("local[*]")``), whose working directory is ours.
  Outputs over Connect must be on the default file system (no scheme: ``/Volumes/…``,
  ``/mnt/…``), because their small files go through ``copyFromLocalToFs``, which takes no other.

**What this module can do with a path** (:func:`file_system`): test existence, read and write
small files (manifests, reports, plots), list the run folders of an output, and remove a
folder. Classic Spark goes through Hadoop's ``FileSystem`` in the driver's JVM; Spark Connect
has no JVM on the client, so it uses what the protocol offers: Spark's file readers
(``binaryFile``, ``text``) to test, list and read, ``SparkSession.copyFromLocalToFs`` to write
a file (one PUT on object stores; a local server must allow it with
``spark.sql.artifact.copyFromLocalToFs.allowDestLocal=true``), and an overwrite with an empty
table to remove a folder (its files go; the folder stays, holding only Spark's ``_SUCCESS`` marker).
Spark's readers skip names that start with ``_`` or ``.``, so files this module must read back
under Connect have plain names.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
import urllib.parse
import uuid
from typing import Protocol

from pyspark.sql import SparkSession

from sparkgraph.errors import ParameterError

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Object stores make a file visible only when its single PUT completes: writing in place is atomic there.
OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "adl", "dbfs", "oss",
                           "cosn", "obs"})


def has_scheme(path: str) -> bool:
    """Whether ``path`` starts with a URI scheme (``hdfs:``, ``s3a:``, ``file:`` …)."""
    return bool(_SCHEME.match(path)) and not re.match(r"^[a-zA-Z]:[\\/]", path)  # not a Windows drive


def scheme_of(uri: str) -> str:
    """The scheme of a qualified URI, lower case (``file`` for ``file:/x``)."""
    return uri.split(":", 1)[0].lower() if has_scheme(uri) else ""


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (no SparkContext, no JVM on this side)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def is_local_connect() -> bool:
    """Whether the Connect server is the local one pyspark started in this process's JVM."""
    return os.environ.get("SPARK_LOCAL_REMOTE") == "1"


def is_local_master(master: str) -> bool:
    """``local``, ``local[4]``, ``local[*,2]`` and ``local-cluster[…]`` all run on this machine."""
    return master == "local" or master.startswith(("local[", "local-cluster["))


def qualify_path(path: str, default_fs: str, working_dir: str, local_master: bool, cwd: str | None = None) -> str:
    """The URI Spark's readers and writers make of ``path`` (a pure function: no file system is touched).

    Args:
        path: A URI, an absolute path or a relative path (``~`` is expanded for local disks).
        default_fs: ``fs.defaultFS`` (``file:///``, ``hdfs://nn:8020``, ``s3a://bucket/``).
        working_dir: The default file system's working directory for relative paths
            (``/user/<user>`` on HDFS and S3A).
        local_master: Whether the master runs on this machine.
        cwd: The driver's current directory (default ``os.getcwd()``), used only for a local
            master on the local disk.

    Returns:
        A URI with a scheme, without a trailing slash.

    Example:
        >>> qualify_path("out/ppr", "hdfs://nn:8020", "/user/ana", local_master=False)
        'hdfs://nn:8020/user/ana/out/ppr'
        >>> qualify_path("/data/g", "s3a://bucket/", "/user/ana", local_master=False)
        's3a://bucket/data/g'
    """
    if not path:
        raise ParameterError("an empty path was given; give a directory or file path or a URI")
    if has_scheme(path):
        stripped = path.rstrip("/")
        return path if stripped.endswith(":") else stripped
    default_fs = default_fs or "file:///"
    if scheme_of(default_fs) == "file":
        if not local_master and not path.startswith("/"):
            raise ParameterError(
                f"path {path!r} is relative, the master is not local and the default file system is the "
                "driver's local disk, which the executors do not share; give an absolute path on a shared "
                "file system or a URI (hdfs://, s3a://, dbfs:/)")
        absolute = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(path)))
        return "file://" + absolute.rstrip("/") if absolute != "/" else "file:///"
    root = default_fs.rstrip("/")
    joined = path if path.startswith("/") else posixpath.join(working_dir, path)
    return root + posixpath.normpath(joined).rstrip("/")


class FileSystem(Protocol):
    """The few file operations outputs and indexes need, on any cluster file system."""

    def qualify(self, path: str) -> str: ...
    def exists(self, uri: str) -> bool: ...
    def read_text(self, uri: str) -> str: ...
    def write_text(self, uri: str, text: str) -> None: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def list_files(self, pattern: str) -> list[str]: ...

    def files_at(self, uri: str) -> list[str]:
        """The visible files at ``uri``: the file itself, or the files directly inside a folder
        (names starting with ``_`` or ``.`` are hidden, as Spark's readers treat them)."""
    def has_foreign_files(self, uri: str, own: set[str]) -> bool:
        """Whether folder ``uri`` holds a visible file or folder whose name is not in ``own``
        (names starting with ``_`` or ``.`` are hidden, as Spark's readers treat them)."""
    def delete(self, uri: str) -> None: ...


def file_system(spark: SparkSession) -> FileSystem:
    """The cluster file system of ``spark``: Hadoop's in classic Spark, Spark's readers over Connect."""
    return ConnectFileSystem(spark) if is_connect(spark) else HadoopFileSystem(spark)


def qualify(spark: SparkSession, path: str) -> str:
    """``path`` as the URI Spark will use for it (see the module docstring for the rule)."""
    return file_system(spark).qualify(path)


class HadoopFileSystem:
    """Hadoop ``FileSystem`` calls through the driver's JVM (classic Spark)."""

    def __init__(self, spark: SparkSession):
        self.spark = spark
        self._jvm = spark.sparkContext._jvm
        self._conf = spark._jsparkSession.sessionState().newHadoopConf()  # includes spark.hadoop.* session settings
        self._Path = self._jvm.org.apache.hadoop.fs.Path

    def qualify(self, path: str) -> str:
        sc = self.spark.sparkContext
        default_fs = self._jvm.org.apache.hadoop.fs.FileSystem.getDefaultUri(self._conf).toString()
        return qualify_path(path, default_fs, f"/user/{sc.sparkUser()}", is_local_master(sc.master))

    def _fs(self, uri: str):
        fs = self._Path(uri).getFileSystem(self._conf)
        if fs.getScheme() == "file":  # no .crc sidecar files beside manifests and reports
            fs = fs.getRawFileSystem()
        return fs

    def exists(self, uri: str) -> bool:
        return self._fs(uri).exists(self._Path(uri))

    def read_text(self, uri: str) -> str:
        stream = self._fs(uri).open(self._Path(uri))
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode("utf-8")
        finally:
            stream.close()

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write a file. On object stores the single PUT makes it appear whole; elsewhere (HDFS, the
        local disk) the bytes go to a hidden sibling first, renamed over ``uri`` in one step."""
        fs = self._fs(uri)
        if scheme_of(uri) in OBJECT_STORES:
            self._put(fs, uri, data)
            return
        parent, name = uri.rsplit("/", 1)
        staged = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        self._put(fs, staged, data)
        try:
            jvm = self._jvm
            overwrite = self.spark.sparkContext._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
            overwrite[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
            context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(self._Path(uri).toUri(), self._conf)
            context.rename(self._Path(staged), self._Path(uri), overwrite)
        except Exception:
            fs.delete(self._Path(staged), False)
            raise

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def _put(self, fs, uri: str, data: bytes) -> None:
        out = fs.create(self._Path(uri), True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def list_files(self, pattern: str) -> list[str]:
        statuses = self._fs(pattern).globStatus(self._Path(pattern))
        return sorted(str(s.getPath().toString()) for s in (statuses or []) if s.isFile())

    def files_at(self, uri: str) -> list[str]:
        statuses = self._fs(uri).listStatus(self._Path(uri))
        return sorted(str(s.getPath().toString()) for s in statuses
                      if s.isFile() and not s.getPath().getName().startswith(("_", ".")))

    def has_foreign_files(self, uri: str, own: set[str]) -> bool:
        fs = self._fs(uri)
        if not fs.exists(self._Path(uri)):
            return False
        if fs.getFileStatus(self._Path(uri)).isFile():
            return True
        names = [status.getPath().getName() for status in fs.listStatus(self._Path(uri))]
        return any(name not in own and not name.startswith(("_", ".")) for name in names)

    def delete(self, uri: str) -> None:
        self._fs(uri).delete(self._Path(uri), True)


class ConnectFileSystem:
    """File operations over Spark Connect, through what the protocol offers (see the module docstring)."""

    def __init__(self, spark: SparkSession):
        self.spark = spark

    def qualify(self, path: str) -> str:
        if has_scheme(path):
            return qualify_path(path, "", "", False)
        if is_local_connect():  # the server runs in this process's JVM: its default file system is this disk
            return qualify_path(path, "file:///", "", True).removeprefix("file://")
        if not path.startswith("/"):
            raise ParameterError(
                f"path {path!r} is relative; over Spark Connect give an absolute path on the cluster's default "
                "file system (/Volumes/…, /mnt/…) or a URI (s3://, abfss://, dbfs:/)")
        return path.rstrip("/") or "/"

    def exists(self, uri: str) -> bool:
        try:
            self.spark.read.format("binaryFile").load(uri).select("path").limit(1).collect()
        except Exception as exc:  # Spark's PATH_NOT_FOUND is the answer "no"
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                return False
            raise
        return True

    def read_text(self, uri: str) -> str:
        rows = self.spark.read.text(uri, wholetext=True).collect()
        if not rows:
            raise FileNotFoundError(f"{uri} is not readable through Spark (names starting with _ or . are skipped)")
        return rows[0][0]

    def write_bytes(self, uri: str, data: bytes) -> None:
        dest = uri
        if has_scheme(uri):  # copyFromLocalToFs takes only paths on the server's default file system
            if not (scheme_of(uri) == "file" and is_local_connect()):
                raise ParameterError(
                    f"over Spark Connect sparkgraph writes manifests and reports with copyFromLocalToFs, which takes "
                    f"only paths on the cluster's default file system, not {uri!r}; give the output path without a "
                    "scheme (/Volumes/…, /mnt/…, /data/…)")
            dest = urllib.parse.urlparse(uri).path
        with tempfile.TemporaryDirectory(prefix="sparkgraph-upload-") as folder:
            local = os.path.join(folder, posixpath.basename(dest))
            with open(local, "wb") as handle:
                handle.write(data)
            try:
                self.spark.copyFromLocalToFs(local, dest)
            except Exception as exc:
                if "local file system destination" in str(exc):
                    raise ParameterError(
                        f"this Spark Connect server does not write files to a local path ({dest}); start it with "
                        "spark.sql.artifact.copyFromLocalToFs.allowDestLocal=true or write to a cluster file "
                        "system") from None
                raise

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def list_files(self, pattern: str) -> list[str]:
        try:
            rows = self.spark.read.format("binaryFile").load(pattern).select("path").collect()
        except Exception as exc:
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                return []
            raise
        return sorted(row[0] for row in rows)

    def files_at(self, uri: str) -> list[str]:
        return self.list_files(uri)

    def has_foreign_files(self, uri: str, own: set[str]) -> bool:
        if not self.exists(uri):
            return False
        files = (self.spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(uri)
                 .select("path").limit(50).collect())
        prefix = uri.rstrip("/") + "/"
        return any(row[0].split(prefix, 1)[-1].split("/")[0] not in own for row in files)

    def delete(self, uri: str) -> None:
        # Overwriting a folder with an empty table deletes every file under it (Spark's overwrite commit);
        # partitioned by its only key, the empty table writes no data file: only a _SUCCESS marker stays.
        empty = self.spark.createDataFrame([], "removed string, nothing int")
        empty.write.mode("overwrite").partitionBy("removed").parquet(uri)

