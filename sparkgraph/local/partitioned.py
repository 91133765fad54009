"""Partitioned network embedding on one machine: the reference the Spark version is checked against.

The same steps as :mod:`sparkgraph.embed.partitioned` (partition by balanced label propagation,
level by level on the border; embed every part; fuse; average over the whole graph) with the same
kernels and the same random streams, so the parts are identical and the vectors agree to float32
rounding.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from sparkgraph.embed.params import FastRPParams, PartitionedParams
from sparkgraph.local.graph import LocalGraph
from sparkgraph.udfs.fastrp import directed_adjacency, propagated_sum, propagation_matrix
from sparkgraph.udfs.part_embedding import embed_part, fuse
from sparkgraph.udfs.partition import (
    adopt,
    best_labels,
    best_parts,
    community_parts,
    initial_parts,
    migrate,
    part_count,
    shed_excess,
)

log = logging.getLogger(__name__)


@dataclass
class PartitionedEmbedding:
    """What :func:`partitioned_embedding` returns.

    Attributes:
        embedding: ``n x d`` float32, row i for dense id i.
        levels: Per level, the partition report (:func:`level_report`).
        parts: Per level, ``(vertices, part)``: the level's vertices (dense ids, sorted) and their parts.
    """

    embedding: np.ndarray
    levels: list[dict] = field(default_factory=list)
    parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def symmetric_pairs(adjacency: sp.csr_matrix) -> sp.csr_matrix:
    """The undirected, unweighted view the partitioner works on: 1 where u≠v are linked either way."""
    a = adjacency.tocoo()
    off = a.row != a.col
    rows, cols = np.r_[a.row[off], a.col[off]], np.r_[a.col[off], a.row[off]]
    s = sp.csr_matrix((np.ones(len(rows), np.int64), (rows, cols)), shape=a.shape)
    s.data[:] = 1  # a pair linked both ways was summed
    s.sort_indices()
    return s


def level_report(level: int, vertices: int, parts: np.ndarray, cut_pairs: int, pairs: int, border: int,
                 rounds: int, seconds: float) -> dict:
    """One level's facts: parts, their largest and mean size, the share of its edges cut, the border."""
    sizes = np.bincount(np.unique(parts, return_inverse=True)[1])
    return {"level": level, "vertices": vertices, "parts": len(sizes), "largest": int(sizes.max()),
            "mean_size": round(float(sizes.mean()), 1), "cut_fraction": round(cut_pairs / pairs, 4) if pairs else 0.0,
            "border": border, "rounds": rounds, "seconds": round(seconds, 2)}


def split_level(ids: np.ndarray, pairs: sp.csr_matrix, capacity: int, seed: int, level: int, rounds: int,
                community_rounds: int = 0) -> tuple[np.ndarray, int]:
    """Parts of one level's vertices ``ids`` (sorted dense ids; ``pairs`` over their positions), and
    the rounds run (:mod:`sparkgraph.udfs.partition`)."""
    n = len(ids)
    if n <= capacity:
        return np.zeros(n, np.int64), 0
    k = part_count(n, capacity)
    coo = pairs.tocoo()
    if community_rounds:
        labels = ids.copy()
        for t in range(community_rounds):
            labels = adopt(ids, labels, best_labels(coo.row, labels[coo.col], labels), seed, level, t)
        parts = community_parts(labels, seed, level, k)
    else:
        parts = initial_parts(ids, seed, level, k)
    degree = np.diff(pairs.indptr).astype(np.int64)
    done = 0
    for done in range(1, rounds + 1):
        load = np.bincount(parts, minlength=k)
        key = np.r_[coo.row.astype(np.int64) * k + parts[coo.col], np.arange(n, dtype=np.int64) * k + parts]
        unique, counts = np.unique(key, return_counts=True)
        counts = counts - np.isin(unique, np.arange(n, dtype=np.int64) * k + parts)  # the current part counts 0
        best = best_parts(unique // k, unique % k, counts, parts, degree, load, capacity)
        demand = np.bincount(best[best != parts], minlength=k)
        moved = migrate(ids, parts, best, capacity - load, demand, seed, level, done)
        changed = int(np.count_nonzero(moved != parts))
        parts = moved
        if changed * 1000 < n:
            break
    load = np.bincount(parts, minlength=k)
    over = load[parts] > capacity
    if over.any():
        parts = parts.copy()
        parts[over] = shed_excess(ids[over], parts[over], capacity, k, seed, level)
    return parts, done


def partition_levels(graph: LocalGraph, params: PartitionedParams) -> tuple[list[dict], list[tuple]]:
    """Level 0 partitions every vertex; level ℓ+1 the endpoints of level ℓ's cut edges (the border),
    until the border fits one part or ``max_levels`` border levels are made.

    Returns:
        ``(reports, parts)``: per level, :func:`level_report` and ``(vertices, part)``.
    """
    return partition_pairs(symmetric_pairs(graph.adjacency), params)


def partition_pairs(pairs: sp.csr_matrix, params: PartitionedParams) -> tuple[list[dict], list[tuple]]:
    """:func:`partition_levels` from the linked pairs (:func:`symmetric_pairs`); what the Spark
    partitioner's single task runs."""
    ids = np.arange(pairs.shape[0], dtype=np.int64)
    reports, parts_by_level = [], []
    for level in range(params.max_levels + 1):
        started = time.perf_counter()
        parts, rounds = split_level(ids, pairs, params.max_part_size, params.seed, level, params.partition_rounds,
                                    params.community_rounds)
        coo = pairs.tocoo()
        cut = parts[coo.row] != parts[coo.col]
        border = np.unique(coo.row[cut])
        reports.append(level_report(level, len(ids), parts, int(cut.sum()) // 2, coo.nnz // 2, len(border), rounds,
                                    time.perf_counter() - started))
        parts_by_level.append((ids, parts))
        log.info("partition level %d: %s", level, reports[-1])
        if not len(border) or level == params.max_levels:
            break
        ids, pairs = ids[border], pairs[border][:, border].tocsr()
    return reports, parts_by_level


def partitioned_embedding(graph: LocalGraph, params: PartitionedParams | None = None,
                          fastrp: FastRPParams | None = None) -> PartitionedEmbedding:
    """Partitioned embedding of every vertex (see :mod:`sparkgraph.embed.partitioned`).

    Args:
        graph: The graph.
        params: :class:`PartitionedParams`.
        fastrp: :class:`FastRPParams` of the part embeddings (dimension, projection seed, FastRP settings).

    Returns:
        :class:`PartitionedEmbedding`.

    Example:
        >>> result = partitioned_embedding(load_local("cora"), PartitionedParams(max_part_size=500))
        >>> result.embedding.shape, result.levels[0]["largest"] <= 500
        ((2708, 128), True)
    """
    params = params or PartitionedParams()
    fastrp = fastrp or FastRPParams()
    reports, parts_by_level = partition_levels(graph, params)
    a = graph.adjacency.tocsr()
    rows = {"ids": [], "levels": [], "shares": [], "vectors": []}
    for level, (ids, parts) in enumerate(parts_by_level):
        for part in np.unique(parts):
            members = ids[parts == part]
            sub = a[members][:, members].tocoo()
            vectors, share = embed_part(members, members[sub.row], members[sub.col], sub.data, graph.directed,
                                        params.embedder, fastrp, params.window, params.negative, graph.n)
            rows["ids"].append(members)
            rows["levels"].append(np.full(len(members), level))
            rows["shares"].append(share)
            rows["vectors"].append(vectors)
    _, fused = fuse(*(np.concatenate(rows[key]) for key in ("ids", "levels", "shares")),
                    np.vstack(rows["vectors"]))
    m, _ = propagation_matrix(directed_adjacency(a, graph.directed, fastrp.direction))
    weights = params.fusion_weights
    return PartitionedEmbedding(propagated_sum(m, fused, weights[1:], weights[0]), reports, parts_by_level)
