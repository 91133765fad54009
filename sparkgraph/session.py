"""Getting a SparkSession: reuse the active one, or build a sized local one.

On Databricks, under ``spark-submit`` or in the pyspark shell a session already
exists and is reused untouched (its settings belong to the cluster). Otherwise a
local session is built with Arrow and adaptive execution on, shuffle partitions
sized to the cores and a checkpoint directory for iterative algorithms.

Memory in local mode: executors run inside the driver JVM, so the heap of the
whole computation is ``spark.driver.memory`` (set here with ``driver_memory``,
fixed when the JVM starts). Python workers are separate processes whose memory is
outside that heap; ``python_worker_memory`` caps each one's aggregation buffers.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionConfig:
    """Settings for a session that sparkgraph builds itself (ignored when one is active).

    Attributes:
        master: Spark master URL; ``local[*]`` uses every core of this machine.
        app_name: Name shown in the Spark UI.
        driver_memory: JVM heap of the driver, which in local mode also runs the executors.
        shuffle_partitions: ``spark.sql.shuffle.partitions``; 0 means two per core.
        python_worker_memory: ``spark.python.worker.memory`` per Python worker.
        checkpoint_dir: Where ``checkpoint()`` writes; empty means a fresh temporary directory.
        log_level: Spark's own log level.
        extra: Any other ``spark.*`` settings, passed through as given.
    """

    master: str = "local[*]"
    app_name: str = "sparkgraph"
    driver_memory: str = "4g"
    shuffle_partitions: int = 0
    python_worker_memory: str = "512m"
    checkpoint_dir: str = ""
    log_level: str = "WARN"
    extra: dict = field(default_factory=dict)


def _cores(master: str) -> int:
    inside = master[master.find("[") + 1 : master.find("]")] if "[" in master else ""
    if inside.isdigit():
        return int(inside)
    if inside.split(",")[0].isdigit():  # local-cluster[workers,cores,mem]
        parts = inside.split(",")
        return int(parts[0]) * int(parts[1])
    return os.cpu_count() or 2


def get_session(config: SessionConfig | None = None) -> SparkSession:
    """Return the active SparkSession, or build a local one from ``config``.

    Args:
        config: Settings used only when no session is active.

    Returns:
        The SparkSession, with a checkpoint directory set.

    Example:
        >>> from sparkgraph.session import get_session, SessionConfig
        >>> spark = get_session(SessionConfig(master="local[2]", driver_memory="2g"))
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        _ensure_checkpoint_dir(active, config.checkpoint_dir if config else "")
        return active
    config = config or SessionConfig()
    # Python workers must run the interpreter that has sparkgraph and numpy installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    partitions = config.shuffle_partitions or 2 * _cores(config.master)
    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.python.worker.memory", config.python_worker_memory)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in config.extra.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.log_level)
    _ensure_checkpoint_dir(spark, config.checkpoint_dir)
    log.info("built Spark session master=%s driver_memory=%s shuffle_partitions=%d",
             config.master, config.driver_memory, partitions)
    return spark


def _ensure_checkpoint_dir(spark: SparkSession, wanted: str) -> None:
    try:
        sc = spark.sparkContext
    except Exception:  # Spark Connect has no SparkContext; checkpoints are managed by the server
        return
    if wanted:
        sc.setCheckpointDir(wanted)
    elif sc.getCheckpointDir() is None:
        sc.setCheckpointDir(tempfile.mkdtemp(prefix="sparkgraph-checkpoints-"))


def job_description(spark: SparkSession, text: str) -> None:
    """Label the Spark jobs that follow in the Spark UI (no-op under Spark Connect)."""
    try:
        spark.sparkContext.setJobDescription(text)
    except Exception:
        pass
