"""What a path means: qualified the way Spark's readers and writers (and so the executors) see it."""

from __future__ import annotations

import os

import pytest

from sparkgraph.errors import ParameterError
from sparkgraph.fs import file_system, is_connect, qualify_path


@pytest.mark.parametrize("path,expected", [
    ("out/ppr", "hdfs://namenode:8020/user/ana/out/ppr"),
    ("/data/graph.parquet/", "hdfs://namenode:8020/data/graph.parquet"),
    ("s3a://other/x", "s3a://other/x"),
    ("file:/tmp/x/", "file:/tmp/x"),
])
def test_paths_on_hdfs(path, expected):
    assert qualify_path(path, "hdfs://namenode:8020", "/user/ana", local_master=False) == expected


@pytest.mark.parametrize("path,expected", [
    ("out/ppr", "s3a://bucket/user/ana/out/ppr"),
    ("/graphs/./cnr/../web", "s3a://bucket/graphs/web"),
    ("dbfs:/mnt/g", "dbfs:/mnt/g"),
])
def test_paths_on_an_object_store(path, expected):
    assert qualify_path(path, "s3a://bucket/", "/user/ana", local_master=False) == expected


def test_local_disk_only_with_a_local_master(tmp_path):
    assert qualify_path("out", "file:///", "", local_master=True, cwd=str(tmp_path)) == f"file://{tmp_path}/out"
    assert qualify_path("/abs/x", "file:///", "", local_master=False) == "file:///abs/x"
    with pytest.raises(ParameterError, match="relative, the master is not local .* give an absolute path"):
        qualify_path("out", "file:///", "", local_master=False)
    with pytest.raises(ParameterError, match="empty path"):
        qualify_path("", "file:///", "", local_master=True)


@pytest.mark.connect
def test_the_session_qualifies_against_its_default_file_system(spark, tmp_path, monkeypatch):
    fs = file_system(spark)
    monkeypatch.chdir(tmp_path)
    if is_connect(spark):  # the local Connect server's default file system is this disk: plain absolute paths
        assert fs.qualify("out") == f"{tmp_path}/out"
        return  # a Connect client cannot read the server's Hadoop configuration; the rule is the documented one
    assert fs.qualify("out") == f"file://{tmp_path}/out"  # a local master on the local disk
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # what spark.hadoop.fs.defaultFS sets on a cluster
    original = hadoop.get("fs.defaultFS")
    for default, expected in (("hdfs://namenode:8020", f"hdfs://namenode:8020/user/{spark.sparkContext.sparkUser()}/out"),
                              ("s3a://bucket/", "s3a://bucket/data/g")):
        hadoop.set("fs.defaultFS", default)
        try:
            path = "out" if default.startswith("hdfs") else "/data/g"
            assert file_system(spark).qualify(path) == expected  # resolution only: no server is asked
        finally:
            hadoop.set("fs.defaultFS", original)
    assert os.getcwd() == str(tmp_path)


def test_connect_refuses_relative_paths_on_a_remote_server(monkeypatch):
    from sparkgraph.fs import ConnectFileSystem

    monkeypatch.delenv("SPARK_LOCAL_REMOTE", raising=False)
    fs = ConnectFileSystem(spark=None)
    assert fs.qualify("/Volumes/main/graphs/out") == "/Volumes/main/graphs/out"
    assert fs.qualify("abfss://c@acct.dfs.core.windows.net/g/") == "abfss://c@acct.dfs.core.windows.net/g"
    with pytest.raises(ParameterError, match="over Spark Connect give an absolute path"):
        fs.qualify("output/ppr")
    with pytest.raises(ParameterError, match="only paths on the cluster's default file system"):
        fs.write_text("s3a://bucket/out/manifest.json", "{}")
