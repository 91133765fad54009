"""Configuration precedence, unknown keys, --help, and the jobs' exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_no_output

from sparkgraph.cli import main
from sparkgraph.config import load_config
from sparkgraph.errors import ConfigError
from sparkgraph.jobs import get_job
from sparkgraph.jobs.stats import Config as StatsConfig
from sparkgraph.output import RUNS, read_manifest, read_output
from sparkgraph.ppr import QueryParams, WalkIndex, query

REPO = Path(__file__).resolve().parents[1]


def test_precedence_defaults_yaml_flags(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("graph:\n  directed: false\n  duplicates: max\noutput:\n  path: from-yaml\n")
    default = load_config(StatsConfig)
    assert default.graph.directed is None and default.output.path == "output/stats"
    from_yaml = load_config(StatsConfig, str(yaml_file))
    assert (from_yaml.graph.directed, from_yaml.graph.duplicates, from_yaml.output.path) == (False, "max", "from-yaml")
    flagged = load_config(StatsConfig, str(yaml_file), {"graph.duplicates": "first", "spark.shuffle_partitions": "8"})
    assert (flagged.graph.duplicates, flagged.graph.directed, flagged.spark.shuffle_partitions) == ("first", False, 8)
    assert load_config(StatsConfig, None, {"spark.extra": "{spark.sql.ansi.enabled: true}"}).spark.extra == {
        "spark.sql.ansi.enabled": True}


def test_unknown_keys_suggest_the_nearest(tmp_path):
    with pytest.raises(ConfigError, match="unknown configuration key 'graph.direted'; did you mean 'graph.directed'"):
        load_config(StatsConfig, None, {"graph.direted": "true"})
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("output:\n  mod: overwrite\n")
    with pytest.raises(ConfigError, match="did you mean 'output.mode'"):
        load_config(StatsConfig, str(yaml_file))
    with pytest.raises(ConfigError, match="unknown job 'stat'; did you mean 'stats'"):
        get_job("stat")


def test_wrong_types_are_named():
    with pytest.raises(ConfigError, match="spark.shuffle_partitions='many' is not an integer"):
        load_config(StatsConfig, None, {"spark.shuffle_partitions": "many"})
    with pytest.raises(ConfigError, match="graph.unweighted='maybe' is not true or false"):
        load_config(StatsConfig, None, {"graph.unweighted": "maybe"})
    # a string parameter keeps its text even when it looks like a number
    assert load_config(StatsConfig, None, {"output.path": "2024"}).output.path == "2024"


def test_help_lists_every_parameter_with_default_and_meaning(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "stats", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for key in ("--input.dataset", "--graph.directed", "--graph.duplicates", "--output.mode", "--spark.driver_memory"):
        assert key in text
    assert "Repeated edges are merged by sum, max or first" in " ".join(text.split())
    assert '--output.mode STR error (refuse an existing output) or overwrite' in " ".join(text.split())
    assert '[default: "output/stats"]' in " ".join(text.split())


def test_stats_job_runs_and_bad_input_exits_non_zero(spark, tmp_path, capsys):
    out = tmp_path / "stats"
    assert main(["run", "stats", "--input.dataset", "karate", "--output.path", str(out)]) == 0
    assert "vertices" in capsys.readouterr().out
    assert read_output(spark, str(out), "facts").first()["edges"] == 78
    # the same output again without overwrite: refused, one line
    assert main(["run", "stats", "--input.dataset", "karate", "--output.path", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: output") and "overwrite" in err[-1]
    # a file with a negative weight: the validation message, exit 2
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\t1.0\n2\t3\t-4\n")
    assert main(["run", "stats", "--input.path", str(bad), "--output.path", str(tmp_path / "x")]) == 2
    assert "negative weight" in capsys.readouterr().err
    assert_no_output(spark, tmp_path / "x")
    assert main(["run", "stats", "--set", "graph.self_loop=drop"]) == 2
    assert "did you mean 'graph.self_loops'" in capsys.readouterr().err


@pytest.mark.connect
def test_pipeline_job_writes_results_and_report(spark, tmp_path):
    out = tmp_path / "pipeline"
    assert main(["run", "pipeline", "--config", str(REPO / "conf" / "pipeline.yaml"), "--input.dataset", "karate",
                 "--output.path", str(out)]) == 0
    manifest = read_manifest(spark, str(out))
    assert {"facts", "degree_distribution", "degree_distribution.png", "report.md", "ppr"} <= set(manifest["outputs"])
    run = out / RUNS / manifest["run"]
    assert (run / "degree_distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (run / "report.md").read_text()
    assert "| vertices | 34 |" in report and "![degree distribution](degree_distribution.png)" in report
    dist = read_output(spark, str(out), "degree_distribution").toPandas()
    assert dist["vertices"].sum() == 34  # undirected: one out-degree row per vertex
    ppr = read_output(spark, str(out), "ppr").toPandas()
    assert ppr.groupby("source").size().eq(10).all() and ppr["source"].nunique() == 34
    assert "Checked against exact power iteration" in report and "precision@10" in report
    assert "the first of the 20 sources sampled for the check (seed 0)" in report and "| rank |" in report
    assert "## FastRP embedding" in report and "| 10% |" in report and (run / "embedding.png").exists()
    assert read_output(spark, str(out), "embeddings").count() == 34
    assert "## Communities (MinHash + LSH: 128 permutations, Jaccard threshold 0.3" in report
    assert "Agreement with the bundled labels over 34 labelled vertices" in report and "| NMI | ARI |" in report
    assert "![community sizes](community_sizes.png)" in report
    assert (run / "community_sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_output(spark, str(out), "communities").count() == 34
    assert "## k-medoids of the FastRP embedding (k=7, cosine, partitioned, lab start, seed 0)" in report
    assert "| purity | NMI | ARI |" in report and (run / "cluster_sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    clusters = read_output(spark, str(out), "clusters").toPandas()
    assert len(clusters) == 34 and sorted(clusters["cluster"].unique()) == list(range(7))
    assert manifest["seed"] == 0 and manifest["parameters"]["input"] == {"dataset": "karate"}


def test_ppr_job_with_chosen_sources_and_a_bad_one(spark, tmp_path, capsys):
    out = tmp_path / "ppr"
    assert main(["run", "ppr", "--config", "conf/ppr.yaml", "--input.dataset", "karate", "--sources.ids", "1,34",
                 "--ppr.top_k", "5", "--ppr.walks_per_source", "500", "--output.path", str(out)]) == 0
    scores = read_output(spark, str(out), "scores").toPandas()
    assert sorted(scores["source"].unique()) == [1, 34] and len(scores) == 10
    assert main(["run", "ppr", "--input.dataset", "karate", "--sources.ids", "1,77",
                 "--output.path", str(tmp_path / "bad")]) == 2
    assert "source ids not in the graph: [77]" in capsys.readouterr().err
    assert_no_output(spark, tmp_path / "bad")
    assert main(["run", "ppr", "--input.dataset", "karate", "--ppr.restart_prob", "0",
                 "--output.path", str(tmp_path / "bad")]) == 2
    assert "restart_prob=0.0 must be in (0, 1)" in capsys.readouterr().err


@pytest.mark.connect
def test_walk_index_and_query_jobs(spark, tmp_path, capsys):
    index, answers = tmp_path / "index", tmp_path / "answers"
    assert main(["run", "walk_index", "--config", "conf/walk_index.yaml", "--input.dataset", "karate",
                 "--index.walks_per_vertex", "300", "--output.path", str(index)]) == 0
    summary = capsys.readouterr().out
    assert "fingerprint_entries" in summary
    # each phase timed once, in the summary and the manifest alike; the whole run's seconds besides
    phases = read_manifest(spark, str(index))["phases"]
    assert set(phases) == {"build graph", "fingerprints", "save"} and all(v >= 0 for v in phases.values())
    assert str(phases) in summary and "seconds" in summary
    assert main(["run", "ppr_query", "--config", "conf/ppr_query.yaml", "--index.path", str(index),
                 "--sources.ids", "1,34", "--query.top_k", "3", "--output.path", str(answers)]) == 0
    # the job is the API's query over the saved index (its accuracy is tested in test_ppr)
    got = read_output(spark, str(answers), "scores").toPandas().sort_values(["source", "target"])
    expected = (query(WalkIndex.load(spark, str(index)), [1, 34], QueryParams(top_k=3)).toPandas()
                .sort_values(["source", "target"]))
    assert len(got) == 6 and got[["source", "target"]].values.tolist() == expected[["source", "target"]].values.tolist()
    assert got["score"].to_numpy() == pytest.approx(expected["score"].to_numpy())
    assert main(["run", "ppr_query", "--index.path", str(index), "--sources.ids", "1,99",
                 "--output.path", str(tmp_path / "bad")]) == 2
    assert "source ids not in the graph: [99]" in capsys.readouterr().err
    assert main(["run", "ppr_query", "--index.path", str(index), "--output.path", str(tmp_path / "bad")]) == 2
    assert "ppr_query answers chosen sources: set sources.ids or sources.path" in capsys.readouterr().err
    assert_no_output(spark, tmp_path / "bad")


def test_embed_job_writes_the_embeddings_of_the_api(spark, tmp_path):
    from sparkgraph.datasets import load_graph
    from sparkgraph.embed import FastRPParams, fastrp

    out = tmp_path / "embed"
    assert main(["run", "embed", "--config", str(REPO / "conf" / "embed.yaml"), "--input.dataset", "karate",
                 "--fastrp.dimension", "16", "--fastrp.iteration_weights", "0,1,2", "--output.path", str(out)]) == 0
    got = read_output(spark, str(out), "embeddings").orderBy("id").toPandas()
    params = FastRPParams(dimension=16, iteration_weights=(0.0, 1.0, 2.0))
    expected = fastrp(load_graph(spark, "karate"), params).orderBy("id").toPandas()
    assert got["id"].tolist() == expected["id"].tolist()
    assert all(list(a) == list(b) for a, b in zip(got["embedding"], expected["embedding"], strict=True))
    assert read_manifest(spark, str(out))["parameters"]["fastrp"]["iteration_weights"] == [0.0, 1.0, 2.0]


def test_communities_and_community_query_jobs(spark, tmp_path, capsys):
    from sparkgraph.community import LSHParams
    from sparkgraph.community.index import CommunityIndex

    communities, index, answers = tmp_path / "communities", tmp_path / "index", tmp_path / "answers"
    assert main(["run", "communities", "--config", "conf/communities.yaml", "--input.dataset", "karate",
                 "--communities.rounds", "3", "--output.path", str(communities)]) == 0
    assert "similar_pairs" in capsys.readouterr().out
    found = read_output(spark, str(communities), "communities").toPandas()
    assert sorted(found["id"]) == list(range(1, 35)) and set(found["community"]) <= set(found["id"])
    sizes = read_output(spark, str(communities), "sizes").toPandas()
    assert sizes["size"].sum() == 34 and len(sizes) == found["community"].nunique()
    assert sizes.set_index("community")["size"].to_dict() == found.groupby("community").size().to_dict()
    facts = read_manifest(spark, str(communities))["communities"]
    bands, rows = LSHParams(threshold=0.3).banding(128)
    assert facts["bands_x_rows"] == f"{bands} x {rows}" and facts["rounds"] == 3

    assert main(["run", "communities", "--config", "conf/communities.yaml", "--input.dataset", "karate",
                 "--communities.index", "true", "--output.path", str(index)]) == 0
    assert "index" in capsys.readouterr().out
    api = CommunityIndex.load(str(index))
    expected = [api.query([1, 2, 3], size=6)["id"].tolist(), api.query([33, 34], size=6)["id"].tolist()]
    # seeds as arguments: members and latency on the console, the table in the output
    assert main(["run", "community_query", "--config", "conf/community_query.yaml", "--index.path", str(index),
                 "--query.seeds", "1,2,3;33,34", "--query.size", "6", "--output.path", str(answers)]) == 0
    console = capsys.readouterr().out
    members = ", ".join(str(m) for m in expected[0])
    assert "query 0 seeds 1,2,3: " in console and f" ms, 6 members: {members}" in console
    assert "query 1 seeds 33,34: " in console and "median_query_ms" in console
    table = read_output(spark, str(answers), "members").toPandas().sort_values(["query", "step", "id"])
    assert [table.loc[table["query"] == q, "id"].tolist() for q in (0, 1)] == expected
    # seeds from a file: the same answers
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("# one group per line\n1 2 3\n\n33,34\n")
    assert main(["run", "community_query", "--index.path", str(index), "--query.seeds_path", str(seeds),
                 "--query.size", "6", "--output.path", str(tmp_path / "from_file")]) == 0
    assert f"6 members: {members}" in capsys.readouterr().out
    again = read_output(spark, str(tmp_path / "from_file"), "members").toPandas().sort_values(["query", "step", "id"])
    assert again[["query", "id"]].values.tolist() == table[["query", "id"]].values.tolist()
    # a bad seed in the second group: exit 2, one line, no output at all
    assert main(["run", "community_query", "--index.path", str(index), "--query.seeds", "1,2;33,99",
                 "--output.path", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == "error: seed ids not in the index: [99]; use ids of the indexed graph"
    assert_no_output(spark, tmp_path / "bad")
    assert main(["run", "community_query", "--index.path", str(index), "--query.seeds", "1", "--query.seeds_path",
                 str(seeds), "--output.path", str(tmp_path / "bad")]) == 2
    assert "not both" in capsys.readouterr().err
    assert_no_output(spark, tmp_path / "bad")
