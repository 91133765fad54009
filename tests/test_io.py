"""Reading edge lists and writing outputs atomically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from pyspark.sql import functions as F

from sparkgraph.errors import DatasetNotFoundError, OutputExistsError
from sparkgraph.io import MANIFEST, atomic_output, read_edges, read_graph, read_manifest


def test_shared_files_load_directly(spark, shared_data):
    karate = read_edges(spark, str(shared_data / "karate" / "edges.tsv.gz"))
    assert karate.columns == ["src", "dst", "weight"]
    assert dict(karate.dtypes) == {"src": "bigint", "dst": "bigint", "weight": "double"}
    assert karate.count() == 78
    cora = read_graph(spark, str(shared_data / "cora" / "edges.tsv.gz"))
    assert (cora.n, cora.m, cora.weighted) == (2708, 5429, False)


def test_csv_with_header_string_ids_and_parquet(spark, tmp_path):
    csv = tmp_path / "edges.csv"
    csv.write_text("from,to,w\nx1,x2,2.5\nx2,x3,1\n")
    df = read_edges(spark, str(csv), header=True)
    assert df.columns == ["from", "to", "w"]
    g = read_graph(spark, str(csv), header=True, src="from", dst="to", weight="w")
    assert (g.n, g.m, g.weighted) == (3, 2, True)
    df.write.parquet(str(tmp_path / "edges.parquet"))
    assert read_edges(spark, str(tmp_path / "edges.parquet")).count() == 2


def test_missing_input_is_a_clear_error(spark):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        read_edges(spark, "/nonexistent/edges.tsv")
    with pytest.raises(DatasetNotFoundError, match="no file or table named 'no_such_table'"):
        read_edges(spark, "no_such_table")


def test_output_is_complete_with_manifest(spark, tmp_path):
    target = tmp_path / "out"
    df = spark.range(10).withColumn("x", F.col("id") * 2)
    with atomic_output(spark, str(target), job="unit", params={"k": 3}, seed=7) as out:
        with out.phase("compute"):
            out.write_table("numbers", df)
        out.write_text("note.md", "# hi\n")
    manifest = read_manifest(spark, str(target))
    assert manifest["outputs"]["numbers"]["rows"] == 10
    assert manifest["parameters"] == {"k": 3} and manifest["seed"] == 7
    assert "compute" in manifest["phases"] and manifest["versions"]["spark"] == spark.version
    assert spark.read.parquet(str(target / "numbers")).count() == 10
    assert not [p for p in os.listdir(tmp_path) if p.startswith("_")]  # no staging left


def test_existing_output_needs_overwrite(spark, tmp_path):
    target = tmp_path / "out"
    with atomic_output(spark, str(target)) as out:
        out.write_text("a.txt", "first")
    with pytest.raises(OutputExistsError, match="already exists.*overwrite"):
        with atomic_output(spark, str(target)):
            pass
    with atomic_output(spark, str(target), mode="overwrite") as out:
        out.write_text("b.txt", "second")
    assert sorted(os.listdir(target)) == [MANIFEST, "b.txt"]


def test_failed_run_leaves_nothing_that_looks_complete(spark, tmp_path):
    target = tmp_path / "out"
    with atomic_output(spark, str(target)) as out:
        out.write_text("old.txt", "previous good result")

    @F.udf("long")
    def explode(x):
        if x == 500:
            raise RuntimeError("boom")
        return x

    bad = spark.range(1000, numPartitions=4).select(explode("id").alias("id"))
    with pytest.raises(Exception, match="boom"):
        with atomic_output(spark, str(target), mode="overwrite") as out:
            out.write_table("first", spark.range(5))  # one table lands in staging ...
            out.write_table("second", bad)  # ... then the job dies
    # the previous complete output is untouched, and no staging directory remains
    assert sorted(os.listdir(target)) == [MANIFEST, "old.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.slow
def test_killed_run_leaves_no_output(tmp_path):
    """A process killed mid-write (no chance to clean up) leaves no target directory."""
    target = tmp_path / "out"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from pyspark.sql import functions as F
        from sparkgraph.session import SessionConfig, get_session
        from sparkgraph.io import atomic_output
        spark = get_session(SessionConfig(master="local[1]", driver_memory="1g"))

        @F.udf("long")
        def slow(x):
            time.sleep(0.05)
            return x

        with atomic_output(spark, {str(target)!r}) as out:
            out.write_table("fast", spark.range(3))
            print("STAGED", flush=True)
            out.write_table("slow", spark.range(100000, numPartitions=1).select(slow("id")))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 240
        for line in proc.stdout:
            if "STAGED" in line or time.time() > deadline:
                break
        time.sleep(2)
        staged = [p for p in os.listdir(tmp_path) if p.startswith("_tmp.out.")]
        assert staged, "the writer should have been mid-run"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not target.exists()
    leftover = [p for p in os.listdir(tmp_path) if p.startswith("_tmp.")]
    assert leftover and not (tmp_path / leftover[0] / MANIFEST).exists()


def test_manifest_is_required_to_count_as_output(spark, tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(DatasetNotFoundError, match="not a complete sparkgraph output"):
        read_manifest(spark, str(tmp_path / "half"))
