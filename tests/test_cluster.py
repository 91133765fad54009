"""Cluster packaging: spark-submit with only the zip, from another directory; a local-cluster run.

These start their own Spark applications in subprocesses (the test session's SparkContext
cannot be shared), so nothing can lean on the test process's state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHILD_JVM_OPTIONS, child_env

from sparkgraph.jobs import JOB_NAMES
from sparkgraph.packaging import build_zip, write_submit_script

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = child_env()
    env.pop("PYSPARK_DRIVER_PYTHON", None)
    return env


@pytest.mark.slow
def test_spark_submit_runs_a_job_from_the_zip_on_a_local_cluster_from_another_directory(tmp_path):
    """Only the zip and its entry script, run from elsewhere, with executors in their own JVMs."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    zip_path = build_zip(str(tmp_path / "dist" / "sparkgraph.zip"))
    entry = write_submit_script(str(tmp_path / "dist" / "run_job.py"))  # nothing from the checkout is needed
    master = "local-cluster[2,1,1024]"
    cmd = [str(BIN / "spark-submit"), "--master", master, "--driver-memory", "1g",
           "--conf", "spark.sql.shuffle.partitions=8", "--conf", f"spark.executor.extraJavaOptions={CHILD_JVM_OPTIONS}",
           "--py-files", zip_path,
           entry, "stats", "--input.dataset", "cora", "--output.path", "out"]
    done = subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=400)
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
def test_log_level_info_brings_sparks_start_up_lines_back(tmp_path):
    cmd = [sys.executable, "-m", "sparkgraph.cli", "run", "stats", "--input.dataset", "karate",
           "--spark.master", "local[1]", "--spark.driver_memory", "1g", "--spark.log_level", "INFO",
           "--output.path", str(tmp_path / "out"), "--progress", "off"]
    done = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "INFO SparkContext: Running Spark version" in done.stderr, done.stderr[:3000]
    assert "WARNING: Using incubator modules" in done.stderr  # the JVM's own line is not filtered either
    assert not [line for line in done.stderr.splitlines() if "sparkgraph.progress" in line]  # --progress off


def test_bad_input_exits_non_zero_with_one_line_and_leaves_no_checkpoint_folder(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\tabc\n")
    temp = tmp_path / "temp"
    temp.mkdir()
    done = subprocess.run([sys.executable, "-m", "sparkgraph.cli", "run", "stats", "--input.path", str(bad),
                           "--output.path", str(tmp_path / "o"), "--spark.master", "local[1]",
                           "--spark.driver_memory", "1g"],
                          cwd=tmp_path, env=dict(_env(), TMPDIR=str(temp)), capture_output=True, text=True,
                          timeout=300)
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
