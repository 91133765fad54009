"""Cluster packaging: spark-submit with only the zip, from another directory; a local-cluster run.

These start their own Spark applications in subprocesses (the test session's SparkContext
cannot be shared), so nothing can lean on the test process's state. The three that run a job
(spark-submit on a local cluster, INFO logging, bad input) start together in ``jobs_started``: each
is mostly JVMs starting, so they share the wall clock; each test then waits for its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHILD_JVM_OPTIONS, Started, child_env

from sparkgraph.jobs import JOB_NAMES
from sparkgraph.packaging import build_zip, write_submit_script

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = child_env()
    env.pop("PYSPARK_DRIVER_PYTHON", None)
    return env


MASTER = "local-cluster[2,1,1024]"


@pytest.fixture(scope="module")
def jobs_started(request, tmp_path_factory) -> dict[str, tuple[Path, Started]]:
    """The job runs of the tests below that were selected, started at once: name -> (its folder, the
    running command)."""
    selected = {item.originalname for item in request.session.items if item.module is request.module}
    started = {}
    if "test_spark_submit_runs_a_job_from_the_zip_on_a_local_cluster_from_another_directory" in selected:
        started["submit"] = _start_submit(tmp_path_factory.mktemp("submit"))
    if "test_log_level_info_brings_sparks_start_up_lines_back" in selected:
        started["info"] = _start_info(tmp_path_factory.mktemp("info"))
    if "test_bad_input_exits_non_zero_with_one_line_and_leaves_no_checkpoint_folder" in selected:
        started["bad"] = _start_bad_input(tmp_path_factory.mktemp("bad"))
    yield started
    for _, command in started.values():
        command.stop()


def _start_submit(folder: Path) -> tuple[Path, Started]:
    """Only the zip and its entry script, run from elsewhere, with executors in their own JVMs."""
    workdir = folder / "elsewhere"
    workdir.mkdir()
    zip_path = build_zip(str(folder / "dist" / "sparkgraph.zip"))
    entry = write_submit_script(str(folder / "dist" / "run_job.py"))  # nothing from the checkout is needed
    cmd = [str(BIN / "spark-submit"), "--master", MASTER, "--driver-memory", "1g",
           "--conf", "spark.sql.shuffle.partitions=8", "--conf", f"spark.executor.extraJavaOptions={CHILD_JVM_OPTIONS}",
           "--py-files", zip_path,
           entry, "stats", "--input.dataset", "cora", "--output.path", "out"]
    return folder, Started(cmd, folder / "console", cwd=workdir, env=_env())


def _start_info(folder: Path) -> tuple[Path, Started]:
    cmd = [sys.executable, "-m", "sparkgraph.cli", "run", "stats", "--input.dataset", "karate",
           "--spark.master", "local[1]", "--spark.driver_memory", "1g", "--spark.log_level", "INFO",
           "--output.path", str(folder / "out"), "--progress", "off"]
    return folder, Started(cmd, folder / "console", cwd=folder, env=_env())


def _start_bad_input(folder: Path) -> tuple[Path, Started]:
    bad = folder / "bad.tsv"
    bad.write_text("1\t2\tabc\n")
    temp = folder / "temp"
    temp.mkdir()
    cmd = [sys.executable, "-m", "sparkgraph.cli", "run", "stats", "--input.path", str(bad),
           "--output.path", str(folder / "o"), "--spark.master", "local[1]", "--spark.driver_memory", "1g"]
    return folder, Started(cmd, folder / "console", cwd=folder, env=dict(_env(), TMPDIR=str(temp)))


@pytest.mark.slow
def test_spark_submit_runs_a_job_from_the_zip_on_a_local_cluster_from_another_directory(jobs_started):
    """Only the zip and its entry script, run from elsewhere, with executors in their own JVMs."""
    folder, command = jobs_started["submit"]
    zip_path, workdir, master = str(folder / "dist" / "sparkgraph.zip"), folder / "elsewhere", MASTER
    done = command.result(timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    # the driver imported sparkgraph from the zip, and spark-submit's --master won over the default
    log = done.stdout + done.stderr  # spark-submit merges the Python driver's stderr into stdout
    assert f"from {zip_path}/sparkgraph" in log
    assert f"built Spark session master={master}" in log
    assert "shuffle_partitions=8" in log  # the submitted setting: nothing sized from the driver's cores
    manifest = json.loads((workdir / "out" / "manifest.json").read_text())
    assert manifest["inputs"]["cora"] == {"dataset": "cora", "vertices": 2708, "edges": 5429}
    assert manifest["session"]["master"] == master  # what ran, not the configuration's default
    assert manifest["outputs"]["degree_distribution"]["rows"] > 0
    assert "vertices" in done.stdout and "2708" in done.stdout


@pytest.mark.parametrize("name", JOB_NAMES)
def test_each_spark_submit_script_runs_its_own_job(name):
    done = subprocess.run([sys.executable, str(REPO / "jobs" / f"{name}.py"), "--help"], env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"usage: sparkgraph run {name} ")


@pytest.mark.slow
def test_log_level_info_brings_sparks_start_up_lines_back(jobs_started):
    done = jobs_started["info"][1].result(timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "INFO SparkContext: Running Spark version" in done.stderr, done.stderr[:3000]
    assert "WARNING: Using incubator modules" in done.stderr  # the JVM's own line is not filtered either
    assert not [line for line in done.stderr.splitlines() if "sparkgraph.progress" in line]  # --progress off


def test_bad_input_exits_non_zero_with_one_line_and_leaves_no_checkpoint_folder(jobs_started):
    folder, command = jobs_started["bad"]
    temp = folder / "temp"
    done = command.result(timeout=300)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is not a number (e.g. 'abc')" in errors[0] and "Traceback" not in done.stderr
    assert "built Spark session" in done.stderr  # the session (and its checkpoint folder) existed ...
    # a quiet console: sparkgraph's lines from the first, none of the JVM's and Spark's start-up noise
    lines = done.stderr.splitlines()
    assert "INFO sparkgraph: sparkgraph" in lines[0], lines[:10]
    noise = ("WARNING: Using incubator modules", "log4j profile", "Setting default log level", "setLogLevel",
             "NativeCodeLoader", "resolves to a loopback address", "could not bind on port")
    assert not [line for line in lines if any(n in line for n in noise)], lines[:20]
    assert not [p for p in os.listdir(temp) if p.startswith("sparkgraph-checkpoints-")]  # ... and was removed
