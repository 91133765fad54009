"""One local SparkSession for the whole test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from sparkgraph.session import SessionConfig, get_session

    session = get_session(SessionConfig(master="local[2]", driver_memory="3g", shuffle_partitions=4,
                                        app_name="sparkgraph-tests"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from sparkgraph.datasets import shared_data_dir

    path = shared_data_dir()
    if not (path / "karate" / "edges.tsv.gz").exists():
        pytest.fail(f"shared data sets not found at {path}; set SPARKGRAPH_DATA")
    return path
