"""The bad-input catalogue: every bad input a user can give, and the one line it must produce.

Command line: exit status 2, exactly one line ``error: ...`` holding the expected words, no
traceback, and nothing left at the output path. Python API: the named ``sparkgraph.errors``
exception with the expected words. Later capabilities add their rows to these two tables.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_no_output

from sparkgraph.cli import main
from sparkgraph.cluster import KMedoidsParams, kmedoids
from sparkgraph.community import CommunityParams, LSHParams, MinHashParams
from sparkgraph.community.index import CommunityIndex, build_community_index
from sparkgraph.community.params import CommunityIndexParams
from sparkgraph.datasets import degree_corrected_partition, load_graph
from sparkgraph.embed import FastRPParams, fastrp, nearest
from sparkgraph.embed.params import PartitionedParams
from sparkgraph.errors import (
    ConfigError,
    DatasetNotFoundError,
    EmptyGraphError,
    GraphTooLargeError,
    InputError,
    InvalidWeightError,
    MissingColumnError,
    NullIdError,
    ParameterError,
    UnknownVertexError,
)
from sparkgraph.graph import Graph, GraphOptions
from sparkgraph.io import read_edges
from sparkgraph.output import atomic_output, read_manifest
from sparkgraph.ppr import (
    PPRParams,
    QueryParams,
    WalkIndex,
    WalkIndexParams,
    build_walk_index,
    fully_ppr,
    query,
)
from sparkgraph.session import SessionConfig

STATS = ["run", "stats", "--input.dataset", "karate", "--output.path", "{out}"]
PPR = ["run", "ppr", "--input.dataset", "karate", "--output.path", "{out}"]
QUERY = ["run", "ppr_query", "--output.path", "{out}"]
WALK_INDEX = ["run", "walk_index", "--input.dataset", "karate", "--output.path", "{out}"]
COMMUNITIES = ["run", "communities", "--input.dataset", "karate", "--output.path", "{out}"]
EDGES = "1\t2\t1.5\n2\t3\t2.0\n3\t1\t1.0\n"

# (case, arguments, files to make first (name -> text; a name ending in / is a folder), words of the error)
CLI_CASES = [
    ("yaml that does not parse", STATS + ["--config", "{tmp}/bad.yaml"], {"bad.yaml": "input: [karate\n"},
     "is not valid YAML at line"),
    ("unknown key in the yaml", STATS + ["--config", "{tmp}/typo.yaml"], {"typo.yaml": "graph:\n  self_loop: drop\n"},
     "did you mean 'graph.self_loops'"),
    ("yaml that is not a mapping", STATS + ["--config", "{tmp}/list.yaml"], {"list.yaml": "- a\n- b\n"},
     "must hold a mapping"),
    ("missing config file", STATS + ["--config", "{tmp}/none.yaml"], {}, "cannot read config file"),
    ("flag typo", PPR + ["--ppr.topk", "5"], {}, "unknown option --ppr.topk; did you mean --ppr.top_k?"),
    ("flag prefix is not taken", PPR + ["--ppr.top", "5"], {}, "unknown option --ppr.top;"),
    ("--set typo", PPR + ["--set", "ppr.topk=5"], {}, "did you mean 'ppr.top_k'"),
    ("--set without =", PPR + ["--set", "ppr.top_k"], {}, "is not KEY=VALUE"),
    ("flag without a value", PPR + ["--ppr.top_k"], {}, "expected one argument"),
    ("unknown job", ["run", "pipelin"], {}, "did you mean 'pipeline'"),
    ("text for an integer", PPR + ["--ppr.top_k", "ten"], {}, "ppr.top_k='ten' is not an integer"),
    ("fraction for an integer", PPR + ["--ppr.walks_per_source", "10.5"], {}, "ppr.walks_per_source=10.5 is not an integer"),
    ("zero top_k", PPR + ["--ppr.top_k", "0"], {}, "ppr.top_k=0 must be at least 1"),
    ("restart probability 1.5", PPR + ["--ppr.restart_prob", "1.5"], {}, "ppr.restart_prob=1.5 must be in (0, 1)"),
    ("negative seed", PPR + ["--ppr.seed", "-1"], {}, "ppr.seed=-1 must be at least 0"),
    ("unknown estimator", PPR + ["--ppr.estimator", "mean"], {}, "ppr.estimator='mean' is not known; use one of"),
    ("push rounds out of range", PPR + ["--ppr.push_rounds", "60"], {}, "ppr.push_rounds=60 must be in [0, 50]"),
    ("count_top below top_k", PPR + ["--ppr.count_top", "5"], {}, "ppr.count_top=5 is below top_k=100"),
    ("smooth with the distributed strategy", PPR + ["--ppr.smooth", "true", "--ppr.strategy", "distributed"], {},
     "ppr.smooth=True needs the whole graph in each task"),
    ("unknown self-loop policy", STATS + ["--graph.self_loops", "remove"], {}, "graph.self_loops='remove' is not known"),
    ("unknown duplicate policy", STATS + ["--graph.duplicates", "avg"], {}, "graph.duplicates='avg' is not known"),
    ("unknown output mode", STATS + ["--output.mode", "replace"], {}, "output.mode='replace' is not known"),
    ("unknown input format", STATS + ["--input.format", "xml"], {}, "input.format='xml' is not known"),
    ("unknown data set", STATS + ["--input.dataset", "nope"], {}, "input.dataset='nope' is not known"),
    ("driver memory that is not a size", STATS + ["--spark.driver_memory", "lots"], {},
     "spark.driver_memory='lots' is not a memory size"),
    ("master that is not a master", STATS + ["--spark.master", "foo"], {}, "spark.master='foo' is not a Spark master"),
    ("shuffle partitions as text", STATS + ["--spark.shuffle_partitions", "many"], {},
     "spark.shuffle_partitions='many' is not an integer"),
    ("negative sample of the pipeline's check", ["run", "pipeline", "--input.dataset", "karate", "--check.sources", "-1",
                                                 "--output.path", "{out}"], {}, "check.sources=-1 must be at least 0"),
    ("missing input file", STATS + ["--input.path", "{tmp}/missing.tsv"], {}, "input.path '{tmp}/missing.tsv' does not exist"),
    ("empty input folder", STATS + ["--input.path", "{tmp}/empty/"], {"empty/": None}, "is an empty folder"),
    ("empty input file", STATS + ["--input.path", "{tmp}/empty.tsv"], {"empty.tsv": ""}, "is empty: it holds no edge lines"),
    ("comments only", STATS + ["--input.path", "{tmp}/comments.tsv"], {"comments.tsv": "# nothing\n"}, "is empty"),
    ("one column", STATS + ["--input.path", "{tmp}/one.tsv"], {"one.tsv": "1\n2\n"}, "does not split into two ids"),
    ("folder of unknown files", STATS + ["--input.path", "{tmp}/odd/"], {"odd/a.bin": "1 2\n"},
     "cannot tell the format of the files"),
    ("folder mixing formats", STATS + ["--input.path", "{tmp}/mixed/"], {"mixed/a.tsv": EDGES, "mixed/b.csv": "1,2\n"},
     "mixes csv and tsv files"),
    ("weights that are not numbers", STATS + ["--input.path", "{tmp}/w.tsv"], {"w.tsv": "1\t2\tabc\n2\t3\t1\n"},
     "1 value of the weight column 'weight' is not a number (e.g. 'abc')"),
    ("weighted csv with a header and a bad weight", STATS + ["--input.path", "{tmp}/h.csv", "--graph.weight", "w"],
     {"h.csv": "from,to,w\na,b,1\nb,c,x\n"}, "value of the weight column 'w' is not a number"),
    ("a weight column that is not there", STATS + ["--input.path", "{tmp}/e.tsv", "--graph.weight", "strength"],
     {"e.tsv": EDGES}, "strength"),
    ("negative weight", STATS + ["--input.path", "{tmp}/neg.tsv"], {"neg.tsv": "1\t2\t1.0\n2\t3\t-4\n"}, "negative weight"),
    ("NaN weight", STATS + ["--input.path", "{tmp}/nan.tsv"], {"nan.tsv": "1\t2\tNaN\n2\t3\t1\n"}, "NaN"),
    ("missing sources file", PPR + ["--sources.path", "{tmp}/ids.txt"], {}, "sources.path '{tmp}/ids.txt' does not exist"),
    ("sources given twice", PPR + ["--sources.ids", "1", "--sources.path", "{tmp}/ids.txt"], {"ids.txt": "1\n"},
     "set sources.ids or sources.path, not both"),
    ("unknown source", PPR + ["--sources.ids", "1,77"], {}, "source ids not in the graph: [77]"),
    ("text sources on integer ids", PPR + ["--sources.ids", "a,b"], {}, "are not integers, but the graph's ids are"),
    ("query without sources", QUERY + ["--index.path", "{tmp}/index"], {"index/manifest.json": "{}"},
     "ppr_query answers chosen sources"),
    ("query of a missing index", QUERY + ["--index.path", "{tmp}/nothing", "--sources.ids", "1"], {},
     "index.path '{tmp}/nothing' does not exist"),
    ("query of a folder that is no index", QUERY + ["--index.path", "{tmp}/plain", "--sources.ids", "1"],
     {"plain/x.txt": "x"}, "holds no manifest.json: it is not a saved walk index"),
    ("prune out of range", QUERY + ["--index.path", "{tmp}/i", "--sources.ids", "1", "--query.prune", "1.5"], {},
     "query.prune=1.5 must be in [0, 1)"),
    ("index walks zero", ["run", "walk_index", "--input.dataset", "karate", "--index.walks_per_vertex", "0",
                          "--output.path", "{out}"], {}, "index.walks_per_vertex=0 must be at least 1"),
    ("ppr dangling discard", PPR + ["--ppr.dangling", "discard"], {},
     "ppr.dangling='discard' is not known; use one of source, stop"),
    ("seed beyond 64 bits", PPR + ["--ppr.seed", "9223372036854775808"], {},
     "ppr.seed=9223372036854775808 must be at most 9223372036854775807"),
    ("removed segment option", PPR + ["--ppr.segment_length", "3"], {}, "unknown option --ppr.segment_length"),
    ("broadcast budget zero", PPR + ["--ppr.broadcast_max_bytes", "0"], {}, "ppr.broadcast_max_bytes=0 must be at least 1"),
    ("shard budget zero", PPR + ["--ppr.shard_max_bytes", "0"], {}, "ppr.shard_max_bytes=0 must be at least 1"),
    ("counts budget negative", PPR + ["--ppr.counts_max_bytes", "-5"], {},
     "ppr.counts_max_bytes=-5 must be at least 1"),
    ("index negative seed", WALK_INDEX + ["--index.seed", "-1"], {}, "index.seed=-1 must be at least 0"),
    ("index dangling discard", WALK_INDEX + ["--index.dangling", "discard"], {},
     "index.dangling='discard' is not known; use one of source, stop"),
    ("index unknown strategy", WALK_INDEX + ["--index.strategy", "joins"], {}, "index.strategy='joins' is not known"),
    ("index shard budget zero", WALK_INDEX + ["--index.shard_max_bytes", "0"], {},
     "index.shard_max_bytes=0 must be at least 1"),
    ("index over an existing output", WALK_INDEX, {"out/manifest.json": "{}"},
     "already exists; remove it or run with output mode 'overwrite'"),
    ("query rounds negative", QUERY + ["--index.path", "{tmp}/i", "--sources.ids", "1", "--query.rounds", "-1"], {},
     "query.rounds=-1 must be at least 0"),
    ("query budget zero", QUERY + ["--index.path", "{tmp}/i", "--sources.ids", "1", "--query.broadcast_max_bytes", "0"],
     {}, "query.broadcast_max_bytes=0 must be at least 1"),
    ("output under a file", ["run", "stats", "--input.dataset", "karate", "--output.path", "{tmp}/afile/out"],
     {"afile": "x"}, "lies under the file"),
    ("output where nothing can be written", ["run", "stats", "--input.dataset", "karate", "--output.path",
                                             "/proc/sparkgraph-out"], {}, "cannot be written"),
    ("output that exists", STATS, {"out/manifest.json": "{}"}, "already exists; remove it or run with output mode 'overwrite'"),
    ("embedding weights all zero", ["run", "embed", "--input.dataset", "karate", "--fastrp.iteration_weights", "0,0",
                                    "--output.path", "{out}"], {}, "fastrp.iteration_weights=[0.0, 0.0] needs at least one"),
    ("embedding weights as words", ["run", "embed", "--input.dataset", "karate", "--fastrp.iteration_weights", "a,b",
                                    "--output.path", "{out}"], {}, "fastrp.iteration_weights=('a', 'b') must be numbers"),
    ("embedding dimension zero", ["run", "embed", "--input.dataset", "karate", "--fastrp.dimension", "0",
                                  "--output.path", "{out}"], {}, "fastrp.dimension=0 must be at least 1"),
    ("degree scaling out of range", ["run", "embed", "--input.dataset", "karate", "--fastrp.normalization_strength",
                                     "-2", "--output.path", "{out}"], {}, "fastrp.normalization_strength=-2.0 must be in [-1, 1]"),
    ("unknown direction", ["run", "embed", "--input.dataset", "karate", "--fastrp.direction", "up",
                           "--output.path", "{out}"], {}, "fastrp.direction='up' is not known; use one of out, in, both"),
    ("sparsity below one", ["run", "embed", "--input.dataset", "karate", "--fastrp.sparsity", "0.5",
                            "--output.path", "{out}"], {}, "fastrp.sparsity=0.5 is not 'sqrt_n' or a number >= 1"),
    ("unknown embedding method", ["run", "embed", "--input.dataset", "karate", "--embedding.method", "node2vec",
                                  "--output.path", "{out}"], {},
     "embedding.method='node2vec' is not known; use one of fastrp, partitioned"),
    ("part size one", ["run", "embed", "--input.dataset", "karate", "--embedding.method", "partitioned",
                       "--partitioned.max_part_size", "1", "--output.path", "{out}"], {},
     "partitioned.max_part_size=1 must be at least 2"),
    ("unknown part embedder", ["run", "embed", "--input.dataset", "karate", "--embedding.method", "partitioned",
                               "--partitioned.embedder", "deepwalk", "--output.path", "{out}"], {},
     "partitioned.embedder='deepwalk' is not known; use one of fastrp, spectral"),
    ("spectral parts too large", ["run", "embed", "--input.dataset", "karate", "--partitioned.embedder", "spectral",
                                  "--partitioned.max_part_size", "50000", "--output.path", "{out}"], {},
     "partitioned.max_part_size=50000 is too large for the spectral embedder"),
    ("features with the partitioned method", ["run", "embed", "--input.dataset", "karate", "--embedding.method",
                                              "partitioned", "--fastrp.feature_dim", "2", "--features.path",
                                              "{tmp}/f.tsv", "--output.path", "{out}"], {"f.tsv": "1\t2\n"},
     "features are not used by the partitioned method"),
    ("features without feature dimensions", ["run", "embed", "--input.dataset", "karate", "--features.path",
                                             "{tmp}/f.parquet", "--output.path", "{out}"], {"f.parquet/": None},
     "features were given but feature_dim is 0; set fastrp.feature_dim"),
    ("features from an empty folder", ["run", "embed", "--input.dataset", "karate", "--features.path", "{tmp}/f/",
                                       "--fastrp.feature_dim", "4", "--output.path", "{out}"], {"f/": None},
     "is an empty folder"),
    ("minhash num_perm zero", COMMUNITIES + ["--minhash.num_perm", "0"], {}, "minhash.num_perm=0 must be at least 1"),
    ("community threshold out of range", COMMUNITIES + ["--lsh.threshold", "1.5"], {},
     "lsh.threshold=1.5 must be in (0, 1)"),
    ("bands x rows over num_perm", COMMUNITIES + ["--minhash.num_perm", "16", "--lsh.bands", "5", "--lsh.rows", "4"], {},
     "bands x rows = 5 x 4 = 20 exceeds num_perm=16"),
    ("community min_recall out of range", COMMUNITIES + ["--lsh.min_recall", "0"], {},
     "lsh.min_recall=0.0 must be in (0, 1)"),
    ("unknown band rule", COMMUNITIES + ["--lsh.band_rule", "best"], {},
     "lsh.band_rule='best' is not known; use one of recall, datasketch"),
    ("community query without seeds", ["run", "community_query", "--index.path", "{tmp}/index", "--output.path", "{out}"],
     {"index/manifest.json": "{}"}, "community_query grows communities from seeds: set query.seeds"),
    ("community query seeds file missing", ["run", "community_query", "--index.path", "{tmp}/index",
                                            "--query.seeds_path", "{tmp}/none.txt", "--output.path", "{out}"],
     {"index/manifest.json": "{}"}, "cannot be read (No such file or directory); give a text file of seed groups"),
    ("community query of a folder that is no index", ["run", "community_query", "--index.path", "{tmp}/plain",
                                                      "--query.seeds", "1", "--output.path", "{out}"],
     {"plain/x.txt": "x"}, "it is not a saved community index"),
    ("kmedoids unknown metric", ["run", "kmedoids", "--input.dataset", "karate", "--kmedoids.metric", "l1",
                                 "--output.path", "{out}"], {}, "kmedoids.metric='l1' is not known; use one of euclidean"),
    ("kmedoids k above the vertices", ["run", "kmedoids", "--input.dataset", "karate", "--kmedoids.metric", "hop",
                                       "--kmedoids.k", "50", "--output.path", "{out}"], {},
     "k=50 is above the number of vertices (34); give k <= 34"),
    ("kmedoids points that do not exist", ["run", "kmedoids", "--points.path", "{tmp}/none.parquet", "--output.path",
                                           "{out}"], {}, "input path '{tmp}/none.parquet' does not exist"),
    ("overwrite of a folder that is no output", STATS + ["--output.mode", "overwrite"], {"out/thesis.tex": "years of work"},
     "not a sparkgraph output"),
]


def _make(tmp: Path, files: dict) -> None:
    for name, text in files.items():
        path = tmp / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("case,args,files,words", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_command_line(spark, tmp_path, capsys, case, args, files, words):
    _make(tmp_path, files)
    out = tmp_path / "out"
    existed = out.exists()
    before = sorted(p.name for p in out.iterdir()) if existed else []
    fill = {"tmp": str(tmp_path), "out": str(out)}
    assert main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert words.format(**fill) in errors[0], errors[0]
    if existed:  # a refused run leaves what was there untouched
        assert sorted(p.name for p in out.iterdir()) == before
    else:
        assert_no_output(spark, out)


def test_bad_spark_settings_are_refused_before_spark_starts(tmp_path):
    """No session is active in a fresh process: the message comes before any JVM would start."""
    done = subprocess.run([sys.executable, "-m", "sparkgraph.cli", "run", "stats", "--spark.driver_memory", "lots",
                           "--output.path", str(tmp_path / "o")], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYSPARK_PYTHON=sys.executable))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: spark.driver_memory='lots' is not a memory size; give e.g. 4g or 512m"]


@pytest.fixture(scope="module")
def karate(spark):
    return load_graph(spark, "karate")


# (case, call(spark, karate graph, tmp folder), the exception, words of its message)
API_CASES = [
    ("top_k as text", lambda s, g, t: PPRParams(top_k="10"), ParameterError, "top_k='10' is not an integer"),
    ("fractional walks", lambda s, g, t: PPRParams(walks_per_source=10.5), ParameterError, "walks_per_source=10.5 is not an integer"),
    ("boolean for an integer", lambda s, g, t: PPRParams(top_k=True), ParameterError, "top_k=True is not an integer"),
    ("negative seed", lambda s, g, t: PPRParams(seed=-3), ParameterError, "seed=-3 must be at least 0"),
    ("NaN restart probability", lambda s, g, t: PPRParams(restart_prob=math.nan), ParameterError, "is not a finite number"),
    ("unknown strategy", lambda s, g, t: PPRParams(strategy="joins"), ParameterError, "strategy='joins' is not known"),
    ("prune 1.5", lambda s, g, t: QueryParams(prune=1.5), ParameterError, "prune=1.5 must be in [0, 1)"),
    ("query strategy", lambda s, g, t: QueryParams(strategy="joins"), ParameterError, "use one of auto, broadcast, distributed"),
    ("index walks zero", lambda s, g, t: WalkIndexParams(walks_per_vertex=0), ParameterError, "walks_per_vertex=0 must be at least 1"),
    ("index dangling discard", lambda s, g, t: WalkIndexParams(dangling="discard"), ParameterError, "dangling='discard' is not known"),
    ("ppr dangling discard", lambda s, g, t: PPRParams(dangling="discard"), ParameterError,
     "dangling='discard' is not known; use one of source, stop"),
    ("seed beyond 64 bits", lambda s, g, t: PPRParams(seed=2**63), ParameterError,
     "seed=9223372036854775808 must be at most 9223372036854775807"),
    ("count_top zero", lambda s, g, t: PPRParams(count_top=0), ParameterError, "count_top=0 must be at least 1"),
    ("generator mixing over 1", lambda s, g, t: degree_corrected_partition(s, 100, 4, mixing=1.5), ParameterError,
     "mixing=1.5 is not a probability; use a value in [0, 1]"),
    ("generator exponent of 2", lambda s, g, t: degree_corrected_partition(s, 100, 4, exponent=2.0), ParameterError,
     "exponent=2.0 must be > 2 for a finite mean degree"),
    ("generator with more blocks than vertices", lambda s, g, t: degree_corrected_partition(s, 10, 20),
     ParameterError, "need 1 <= blocks <= n, got blocks=20, n=10"),
    ("generator mean degree zero", lambda s, g, t: degree_corrected_partition(s, 100, 4, mean_degree=0),
     ParameterError, "mean_degree=0 must be > 0"),
    ("smooth as text", lambda s, g, t: PPRParams(smooth="yes"), ParameterError, "smooth='yes' is not true or false"),
    ("smooth with the distributed strategy", lambda s, g, t: PPRParams(smooth=True, strategy="distributed"),
     ParameterError, "smooth=True needs the whole graph in each task"),
    ("smooth with every entry asked for", lambda s, g, t: fully_ppr(g, PPRParams(smooth=True), top_k=False),
     ParameterError, "smooth=True re-estimates each source's top_k + 20 entries, but every entry was asked for"),
    ("smooth on a graph over the broadcast budget",
     lambda s, g, t: fully_ppr(g, PPRParams(smooth=True, broadcast_max_bytes=1000)), ParameterError,
     "over broadcast_max_bytes=1,000: raise broadcast_max_bytes if the executors hold it, or leave smooth false"),
    ("counts budget as text", lambda s, g, t: PPRParams(counts_max_bytes="2g"), ParameterError,
     "counts_max_bytes='2g' is not an integer"),
    ("walks per batch zero", lambda s, g, t: PPRParams(walks_per_batch=0), ParameterError,
     "walks_per_batch=0 must be at least 1"),
    ("broadcast budget as text", lambda s, g, t: PPRParams(broadcast_max_bytes="1g"), ParameterError,
     "broadcast_max_bytes='1g' is not an integer"),
    ("shard budget as text", lambda s, g, t: PPRParams(shard_max_bytes="64m"), ParameterError,
     "shard_max_bytes='64m' is not an integer"),
    ("index negative seed", lambda s, g, t: WalkIndexParams(seed=-1), ParameterError, "seed=-1 must be at least 0"),
    ("index seed beyond 64 bits", lambda s, g, t: WalkIndexParams(seed=2**64), ParameterError,
     "seed=18446744073709551616 must be at most 9223372036854775807"),
    ("index broadcast budget as text", lambda s, g, t: WalkIndexParams(broadcast_max_bytes="1g"), ParameterError,
     "broadcast_max_bytes='1g' is not an integer"),
    ("index fingerprint size zero", lambda s, g, t: WalkIndexParams(fingerprint_size=0), ParameterError,
     "fingerprint_size=0 must be at least 1"),
    ("index restart probability 1", lambda s, g, t: WalkIndexParams(restart_prob=1), ParameterError,
     "restart_prob=1.0 must be in (0, 1)"),
    ("query rounds negative", lambda s, g, t: QueryParams(rounds=-1), ParameterError, "rounds=-1 must be at least 0"),
    ("query budget zero", lambda s, g, t: QueryParams(broadcast_max_bytes=0), ParameterError,
     "broadcast_max_bytes=0 must be at least 1"),
    ("query sources per batch zero", lambda s, g, t: QueryParams(sources_per_batch=0), ParameterError,
     "sources_per_batch=0 must be at least 1"),
    ("query of an index over the broadcast budget", lambda s, g, t: query(
        _walk_index(g), [1], QueryParams(strategy="broadcast", broadcast_max_bytes=100)), GraphTooLargeError,
     "over the 500 bytes allowed (5 x broadcast_max_bytes=100); raise QueryParams.broadcast_max_bytes"),
    ("duplicate policy", lambda s, g, t: GraphOptions(duplicates="avg"), ParameterError, "duplicates='avg' is not known"),
    ("session memory", lambda s, g, t: SessionConfig(driver_memory="lots"), ParameterError, "is not a memory size"),
    ("session remote", lambda s, g, t: SessionConfig(remote="http://x"), ParameterError, "is not a Spark Connect address"),
    ("sources as a number", lambda s, g, t: fully_ppr(g, PPRParams(), sources=1), ParameterError,
     "sources=1 is not a list of ids or a one-column DataFrame; pass e.g. sources=[1]"),
    ("sources as a string", lambda s, g, t: fully_ppr(g, PPRParams(), sources="1"), ParameterError, "is not a list of ids"),
    ("count_top with every entry asked for", lambda s, g, t: fully_ppr(g, PPRParams(count_top=200), top_k=False),
     ParameterError, "count_top=200 trims the counts, but every entry was asked for (top_k=False)"),
    ("text sources on integer ids", lambda s, g, t: fully_ppr(g, PPRParams(), sources=["1"]), ParameterError,
     "source ids ['1'] are not integers, but the graph's ids are"),
    ("no sources", lambda s, g, t: fully_ppr(g, PPRParams(), sources=[]), ParameterError, "the source list is empty"),
    ("a None source", lambda s, g, t: fully_ppr(g, PPRParams(), sources=[1, None]), NullIdError, "a source id is None"),
    ("unknown source", lambda s, g, t: fully_ppr(g, PPRParams(), sources=[1, 99]), UnknownVertexError, "[99]"),
    ("source table of text", lambda s, g, t: fully_ppr(g, PPRParams(), sources=s.createDataFrame([("x",)], "id string")),
     ParameterError, "source ids ['x'] are not integers"),
    ("missing input", lambda s, g, t: read_edges(s, str(t / "none.tsv")), DatasetNotFoundError, "does not exist"),
    ("unknown read format", lambda s, g, t: read_edges(s, str(t), fmt="xml"), ParameterError, "format 'xml' is not supported"),
    ("unknown output mode", lambda s, g, t: atomic_output(s, str(t / "o"), mode="replace").__enter__(), ParameterError,
     "output mode 'replace' is not known"),
    ("not an output", lambda s, g, t: read_manifest(s, str(t)), DatasetNotFoundError, "not a complete sparkgraph output"),
    ("an output that is not an index", lambda s, g, t: _not_an_index(s, t), ParameterError, "not a walk index"),
    ("edges without dst", lambda s, g, t: Graph.from_edges(s.createDataFrame([(1, 2)], "src long, to long")),
     MissingColumnError, "dst"),
    ("null endpoint", lambda s, g, t: Graph.from_edges(s.createDataFrame([(1, None)], "src long, dst long")), NullIdError, "null"),
    ("negative weight", lambda s, g, t: Graph.from_edges(s.createDataFrame([(1, 2, -1.0)], "src long, dst long, weight double"),
                                                        weight="weight"), InvalidWeightError, "negative"),
    ("no edges", lambda s, g, t: Graph.from_edges(s.createDataFrame([], "src long, dst long")), EmptyGraphError, "empty"),
    ("pandas edges", lambda s, g, t: Graph.from_edges(pd.DataFrame({"src": [1], "dst": [2]})), ParameterError,
     "edges must be a Spark DataFrame, not pandas.core.frame.DataFrame: convert it with spark.createDataFrame(edges)"),
    ("list of vertices", lambda s, g, t: Graph.from_edges(s.createDataFrame([(1, 2)], "src long, dst long"), [1, 2]),
     ParameterError, "vertices must be a Spark DataFrame, not builtins.list: convert it with "
                     "spark.createDataFrame([(v,) for v in vertices], 'id long')"),
    ("fastrp dimension", lambda s, g, t: FastRPParams(dimension=0), ParameterError, "dimension=0 must be at least 1"),
    ("fastrp empty weights", lambda s, g, t: FastRPParams(iteration_weights=[]), ParameterError,
     "iteration_weights=[] needs at least one non-zero weight"),
    ("fastrp zero weights", lambda s, g, t: FastRPParams(iteration_weights=(0, 0)), ParameterError, "needs at least one"),
    ("fastrp beta", lambda s, g, t: FastRPParams(normalization_strength=1.5), ParameterError, "must be in [-1, 1]"),
    ("fastrp direction", lambda s, g, t: FastRPParams(direction="up"), ParameterError, "direction='up' is not known"),
    ("fastrp feature_dim too large", lambda s, g, t: FastRPParams(dimension=8, feature_dim=8), ParameterError,
     "feature_dim=8 must be below dimension=8"),
    ("features with missing ids", lambda s, g, t: fastrp(g, FastRPParams(dimension=8, feature_dim=2),
                                                         _features(s, g, drop=1)), InputError, "1 vertices have no features"),
    ("features with NaN", lambda s, g, t: fastrp(g, FastRPParams(dimension=8, feature_dim=2), _features(s, g, nan=True)),
     InputError, "hold NaN or null values"),
    ("features of two lengths", lambda s, g, t: fastrp(g, FastRPParams(dimension=8, feature_dim=2),
                                                       _features(s, g, ragged=True)), InputError, "different lengths"),
    ("partitioned levels negative", lambda s, g, t: PartitionedParams(max_levels=-1), ParameterError,
     "max_levels=-1 must be at least 0"),
    ("partitioned rounds zero", lambda s, g, t: PartitionedParams(partition_rounds=0), ParameterError,
     "partition_rounds=0 must be at least 1"),
    ("partitioned community rounds negative", lambda s, g, t: PartitionedParams(community_rounds=-1), ParameterError,
     "community_rounds=-1 must be at least 0"),
    ("partitioned unknown strategy", lambda s, g, t: PartitionedParams(strategy="metis"), ParameterError,
     "strategy='metis' is not known; use one of auto, single, distributed"),
    ("partitioned window zero", lambda s, g, t: PartitionedParams(window=0), ParameterError, "window=0 must be at least 1"),
    ("partitioned negative b", lambda s, g, t: PartitionedParams(negative=0), ParameterError,
     "negative=0.0 must be in (0, inf]"),
    ("partitioned fusion weights all zero", lambda s, g, t: PartitionedParams(fusion_weights=(0, 0)), ParameterError,
     "fusion_weights=[0, 0] needs at least one non-zero weight"),
    ("partitioned fusion weights as words", lambda s, g, t: PartitionedParams(fusion_weights="a,b"), ParameterError,
     "fusion_weights='a,b' must be numbers"),
    ("partitioned negative seed", lambda s, g, t: PartitionedParams(seed=-1), ParameterError, "seed=-1 must be at least 0"),
    ("nearest to an unknown vertex", lambda s, g, t: nearest(fastrp(g, FastRPParams(dimension=8)), [1, 99]),
     UnknownVertexError, "query ids without an embedding: [99]"),
    ("nearest with k zero", lambda s, g, t: nearest(fastrp(g, FastRPParams(dimension=8)), [1], k=0), ParameterError,
     "k=0 must be a positive integer"),
    ("minhash num_perm zero", lambda s, g, t: MinHashParams(num_perm=0), ParameterError, "num_perm=0 must be at least 1"),
    ("unknown neighbourhood", lambda s, g, t: MinHashParams(neighbourhood="both"), ParameterError,
     "neighbourhood='both' is not known; use one of out, in, all"),
    ("lsh threshold 1.5", lambda s, g, t: LSHParams(threshold=1.5), ParameterError, "threshold=1.5 must be in (0, 1)"),
    ("lsh threshold 0", lambda s, g, t: LSHParams(threshold=0), ParameterError, "threshold=0.0 must be in (0, 1)"),
    ("bands without rows", lambda s, g, t: LSHParams(bands=4), ParameterError, "give both or neither"),
    ("lsh min_recall 1", lambda s, g, t: LSHParams(min_recall=1.0), ParameterError, "min_recall=1.0 must be in (0, 1)"),
    ("lsh band rule unknown", lambda s, g, t: LSHParams(band_rule="optimal"), ParameterError,
     "band_rule='optimal' is not known; use one of recall, datasketch"),
    ("min_recall out of reach", lambda s, g, t: CommunityParams(minhash=MinHashParams(num_perm=4),
                                                                lsh=LSHParams(threshold=0.05)), ParameterError,
     "no banding of num_perm=4 reaches min_recall=0.95 at threshold=0.05 (at most 0.185)"),
    ("bands x rows over num_perm", lambda s, g, t: CommunityParams(minhash=MinHashParams(num_perm=16),
                                                                   lsh=LSHParams(bands=5, rows=4)),
     ParameterError, "bands x rows = 5 x 4 = 20 exceeds num_perm=16"),
    ("unknown community method", lambda s, g, t: CommunityParams(method="louvain"), ParameterError,
     "method='louvain' is not known; use one of label_propagation, components"),
    ("unknown seed", lambda s, g, t: _community_index(s, g).query([1, 99], size=5), UnknownVertexError,
     "seed ids not in the index: [99]"),
    ("duplicate seed", lambda s, g, t: _community_index(s, g).query([1, 2, 1], size=5), ParameterError,
     "seed ids given twice: [1]; give each seed once"),
    ("size below the seeds", lambda s, g, t: _community_index(s, g).query([1, 2], size=1), ParameterError,
     "size=1 must be a whole number at least the number of seeds (2)"),
    ("no seeds", lambda s, g, t: _community_index(s, g).query([], size=3), ParameterError, "the seed list is empty"),
    ("max_candidates zero", lambda s, g, t: _community_index(s, g).query([1, 2], size=3, max_candidates=0),
     ParameterError, "max_candidates=0 must be 'auto', None or a positive whole number"),
    ("community index from a plain folder", lambda s, g, t: CommunityIndex.load(str(t)), DatasetNotFoundError,
     "it is not a saved community index"),
    ("community index from another output", lambda s, g, t: _not_a_community_index(s, t), ParameterError,
     "holds a 'stats' output, not a community index"),
    ("community index built with other params", lambda s, g, t: CommunityIndex.load(
        _community_index(s, g).path, CommunityIndexParams(minhash=MinHashParams(num_perm=8))), ParameterError,
     "was built with"),
    ("kmedoids k zero", lambda s, g, t: KMedoidsParams(k=0), ParameterError, "k=0 must be at least 1"),
    ("kmedoids unknown metric", lambda s, g, t: KMedoidsParams(metric="manhattan"), ParameterError,
     "metric='manhattan' is not known; use one of euclidean, cosine, jaccard, hop"),
    ("kmedoids unknown method", lambda s, g, t: KMedoidsParams(method="pam"), ParameterError,
     "method='pam' is not known; use one of auto, clara, partitioned"),
    ("kmedoids hop partitioned", lambda s, g, t: KMedoidsParams(metric="hop", method="partitioned"), ParameterError,
     "use method: clara"),
    ("kmedoids group below 2k", lambda s, g, t: KMedoidsParams(k=10, group_size=15), ParameterError,
     "group_size=15 is below 2k=20"),
    ("kmedoids sample below k", lambda s, g, t: KMedoidsParams(k=10, sample_size=5), ParameterError,
     "sample_size=5 is below k=10"),
    ("kmedoids k above n", lambda s, g, t: kmedoids(_points(s), KMedoidsParams(k=5)), ParameterError,
     "k=5 is above the number of points (3); give k <= 3"),
    ("kmedoids NaN vector", lambda s, g, t: kmedoids(_points(s, [(4, [math.nan, 1.0])]), KMedoidsParams(k=1)),
     InputError, "1 vectors of 'vector' hold NaN or infinite values"),
    ("kmedoids infinite vector", lambda s, g, t: kmedoids(_points(s, [(4, [math.inf, 1.0])]), KMedoidsParams(k=1)),
     InputError, "hold NaN or infinite values"),
    ("kmedoids mixed lengths", lambda s, g, t: kmedoids(_points(s, [(4, [1.0])]), KMedoidsParams(k=1)), InputError,
     "holds vectors of different lengths (1 to 2)"),
    ("kmedoids null id", lambda s, g, t: kmedoids(_points(s, [(None, [1.0, 1.0])]), KMedoidsParams(k=1)), NullIdError,
     "1 points have a null 'id'"),
    ("kmedoids repeated id", lambda s, g, t: kmedoids(_points(s, [(2, [1.0, 1.0])]), KMedoidsParams(k=1)), InputError,
     "1 ids of 'id' repeat"),
    ("kmedoids missing vector", lambda s, g, t: kmedoids(_points(s, [(9, None)]), KMedoidsParams(k=1)), InputError,
     "1 points have no 'vector'"),
    ("kmedoids no rows", lambda s, g, t: kmedoids(_points(s, [], keep=0), KMedoidsParams(k=1)), EmptyGraphError,
     "the data has no rows"),
    ("kmedoids no vector column", lambda s, g, t: kmedoids(s.createDataFrame([(1, "a")], "id long, name string"),
                                                           KMedoidsParams(k=1)), MissingColumnError,
     "needs one array or vector column besides 'id', found none; set vector_column"),
    ("kmedoids no id column", lambda s, g, t: kmedoids(_points(s), KMedoidsParams(k=1, id_column="node")),
     MissingColumnError, "has no id column 'node'"),
    ("kmedoids graph with a vector metric", lambda s, g, t: kmedoids(g, KMedoidsParams()), ParameterError,
     "a Graph gives hop distances but metric='euclidean'"),
    ("kmedoids hop on a table", lambda s, g, t: kmedoids(_points(s), KMedoidsParams(k=1, metric="hop")),
     ParameterError, "metric='hop' needs a Graph"),
    ("kmedoids signatures with euclidean", lambda s, g, t: kmedoids(
        s.createDataFrame([(1, [3, 4])], "id long, sig array<long>"), KMedoidsParams(k=1)), ParameterError,
     "holds integers (MinHash signatures) but metric='euclidean'; use metric: jaccard"),
    ("kmedoids jaccard on floats", lambda s, g, t: kmedoids(_points(s), KMedoidsParams(k=1, metric="jaccard")),
     ParameterError, "metric='jaccard' compares MinHash signatures"),
    ("kmedoids hop k above n", lambda s, g, t: kmedoids(g, KMedoidsParams(k=40, metric="hop")), ParameterError,
     "k=40 is above the number of vertices (34)"),
    ("config section key", lambda s, g, t: _load_with(t, "ppr:\n  top_k: 0\n"), ParameterError, "ppr.top_k=0 must be at least 1"),
    ("config type", lambda s, g, t: _load_with(t, "ppr:\n  top_k: many\n"), ConfigError, "ppr.top_k='many' is not an integer"),
]


def _features(spark, graph, drop: int = 0, nan: bool = False, ragged: bool = False):
    rows = [(i, [float(i), 1.0]) for i in range(1, 35)][drop:]
    if nan:
        rows[0] = (rows[0][0], [math.nan, 1.0])
    if ragged:
        rows[0] = (rows[0][0], [1.0])
    return spark.createDataFrame(rows, "id long, values array<double>")


def _points(spark, extra: list | None = None, keep: int = 3):
    """Three good points (ids 1..3, two coordinates) and the given extra rows."""
    rows = [(i, [float(i), 1.0]) for i in range(1, 4)][:keep] + (extra or [])
    return spark.createDataFrame(rows, "id long, vector array<double>")


def _not_an_index(spark, tmp: Path):
    with atomic_output(spark, str(tmp / "stats"), job="stats") as out:
        out.write_text("note.md", "not an index")
    return WalkIndex.load(spark, str(tmp / "stats"))


_INDEXES: dict = {}


def _walk_index(graph) -> WalkIndex:
    """A small walk index of karate, built once per test session."""
    if "walk" not in _INDEXES:
        _INDEXES["walk"] = build_walk_index(graph, WalkIndexParams(walks_per_vertex=50, fingerprint_size=5))
    return _INDEXES["walk"]


def _community_index(spark, graph) -> CommunityIndex:
    """A small community index of karate, built once per test session."""
    if "karate" not in _INDEXES:
        path = tempfile.mkdtemp(prefix="sparkgraph-community-") + "/index"
        build_community_index(graph, path, CommunityIndexParams(minhash=MinHashParams(num_perm=16)))
        _INDEXES["karate"] = CommunityIndex.load(path)
        _INDEXES["karate"].path = path
    return _INDEXES["karate"]


def _not_a_community_index(spark, tmp: Path):
    with atomic_output(spark, str(tmp / "stats"), job="stats") as out:
        out.write_text("note.md", "not an index")
    return CommunityIndex.load(str(tmp / "stats"))


def _load_with(tmp: Path, text: str):
    from sparkgraph.config import load_config
    from sparkgraph.jobs.ppr import Config

    (tmp / "c.yaml").write_text(text)
    return load_config(Config, str(tmp / "c.yaml"))


@pytest.mark.connect
@pytest.mark.parametrize("case,call,error,words", API_CASES, ids=[c[0] for c in API_CASES])
def test_python_api(spark, karate, tmp_path, case, call, error, words):
    with pytest.raises(error) as caught:
        call(spark, karate, tmp_path)
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_walk_index_refuses_an_existing_output_before_walking(tmp_path, capsys, monkeypatch):
    """The output path is checked first: an index is not built only to be refused at the end."""
    import sparkgraph.jobs.walk_index as job

    def fail(*args, **kwargs):
        raise AssertionError("the index was built before the output path was checked")

    monkeypatch.setattr(job, "build_walk_index", fail)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.json").write_text("{}")
    assert main(["run", "walk_index", "--input.dataset", "karate", "--output.path", str(tmp_path / "out")]) == 2
    assert "already exists; remove it or run with output mode 'overwrite'" in capsys.readouterr().err


def test_the_catalogue_keeps_growing():
    assert len(CLI_CASES) + len(API_CASES) >= 40
