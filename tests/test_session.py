"""A session sparkgraph builds is sized locally; one that was submitted or already runs is left alone."""

from __future__ import annotations

import pytest

from sparkgraph.session import SessionConfig, _defaults_file_keys, parallelism, session_settings


def test_a_local_session_is_sized_for_this_machine():
    settings, local = session_settings(SessionConfig(master="local[3]"), set())
    assert local and settings["spark.master"] == "local[3]" and settings["spark.driver.memory"] == "4g"
    assert settings["spark.sql.shuffle.partitions"] == settings["spark.default.parallelism"] == "6"
    assert session_settings(SessionConfig(master="yarn"), set())[1] is False  # not local: no PYSPARK_PYTHON
    assert "spark.executor.memory" not in settings


def test_a_local_cluster_gives_each_executor_its_workers_memory():
    settings, _ = session_settings(SessionConfig(master="local-cluster[2,1,6144]"), set())
    assert settings["spark.executor.memory"] == "6144m"  # (Spark's own default: 1g)
    asked = SessionConfig(master="local-cluster[2, 1, 6144]", extra={"spark.executor.memory": "2g"})
    assert session_settings(asked, set())[0]["spark.executor.memory"] == "2g"


def test_a_submitted_application_gets_only_what_the_job_asks_for():
    settings, local = session_settings(SessionConfig(), {"spark.master", "spark.executor.memory"})
    assert settings == {"spark.app.name": "sparkgraph"} and not local
    asked = SessionConfig(driver_memory="8g", shuffle_partitions=400, extra={"spark.sql.adaptive.enabled": "true"})
    settings, _ = session_settings(asked, {"spark.master", "spark.sql.shuffle.partitions"})
    assert settings == {"spark.app.name": "sparkgraph", "spark.driver.memory": "8g",
                        "spark.sql.adaptive.enabled": "true"}  # the submitted shuffle partitions win


def test_spark_defaults_count_as_submitted(tmp_path, monkeypatch):
    (tmp_path / "spark-defaults.conf").write_text("# admin settings\nspark.master  yarn\nspark.eventLog.enabled=true\n")
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert _defaults_file_keys() == {"spark.master", "spark.eventLog.enabled"}
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path / "none"))
    assert _defaults_file_keys() == set()


@pytest.mark.connect
def test_parallelism_is_known_in_both_lanes(spark):
    from pyspark.sql import functions as F

    # the tests' sessions set 4 shuffle partitions and the same default parallelism; it is also the
    # number of partitions spark.range gets by default, which Connect counts when the setting is absent
    ranged = spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p")).distinct().count()
    assert parallelism(spark) == ranged == 4


@pytest.mark.connect
def test_release_frees_a_local_checkpoint_at_once(spark):
    from sparkgraph.fs import is_connect
    from sparkgraph.session import release, truncate_lineage

    if is_connect(spark):  # the server frees it when the client drops the DataFrame
        short = truncate_lineage(spark.range(0, 100))
        assert short.count() == 100
        release(short)
        return
    before = set(spark.sparkContext._jsc.getPersistentRDDs().keySet())
    short = truncate_lineage(spark.range(0, 100))
    assert short.count() == 100
    held = set(spark.sparkContext._jsc.getPersistentRDDs().keySet())
    assert held > before, "a local checkpoint is held in executor storage"
    release(short)
    assert set(spark.sparkContext._jsc.getPersistentRDDs().keySet()) == before, "release frees its blocks"
