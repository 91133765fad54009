"""Whole-graph communities from MinHash + LSH (Chamberlain et al. 2018, section on Spark).

signatures -> candidate pairs -> similarity graph (pairs whose estimated Jaccard reaches the
threshold, optionally only graph edges) -> connected components or weighted label propagation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph.community.components import connected_components, label_propagation
from sparkgraph.community.lsh import lsh_candidates
from sparkgraph.community.minhash import minhash_signatures, neighbour_sets
from sparkgraph.community.params import CommunityParams
from sparkgraph.graph import Graph
from sparkgraph.session import release, truncate_lineage

log = logging.getLogger(__name__)


@dataclass
class CommunityResult:
    """What :func:`lsh_communities` found.

    ``communities`` and ``sizes`` are read from a persisted label table: call :meth:`unpersist`
    once they are written or collected.

    Attributes:
        communities: ``(id, community)`` in the caller's ids; ``community`` is the caller's id of
            one member (the smallest dense id for components, the winning label otherwise).
        sizes: ``(community, size)``, largest first.
        threshold, bands, rows: The Jaccard threshold and the (b, r) used.
        similar_pairs: Edges of the similarity graph.
        split_buckets, dropped_pairs: From the banding (see :class:`~sparkgraph.community.lsh.Candidates`).
        rounds: Rounds of the community step.
    """

    communities: DataFrame
    sizes: DataFrame
    threshold: float
    bands: int
    rows: int
    similar_pairs: int
    split_buckets: int
    dropped_pairs: int
    rounds: int
    labels: DataFrame

    def unpersist(self) -> None:
        """Release the persisted labels ``communities`` and ``sizes`` are read from."""
        self.labels.unpersist()


def lsh_communities(graph: Graph, params: CommunityParams | None = None) -> CommunityResult:
    """Communities of vertices with similar neighbourhoods.

    Args:
        graph: The graph.
        params: :class:`CommunityParams` (minhash, lsh, method, graph_edges_only, rounds).

    Returns:
        :class:`CommunityResult` with ``communities (id, community)`` in the caller's ids (call
        its ``unpersist()`` when done with it).

    Example:
        >>> result = lsh_communities(graph, CommunityParams(lsh=LSHParams(threshold=0.3)))
        >>> result.sizes.show(5); result.bands, result.rows
        >>> result.unpersist()
    """
    params = params or CommunityParams()
    started = time.perf_counter()
    sigs = minhash_signatures(graph, params.minhash)
    sets = neighbour_sets(graph, params.minhash) if params.lsh.exact_check else None
    candidates = lsh_candidates(sigs, params.lsh, sets)
    similar = candidates.pairs.filter(F.col("jaccard") >= params.lsh.threshold)
    if params.graph_edges_only:
        arcs = graph.edges.select(F.least("src", "dst").alias("u"), F.greatest("src", "dst").alias("v")).distinct()
        similar = similar.join(arcs, ["u", "v"])
    # materialised with a short lineage (not just persisted): over Spark Connect every round of the
    # community step would otherwise resend the whole signature and banding plan, past protobuf's depth limit
    similar = truncate_lineage(similar.select("u", "v", F.col("jaccard").alias("weight")))
    similar_pairs = similar.count()
    candidates.unpersist()
    log.info("communities: %d similar pairs over threshold %.3f with (b, r) = (%d, %d) (%.1fs)", similar_pairs,
             params.lsh.threshold, candidates.bands, candidates.rows, time.perf_counter() - started)
    vertices = graph.vertices.select("id")
    if params.method == "components":
        labels, rounds = connected_components(similar, vertices, params.max_rounds)
        labels = labels.withColumnRenamed("component", "community")
    else:
        labels, rounds = label_propagation(similar, vertices, params.rounds), params.rounds
    labels = labels.persist(StorageLevel.MEMORY_AND_DISK)
    labels.count()
    release(similar)
    communities = graph.to_names(labels, "id", "community")
    sizes = communities.groupBy("community").agg(F.count("*").alias("size")).orderBy(F.desc("size"), "community")
    log.info("communities: done in %.1fs", time.perf_counter() - started)
    return CommunityResult(communities, sizes, params.lsh.threshold, candidates.bands, candidates.rows,
                           similar_pairs, candidates.split_buckets, candidates.dropped_pairs, rounds, labels)
