"""Reading edge lists (writing outputs: test_output.py)."""

from __future__ import annotations

import pytest

from sparkgraph.errors import DatasetNotFoundError
from sparkgraph.io import read_edges, read_graph


@pytest.mark.connect
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


@pytest.mark.connect
def test_missing_input_is_a_clear_error(spark):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        read_edges(spark, "/nonexistent/edges.tsv")
    with pytest.raises(DatasetNotFoundError, match="no file or table named 'no_such_table'"):
        read_edges(spark, "no_such_table")
