"""Getting a SparkSession: reuse the active one, or build one, classic or Spark Connect.

* **An active session** (Databricks notebooks, the pyspark shell, a Connect session the user
  made) is returned untouched: its settings belong to whoever made it.
* **Under spark-submit** (or with a ``spark-defaults.conf`` in ``$SPARK_CONF_DIR``) the
  submitted settings and the defaults file win, and sparkgraph sets only what the job's
  ``spark.*`` keys ask for explicitly: no shuffle-partition sizing from the driver's cores, no
  ``PYSPARK_PYTHON`` from the driver's interpreter (executors may not have that path).
* **A local session** (``local[*]`` by default, nothing submitted) is sized for this machine:
  Arrow and adaptive execution on, shuffle partitions two per core, driver memory 4g, a
  temporary checkpoint directory removed when the process exits. Under
  ``local-cluster[workers,cores,MiB]`` each executor's heap is its worker's memory (Spark's
  default would be 1g, whatever the workers offer).
* **Spark Connect** when ``remote`` (or ``$SPARK_REMOTE``) is given: ``sc://host:15002`` connects
  to a server whose settings are its own; ``local[2]`` starts a local Connect server, sized
  like a local session.

Memory in local mode: executors run inside the driver JVM, so the heap of the whole
computation is ``spark.driver.memory`` (fixed when the JVM starts). Python workers are
separate processes whose memory is outside that heap.

Everything else in sparkgraph reaches Spark only through DataFrames and the helpers here
(:func:`parallelism`, :func:`job_label`, :func:`truncate_lineage`), so it runs the same over
classic Spark and Spark Connect.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkgraph.errors import ParameterError
from sparkgraph.fs import is_connect, is_local_master
from sparkgraph.params import at_least, one_of, param, validate

log = logging.getLogger(__name__)

LOCAL_DRIVER_MEMORY = "4g"
LOG_LEVELS = ("ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF", "TRACE")
_MASTERS = re.compile(r"local|local\[(\d+|\*)(,\d+)?\]|local-cluster\[\d+, *\d+, *\d+\]|yarn|"
                      r"(spark|k8s|mesos)://\S+")


def _memory_size(name: str, value: str | None) -> None:
    if value is not None and not re.fullmatch(r"\d+[kmgtp]?b?", value.strip(), re.IGNORECASE):
        raise ParameterError(f"{name}={value!r} is not a memory size; give e.g. 4g or 512m", key=name)


def _master_url(name: str, value: str | None) -> None:
    if value is not None and not _MASTERS.fullmatch(value):
        raise ParameterError(f"{name}={value!r} is not a Spark master; give local[*], local[4], yarn, "
                             "spark://host:7077 or k8s://https://host", key=name)


def _remote_url(name: str, value: str | None) -> None:
    if value is not None and not (value.startswith("sc://") or re.fullmatch(r"local(\[(\d+|\*)\])?", value)):
        raise ParameterError(f"{name}={value!r} is not a Spark Connect address; give sc://host:15002 or "
                             "local[2]", key=name)


@dataclass(frozen=True)
class SessionConfig:
    """Settings for a session that sparkgraph builds itself (ignored when one is active).

    Attributes:
        master: Spark master URL; null means local[*] for a session built here, or what spark-submit gave.
        remote: Spark Connect URL (sc://host:15002), or local[N] for a local Connect server; null reads $SPARK_REMOTE.
        app_name: Name shown in the Spark UI.
        driver_memory: JVM heap of the driver, which in local mode also runs the executors; null means 4g locally.
        shuffle_partitions: spark.sql.shuffle.partitions; 0 means two per core for a local session.
        python_worker_memory: spark.python.worker.memory per Python worker; null keeps Spark's default.
        checkpoint_dir: Where checkpoint() writes; empty means a temporary directory for local sessions.
        log_level: Spark's own log level for a session built here.
        extra: Any other spark.* settings, passed through as given.
    """

    master: str | None = param(None, _master_url)
    remote: str | None = param(None, _remote_url)
    app_name: str = "sparkgraph"
    driver_memory: str | None = param(None, _memory_size)
    shuffle_partitions: int = param(0, at_least(0))
    python_worker_memory: str | None = param(None, _memory_size)
    checkpoint_dir: str = ""
    log_level: str = param("WARN", one_of(*LOG_LEVELS))
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)


def _cores(master: str) -> int:
    inside = master[master.find("[") + 1 : master.find("]")] if "[" in master else ""
    if inside.isdigit():
        return int(inside)
    if inside.split(",")[0].isdigit():  # local-cluster[workers,cores,mem]
        parts = inside.split(",")
        return int(parts[0]) * int(parts[1])
    return os.cpu_count() or 2


def get_session(config: SessionConfig | None = None) -> SparkSession:
    """Return the active SparkSession, or build one from ``config`` (see the module docstring).

    Args:
        config: Settings used only when no session is active.

    Returns:
        The SparkSession (classic or Spark Connect).

    Example:
        >>> from sparkgraph.session import get_session, SessionConfig
        >>> spark = get_session(SessionConfig(master="local[2]", driver_memory="2g"))
        >>> connect = get_session(SessionConfig(remote="sc://spark-connect.example.com:15002"))
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    config = config or SessionConfig()
    remote = config.remote or os.environ.get("SPARK_REMOTE")
    if remote:
        return _connect_session(remote, config)
    submitted = _submitted_conf() | _defaults_file_keys()
    settings, local = session_settings(config, submitted)
    if local:  # local Python workers must run the interpreter that has sparkgraph and numpy installed
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    with startup_noise_filtered(quiet_level(config.log_level)):
        spark = builder.getOrCreate()
    if submitted and config.log_level != SessionConfig.log_level:  # the JVM was started by someone else
        spark.sparkContext.setLogLevel(config.log_level)
    if config.checkpoint_dir:
        spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    elif not submitted and is_local_master(spark.sparkContext.master) and spark.sparkContext.getCheckpointDir() is None:
        spark.sparkContext.setCheckpointDir(_temporary_checkpoint_dir())
    log.info("built Spark session master=%s driver_memory=%s shuffle_partitions=%s",
             spark.conf.get("spark.master"), spark.conf.get("spark.driver.memory", "default"),
             spark.conf.get("spark.sql.shuffle.partitions"))
    return spark


def session_settings(config: SessionConfig, submitted: set[str]) -> tuple[dict[str, str], bool]:
    """The settings sparkgraph gives a session it builds, and whether it is a local one it sizes.

    ``submitted`` holds the keys spark-submit or ``spark-defaults.conf`` already set: they win,
    and when there are any, only what ``config`` asks for explicitly is added.

    Example:
        >>> session_settings(SessionConfig(), {"spark.master"})
        ({'spark.app.name': 'sparkgraph'}, False)
    """
    if submitted:  # a cluster's settings are its own
        settings = _asked_for(config)
    else:
        settings = _local_settings(config, config.master or "local[*]")
    local = not submitted and is_local_master(settings["spark.master"])
    return {k: v for k, v in settings.items() if k not in submitted}, local


def _local_cluster_memory(master: str) -> str | None:
    """The memory each worker of a ``local-cluster[workers,cores,MiB]`` master offers, as the
    executors' heap (``"6144m"``); None for other masters.

    Example:
        >>> _local_cluster_memory("local-cluster[2,1,6144]")
        '6144m'
    """
    found = re.fullmatch(r"local-cluster\[\d+, *\d+, *(\d+)\]", master)
    return f"{found.group(1)}m" if found else None


def _local_settings(config: SessionConfig, master: str) -> dict[str, str]:
    """A local session sized for this machine, with the config's explicit settings on top."""
    partitions = config.shuffle_partitions or 2 * _cores(master)
    settings = {
        "spark.master": master,
        "spark.app.name": config.app_name,
        "spark.driver.memory": config.driver_memory or LOCAL_DRIVER_MEMORY,
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.default.parallelism": str(partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
    }
    if config.python_worker_memory:
        settings["spark.python.worker.memory"] = config.python_worker_memory
    worker_memory = _local_cluster_memory(master)
    if worker_memory:  # (Spark's default is 1g whatever the workers were given)
        settings["spark.executor.memory"] = worker_memory
    settings.update({k: str(v) for k, v in config.extra.items()})
    java_options = " ".join(filter(None, [log_options(config.log_level),
                                          settings.get("spark.driver.extraJavaOptions")]))
    settings["spark.driver.extraJavaOptions"] = java_options
    return settings


def log_options(level: str) -> str:
    """Driver Java options that configure Spark's logging from its first line (the bundled
    ``log4j2.properties``): the root at ``level``, and the loggers whose start-up warnings are
    harmless (loopback hostname, UI port retries, no native Hadoop library) at ERROR unless
    ``level`` is INFO or more verbose."""
    config = Path(__file__).with_name("log4j2.properties").as_uri()
    startup = "error" if quiet_level(level) else level.lower()
    return (f"-Dlog4j2.configurationFile={config} -Dsparkgraph.log.level={level.lower()} "
            f"-Dsparkgraph.startup.level={startup}")


def quiet_level(level: str) -> bool:
    """Whether ``level`` hides start-up chatter (WARN or quieter); INFO and below bring it all back."""
    return level.upper() in ("WARN", "ERROR", "FATAL", "OFF")


STARTUP_NOISE = ("WARNING: Using incubator modules",)  # the JVM's own line; no Java option silences it


@contextmanager
def startup_noise_filtered(enabled: bool = True):
    """JVMs started inside the block write their standard error through a thread that drops the
    lines in ``STARTUP_NOISE`` and passes everything else on unchanged (nothing changes when not
    ``enabled``).

    The JVM inherits a pipe as its stderr; the thread ends when the JVM (and every process that
    inherited the pipe) exits. Without a file descriptor 2 (some notebook kernels) nothing changes.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    read, write = os.pipe()
    threading.Thread(target=_forward_stderr, args=(read, real), daemon=True, name="sparkgraph-jvm-stderr").start()
    os.dup2(write, 2)
    os.close(write)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)


def _forward_stderr(read: int, real: int) -> None:
    pending = b""
    try:
        while chunk := os.read(read, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = [line for line in lines if not line.decode(errors="replace").startswith(STARTUP_NOISE)]
            if kept:
                os.write(real, b"\n".join(kept) + b"\n")
        if pending:
            os.write(real, pending)
    except OSError:
        pass
    finally:
        os.close(read)
        os.close(real)


def _asked_for(config: SessionConfig) -> dict[str, str]:
    """Only the settings the job's configuration gives explicitly (for a submitted application)."""
    settings = {"spark.app.name": config.app_name}
    if config.master:
        settings["spark.master"] = config.master
    if config.driver_memory:
        settings["spark.driver.memory"] = config.driver_memory
    if config.shuffle_partitions:
        settings["spark.sql.shuffle.partitions"] = str(config.shuffle_partitions)
    if config.python_worker_memory:
        settings["spark.python.worker.memory"] = config.python_worker_memory
    settings.update({k: str(v) for k, v in config.extra.items()})
    return settings


def _connect_session(remote: str, config: SessionConfig) -> SparkSession:
    """A Spark Connect session; a local server (``local[N]``) is sized like a local session."""
    builder = SparkSession.builder.remote(remote)
    if remote.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings = _local_settings(config, remote)
        settings.pop("spark.master")
        # a local server writes manifests and reports to the local disk, and checkpoints to a temporary folder
        settings["spark.sql.artifact.copyFromLocalToFs.allowDestLocal"] = "true"
        settings["spark.checkpoint.dir"] = config.checkpoint_dir or _temporary_checkpoint_dir()
        for key, value in settings.items():
            builder = builder.config(key, value)
    with startup_noise_filtered(quiet_level(config.log_level)):
        spark = builder.getOrCreate()
    log.info("Spark Connect session to %s (Spark %s)", remote, spark.version)
    return spark


def _submitted_conf() -> set[str]:
    """Keys set by spark-submit (its JVM already runs); empty in a plain Python process.

    In a plain process the JVM must not be started before the builder, or
    ``spark.driver.memory`` could no longer take effect.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return set()
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # attach to spark-submit's JVM so its settings are visible
    return {key for key, _ in SparkConf().getAll()}


def _defaults_file_keys() -> set[str]:
    """Keys of ``spark-defaults.conf`` in ``$SPARK_CONF_DIR`` or ``$SPARK_HOME/conf`` (an admin's settings)."""
    folder = os.environ.get("SPARK_CONF_DIR") or (
        os.path.join(os.environ["SPARK_HOME"], "conf") if os.environ.get("SPARK_HOME") else None)
    path = Path(folder, "spark-defaults.conf") if folder else None
    if path is None or not path.is_file():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.add(re.split(r"[\s=]", line, maxsplit=1)[0])
    return keys


def _temporary_checkpoint_dir() -> str:
    """A fresh local checkpoint folder, removed when this process exits."""
    path = tempfile.mkdtemp(prefix="sparkgraph-checkpoints-")
    atexit.register(shutil.rmtree, path, True)
    return path


# ---------------------------------------------------------------------- helpers for every algorithm
_PARALLELISM: dict[str, int] = {}


def parallelism(spark: SparkSession) -> int:
    """The cluster's default parallelism (its total cores), also over Spark Connect.

    Classic Spark asks the SparkContext. Connect has none: ``spark.default.parallelism`` when
    set, else the number of partitions Spark gives ``spark.range`` by default (which is that
    parallelism), counted once per session in a tiny job.
    """
    if not is_connect(spark):
        return spark.sparkContext.defaultParallelism
    key = spark.session_id
    if key not in _PARALLELISM:
        configured = spark.conf.get("spark.default.parallelism", None)
        if configured:
            _PARALLELISM[key] = int(configured)
        else:
            parts = spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p")).distinct().count()
            _PARALLELISM[key] = max(1, int(parts))
    return _PARALLELISM[key]


_LABELS: dict[int, str] = {}


def job_description(spark: SparkSession, text: str | None) -> None:
    """Label the Spark jobs that follow (None clears the label).

    Classic Spark shows it as the job description in the Spark UI; Spark Connect has no job
    descriptions, so the label becomes a job tag (``sparkgraph:<text>``, commas replaced),
    which the UI and ``interruptTag`` know.
    """
    if not is_connect(spark):
        spark.sparkContext.setJobDescription(text)
        return
    previous = _LABELS.pop(id(spark), None)
    if previous:
        spark.removeTag(previous)
    if text:
        tag = "sparkgraph:" + text.replace(",", ";")
        spark.addTag(tag)
        _LABELS[id(spark)] = tag


@contextmanager
def job_label(spark: SparkSession, text: str):
    """``with job_label(spark, "ppr: walks"):`` labels the jobs inside the block (see :func:`job_description`)."""
    job_description(spark, text)
    try:
        yield
    finally:
        job_description(spark, None)


def checkpoint_dir(spark: SparkSession) -> str | None:
    """The session's reliable checkpoint directory, or None when it has none."""
    if is_connect(spark):
        return spark.conf.get("spark.checkpoint.dir", None)
    return spark.sparkContext.getCheckpointDir()


def truncate_lineage(df: DataFrame) -> DataFrame:
    """``df`` materialised with a short lineage, for iterative loops.

    On a cluster with a checkpoint directory (on the cluster file system): a reliable
    ``checkpoint()``, which survives the loss of an executor. In local mode, or without a
    checkpoint directory: ``localCheckpoint()`` (executor storage, no file I/O). Both work over
    Spark Connect.
    """
    spark = df.sparkSession
    if checkpoint_dir(spark) and not is_local_master(spark.conf.get("spark.master", "local")):
        return df.checkpoint()
    return df.localCheckpoint()


def release(df: DataFrame) -> None:
    """Free what ``df`` holds now: its cache entry, and the executor blocks of a local checkpoint
    (:func:`truncate_lineage`). ``df`` must not be read afterwards.

    ``unpersist`` alone leaves a local checkpoint's blocks until the JVM garbage-collects the
    DataFrame; on classic Spark they are unpersisted here at once. Over Spark Connect the server
    frees them when the client drops the DataFrame. A reliable checkpoint's files follow
    ``spark.cleaner.referenceTracking.cleanCheckpoints``.

    Example:
        >>> state = truncate_lineage(step(state)); ...; release(state)
    """
    df.unpersist()
    if is_connect(df.sparkSession):
        return
    logical = df._jdf.queryExecution().logical()
    if logical.getClass().getSimpleName() == "LogicalRDD":
        logical.rdd().unpersist(False)
