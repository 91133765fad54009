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


@pytest.mark.connect
def test_header_and_separator_are_detected(spark, tmp_path):
    header = tmp_path / "with_header.tsv"
    header.write_text("src\tdst\tweight\n1\t2\t0.5\n2\t3\t2\n")
    edges = read_edges(spark, str(header))  # no header flag: the first line names the columns
    assert edges.columns == ["src", "dst", "weight"] and edges.count() == 2
    assert dict(edges.dtypes) == {"src": "bigint", "dst": "bigint", "weight": "double"}
    commas = tmp_path / "commas.tsv"  # a .tsv that is really comma-separated, with a header of other names
    commas.write_text("from,to\n10,20\n20,30\n30,10\n")
    assert read_edges(spark, str(commas)).count() == 3
    spaces = tmp_path / "spaces.txt"
    spaces.write_text("a b\nb c\n")  # string ids, no header: the first line is an edge
    assert sorted(tuple(r) for r in read_edges(spark, str(spaces)).collect()) == [("a", "b"), ("b", "c")]
    assert read_edges(spark, str(spaces), header=True).count() == 1  # told: the first line is a header


@pytest.mark.connect
def test_a_folder_is_read_by_the_format_of_its_files(spark, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-0.tsv").write_text("1\t2\n")
    (folder / "part-1.tsv").write_text("2\t3\n3\t4\n")
    (folder / "_SUCCESS").write_text("")
    assert read_edges(spark, str(folder)).count() == 3  # not read as Parquet
    spark.createDataFrame([(1, 2)], "src long, dst long").write.parquet(str(tmp_path / "pq"))
    assert read_edges(spark, str(tmp_path / "pq")).count() == 1


def test_a_weighted_csv_with_a_header_runs_through_the_command_line(spark, tmp_path, capsys):
    from sparkgraph.cli import main
    from sparkgraph.output import read_manifest, read_output

    data = tmp_path / "w.csv"
    data.write_text("from,to,strength\na,b,1.5\nb,c,2\nc,a,0.5\n")
    out = tmp_path / "out"
    assert main(["run", "stats", "--input.path", str(data), "--graph.src", "from", "--graph.dst", "to",
                 "--graph.weight", "strength", "--output.path", str(out)]) == 0
    facts = read_output(spark, str(out), "facts").first()
    assert facts["edges"] == 3 and facts["weighted"] and facts["total_arc_weight"] == 4.0
    manifest = read_manifest(spark, str(out))  # the manifest names what was read, not the default data set
    assert manifest["parameters"]["input"] == {"path": str(data), "format": "auto", "header": None, "sep": None}
    assert manifest["inputs"][str(data)]["path"] == str(data)
