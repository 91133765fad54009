"""The commit of outputs: a run is visible only through its manifest, and a crash never shows a mix."""

from __future__ import annotations

import os
import sys
import textwrap
import threading

import pytest
from conftest import Started, assert_no_output, child_env
from pyspark.sql import functions as F

from sparkgraph.errors import DatasetNotFoundError, OutputExistsError
from sparkgraph.fs import file_system
from sparkgraph.output import MANIFEST, RUNS, _run_ids, atomic_output, read_manifest, read_output


def write_version(spark, target, version: int, mode: str = "overwrite", rows: int = 10) -> None:
    """An output whose two tables carry their version in every row (rows: ``rows + version``)."""
    with atomic_output(spark, str(target), mode=mode, job="unit", params={"version": version}) as out:
        out.write_table("numbers", spark.range(rows + version).withColumn("version", F.lit(version)))
        out.write_table("more", spark.range(3).withColumn("version", F.lit(version)))
        out.write_text("note.md", f"version {version}\n")


def read_version(spark, target) -> int:
    """The version a reader sees; fails unless both tables are complete and of the same run."""
    manifest = read_manifest(spark, str(target))
    versions = set()
    for table in ("numbers", "more"):
        frame = read_output(spark, str(target), table, manifest).toPandas()
        assert len(frame) == manifest["outputs"][table]["rows"], "a table is incomplete"
        versions |= set(frame["version"])
    assert len(versions) == 1 and versions == {manifest["parameters"]["version"]}, f"a mix of runs: {versions}"
    return versions.pop()


def runs(spark, target) -> list[str]:
    fs = file_system(spark)
    return _run_ids(fs, fs.qualify(str(target)))


@pytest.mark.connect
def test_output_is_complete_with_manifest(spark, tmp_path):
    target = tmp_path / "out"
    with atomic_output(spark, str(target), job="unit", params={"k": 3}, seed=7) as out:
        with out.phase("compute"):
            out.write_table("numbers", spark.range(10).withColumn("x", F.col("id") * 2))
        out.write_text("note.md", "# hi\n")
    manifest = read_manifest(spark, str(target))
    assert manifest["outputs"]["numbers"]["rows"] == 10
    assert manifest["parameters"] == {"k": 3} and manifest["seed"] == 7
    assert "compute" in manifest["phases"] and manifest["versions"]["spark"] == spark.version
    assert read_output(spark, str(target), "numbers").count() == 10
    # the layout: the manifest and the run folder it names, nothing else
    assert sorted(os.listdir(target)) == [RUNS, MANIFEST]
    assert os.listdir(target / RUNS) == [manifest["run"]]
    assert (target / RUNS / manifest["run"] / "note.md").read_text() == "# hi\n"
    with pytest.raises(DatasetNotFoundError, match="has no 'missing'; it holds numbers, note.md"):
        read_output(spark, str(target), "missing")


@pytest.mark.connect
def test_existing_output_needs_overwrite_and_overwrite_removes_the_old_run(spark, tmp_path):
    target = tmp_path / "out"
    write_version(spark, target, 1, mode="error")
    first = read_manifest(spark, str(target))["run"]
    with pytest.raises(OutputExistsError, match="already exists.*overwrite"):
        write_version(spark, target, 2, mode="error")
    write_version(spark, target, 2)
    assert read_version(spark, target) == 2
    second = read_manifest(spark, str(target))
    assert second["previous"] == first and runs(spark, target) == [first, second["run"]]
    write_version(spark, target, 3)  # the replaced run stays one commit (for readers still on it), then goes
    assert runs(spark, target) == [second["run"], read_manifest(spark, str(target))["run"]]


@pytest.mark.connect
def test_overwrite_refuses_a_folder_that_is_not_an_output(spark, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match="not a sparkgraph output"):
        write_version(spark, target, 1)
    assert os.listdir(target) == ["thesis.tex"]


@pytest.mark.connect
def test_failed_run_leaves_the_previous_output_and_a_new_target_leaves_nothing(spark, tmp_path):
    target = tmp_path / "out"
    write_version(spark, target, 1, mode="error")

    @F.udf("long")
    def explode(x):
        if x == 500:
            raise RuntimeError("boom")
        return x

    bad = spark.range(1000, numPartitions=4).select(explode("id").alias("id"))
    for path in (target, tmp_path / "fresh"):
        with pytest.raises(Exception, match="boom"):
            with atomic_output(spark, str(path), mode="overwrite") as out:
                out.write_table("first", spark.range(5))  # one table lands in the run folder ...
                out.write_table("second", bad)  # ... then the job dies
    assert read_version(spark, target) == 1 and len(runs(spark, target)) == 1
    assert_no_output(spark, tmp_path / "fresh")
    with pytest.raises(DatasetNotFoundError):
        read_manifest(spark, str(tmp_path / "fresh"))


@pytest.mark.connect
def test_manifest_is_required_to_count_as_output(spark, tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(DatasetNotFoundError, match="not a complete sparkgraph output"):
        read_manifest(spark, str(tmp_path / "half"))


@pytest.mark.connect
def test_overwrite_under_a_concurrent_reader_always_reads_a_complete_result(spark, tmp_path):
    target = tmp_path / "out"
    write_version(spark, target, 0, mode="error")
    seen, errors, done = [], [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                seen.append(read_version(spark, target))
            except AssertionError as exc:  # a mix or an incomplete table: the commit failed its promise
                errors.append(exc)
            except Exception:  # the run just read was removed by a newer commit: the reader reads again
                pass

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for version in (1, 2, 3):
            write_version(spark, target, version)
    finally:
        done.set()
        thread.join()
    assert not errors, errors[0]
    assert seen and seen == sorted(seen)  # versions only move forward
    manifest = read_manifest(spark, str(target))
    assert read_version(spark, target) == 3 and runs(spark, target) == [manifest["previous"], manifest["run"]]


CRASHING_WRITER = textwrap.dedent("""
    import sys
    from pyspark.sql import functions as F
    from sparkgraph.session import SessionConfig, get_session
    from sparkgraph.output import atomic_output
    spark = get_session(SessionConfig(master="local[1]", driver_memory="1g", extra={"spark.ui.enabled": "false"}))
    with atomic_output(spark, sys.argv[1], mode="overwrite", job="unit", params={"version": 2}) as out:
        out.write_table("numbers", spark.range(12).withColumn("version", F.lit(2)))
        out.write_table("more", spark.range(3).withColumn("version", F.lit(2)))
    print("committed and cleaned", flush=True)
""")


@pytest.fixture(scope="module")
def killed_runs(request, spark, tmp_path_factory):
    """One crashing writer per selected point, over a target that holds a committed version 1, all
    started at once: each is its own Spark application, mostly the start of its JVM, so they share
    the wall clock instead of queueing. Each test then waits for its own writer."""
    test = "test_a_run_killed_at_any_point_leaves_a_complete_result"
    points = [item.callspec.params["point"] for item in request.session.items
              if item.module is request.module and item.originalname == test]
    runs = {}
    for point in points:
        folder = tmp_path_factory.mktemp(point)
        write_version(spark, folder / "out", 1, mode="error")
        runs[point] = folder / "out", Started([sys.executable, "-c", CRASHING_WRITER, str(folder / "out")],
                                              folder / "writer", env=child_env(SPARKGRAPH_CRASH_AT=point))
    yield runs
    for _, writer in runs.values():
        writer.stop()


@pytest.mark.slow
@pytest.mark.parametrize("point,visible", [("after-table", 1), ("before-manifest", 1), ("before-cleanup", 2)])
def test_a_run_killed_at_any_point_leaves_a_complete_result(spark, killed_runs, point, visible):
    """kill -9 during the tables, between the tables and the manifest, and during the cleanup."""
    target, writer = killed_runs[point]
    done = writer.result(timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert read_version(spark, target) == visible
    assert len(runs(spark, target)) == 2  # the killed run's folder (or the one it replaced) is still there
    write_version(spark, target, 3)  # the next commit removes the killed run's folder
    manifest = read_manifest(spark, str(target))
    assert read_version(spark, target) == 3 and runs(spark, target) == [manifest["previous"], manifest["run"]]
