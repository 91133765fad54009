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
    settings = {
        "spark.master": config.master,
        "spark.app.name": config.app_name,
        "spark.driver.memory": config.driver_memory,
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.default.parallelism": str(partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.python.worker.memory": config.python_worker_memory,
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        **{k: str(v) for k, v in config.extra.items()},
    }
    submitted = _submitted_conf()
    builder = SparkSession.builder
    for key, value in settings.items():
        if key not in submitted:  # spark-submit's --master/--conf win over our defaults
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.log_level)
    _ensure_checkpoint_dir(spark, config.checkpoint_dir)
    log.info("built Spark session master=%s driver_memory=%s shuffle_partitions=%s",
             spark.conf.get("spark.master"), spark.conf.get("spark.driver.memory", "default"),
             spark.conf.get("spark.sql.shuffle.partitions"))
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
