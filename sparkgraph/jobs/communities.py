"""Whole-graph MinHash + LSH communities (table ``communities (id, community)`` and ``sizes``), or,
with ``index.build: true``, a saved community index for the community_query job."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sparkgraph.community import CommunityParams, LSHParams, MinHashParams, lsh_communities
from sparkgraph.community.index import build_community_index
from sparkgraph.community.params import METHODS, CommunityIndexParams
from sparkgraph.jobs.common import (
    GraphConfig,
    InputConfig,
    OutputConfig,
    format_facts,
    input_label,
    job_parameters,
    read_input_graph,
)
from sparkgraph.output import atomic_output, check_output
from sparkgraph.params import at_least, one_of, param, validate
from sparkgraph.session import SessionConfig


@dataclass(frozen=True)
class CommunitiesConfig:
    """The community step (see :class:`~sparkgraph.community.CommunityParams`).

    Attributes:
        method: label_propagation or components.
        graph_edges_only: Keep only similar pairs that are also graph edges.
        rounds: Label propagation rounds.
        index: Instead of communities, save a community index (signatures and band buckets) at output.path.
    """

    method: str = param("label_propagation", one_of(*METHODS))
    graph_edges_only: bool = False
    rounds: int = param(10, at_least(1))
    index: bool = False

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    minhash: MinHashParams = field(default_factory=MinHashParams)
    lsh: LSHParams = field(default_factory=LSHParams)
    communities: CommunitiesConfig = field(default_factory=CommunitiesConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(path="output/communities"))
    spark: SessionConfig = field(default_factory=SessionConfig)


def run(spark: SparkSession, config: Config) -> dict:
    c = config.communities
    if c.index:
        index_params = CommunityIndexParams(config.minhash, config.lsh)
        check_output(spark, config.output.path, config.output.mode)  # before the work, not after
        graph, source = read_input_graph(spark, config.input, config.graph)
        facts = build_community_index(graph, config.output.path, index_params, config.output.mode)
        return {"input": input_label(source), "output": config.output.path, "vertices": graph.n, "edges": graph.m,
                "index": "saved", "bands_x_rows": f"{facts['bands']} x {facts['rows']}",
                "split_buckets": facts["split_buckets"], "dropped_pairs": facts["dropped_pairs"]}
    params = CommunityParams(config.minhash, config.lsh, method=c.method, graph_edges_only=c.graph_edges_only,
                             rounds=c.rounds)
    with atomic_output(spark, config.output.path, config.output.mode, job="communities",
                       params=job_parameters(config), seed=config.minhash.seed) as out:
        with out.phase("build graph"):
            graph, source = read_input_graph(spark, config.input, config.graph)
            out.record_input(input_label(source), **source, vertices=graph.n, edges=graph.m)
        with out.phase("communities"):
            result = lsh_communities(graph, params)
            rows = out.write_table("communities", result.communities)
            count = out.write_table("sizes", result.sizes)
        facts = {"threshold": result.threshold, "bands_x_rows": f"{result.bands} x {result.rows}",
                 "similar_pairs": result.similar_pairs, "split_buckets": result.split_buckets,
                 "dropped_pairs": result.dropped_pairs, "rounds": result.rounds}
        out.manifest["communities"] = facts
        largest = result.sizes.limit(1).collect()
        result.unpersist()
    return {"input": input_label(source), "output": config.output.path, "vertices": graph.n, "edges": graph.m,
            "members": rows, "communities": count, "largest": int(largest[0]["size"]) if largest else 0, **facts,
            "phases": out.manifest["phases"]}


format_summary = format_facts
