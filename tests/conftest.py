"""One SparkSession for the whole test session, classic or Spark Connect.

``make test`` runs two lanes, each its own pytest process: the classic lane runs every test on
a local classic session; the Connect lane (``SPARKGRAPH_TEST_LANE=connect``) runs the tests
marked ``connect`` on a local Spark Connect server (``remote("local[2]")``), the way Databricks
serverless, shared clusters and Databricks Connect run PySpark.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LANE = os.environ.get("SPARKGRAPH_TEST_LANE", "classic")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

# The Spark applications tests start in subprocesses (spark-submit, the command line, the crash tests)
# live for seconds, and their JVMs spend about half their CPU compiling hot code a second time with C2;
# C1 alone halves their start-up. What those tests check (exit codes, log lines, files) does not depend
# on the JIT. The test session's own JVM keeps the default: over minutes, C2's faster code pays off.
CHILD_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that starts its own Spark application: this interpreter for the
    Python workers, and CHILD_JVM_OPTIONS for the JVM spark-submit starts (``SPARK_SUBMIT_OPTS``, which
    the JVM takes silently, unlike ``JAVA_TOOL_OPTIONS``: the tests read the child's console)."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, **extra)
    env["SPARK_SUBMIT_OPTS"] = " ".join(filter(None, [os.environ.get("SPARK_SUBMIT_OPTS"), CHILD_JVM_OPTIONS]))
    return env


class Started:
    """A command running in the background, its stdout and stderr going to files in ``folder`` (no
    pipe fills up unread). Tests whose subprocesses each start a JVM start them together and then
    wait for each: ``result()`` returns what ``subprocess.run(capture_output=True, text=True)`` would."""

    def __init__(self, cmd: list[str], folder: Path, **popen_kwargs):
        folder.mkdir(parents=True, exist_ok=True)
        self.cmd, self._stdout, self._stderr = cmd, folder / "stdout.txt", folder / "stderr.txt"
        with open(self._stdout, "w") as stdout, open(self._stderr, "w") as stderr:
            self.process = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, **popen_kwargs)

    def result(self, timeout: float) -> subprocess.CompletedProcess:
        """Wait for the command (killed, as by ``subprocess.run``, when it runs past ``timeout``)."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return subprocess.CompletedProcess(self.cmd, returncode, self._stdout.read_text(), self._stderr.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def pytest_collection_modifyitems(config, items):
    if LANE != "connect":
        return
    skip = pytest.mark.skip(reason="the Connect lane runs the tests marked 'connect'")
    for item in items:
        if "connect" not in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def spark():
    from sparkgraph.session import SessionConfig, get_session

    settings = dict(driver_memory="3g", shuffle_partitions=4, app_name=f"sparkgraph-tests-{LANE}",
                    extra={"spark.ui.enabled": "false"})
    if LANE == "connect":
        session = get_session(SessionConfig(remote="local[2]", **settings))
        assert type(session).__module__.startswith("pyspark.sql.connect"), "the Connect lane needs a Connect session"
    else:
        session = get_session(SessionConfig(master="local[2]", **settings))
    yield session
    session.stop()


@pytest.fixture(autouse=True, scope="module")
def _release_cached_tables(request):
    """Each test module's cached tables are released when it ends. One session serves the whole
    suite, and every cached plan is compared against every new query's plan, so tables a module
    leaves cached (graphs its fixtures load, say) would slow all later modules down."""
    yield
    if "spark" in request.fixturenames:
        request.getfixturevalue("spark").catalog.clearCache()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from sparkgraph.datasets import shared_data_dir

    path = shared_data_dir()
    if not (path / "karate" / "edges.tsv.gz").exists():
        pytest.fail(f"shared data sets not found at {path}; set SPARKGRAPH_DATA")
    return path


def assert_no_output(spark, path: Path) -> None:
    """Nothing at the output path of a failed run: classic Spark removes the folder it made; Spark
    Connect cannot delete a folder, only empty it, so there at most Spark's hidden _SUCCESS marker stays."""
    from sparkgraph.fs import is_connect

    if not is_connect(spark) or not path.exists():
        assert not path.exists(), sorted(p.name for p in path.rglob("*"))
        return
    visible = [p for p in path.rglob("*") if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)]
    assert not visible, visible



def shard_budget(graph, shards: int) -> int:
    """A ``PPRParams.shard_max_bytes`` that cuts ``graph`` into about ``shards`` shards, as a graph
    whose walk graph fills that many tasks would be (these small graphs fit one shard)."""
    from sparkgraph.ppr.distributed import walk_graph_bytes

    return math.ceil(walk_graph_bytes(graph) / shards)
