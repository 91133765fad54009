"""The steps of CLARA and partitioned k-medoids that run in one task, shared by Spark and the local twin.

Every random choice (which points form a sample, which group a point joins, which members are
tried as a cluster's new medoid, how a solve starts) is a hash of the seed, a salt naming the
choice and the point's key, so the Spark version and :mod:`sparkgraph.local.kmedoids` make the
same choices whatever the partitioning. A point's key is its id when the id is an integer, and a
64-bit BLAKE2 hash of its text otherwise.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from sparkgraph.udfs.kmedoids import assign, dissimilarity_matrix, fasterpam, init_medoids, pairwise
from sparkgraph.udfs.projection import splitmix64

SAMPLE_SALT = 1000
GROUP_SALT = 2000
CANDIDATE_SALT = 3000
SOLVE_SALT = 4000
ASSIGN_ROWS = 4096  # rows per nearest-medoid block: ASSIGN_ROWS x k distances at a time
SWITCH_MARGIN = 1e-9  # a candidate replaces a medoid only when it lowers the cluster's sum by more than this fraction


def point_keys(ids) -> np.ndarray:
    """int64 key of every id: the id itself when integral, else a 64-bit BLAKE2 hash of its text."""
    values = np.asarray(ids)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return np.array([int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "little", signed=True)
                     for v in values], dtype=np.int64)


def draws(keys: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """int64 pseudo-random draw per key, a pure function of (seed, salt, key); order points by it to sample."""
    mix = splitmix64(np.array([seed * 1_000_003 + salt], dtype=np.uint64))
    return splitmix64(np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64) ^ mix).view(np.int64)


def group_of(keys: np.ndarray, seed: int, level: int, groups: int) -> np.ndarray:
    """Group (0..groups-1) of every key at a level of the partitioned method."""
    return (draws(keys, seed, GROUP_SALT + level).view(np.uint64) % np.uint64(groups)).astype(np.int64)


def solve_seed(seed: int, salt: int, index: int) -> int:
    """Seed of one FasterPAM solve (a sample or a group), from the run's seed and the solve's name."""
    mixed = splitmix64(np.array([seed * 1_000_003 + salt], dtype=np.uint64) ^ np.uint64(index))
    return int(mixed[0] >> np.uint64(2))


def stack(vectors) -> np.ndarray:
    """A sequence of equal-length arrays as one 2-D array (float64, or int64 for signatures)."""
    rows = list(vectors)
    if not rows:
        return np.zeros((0, 0))
    out = np.vstack(rows)
    return out if out.dtype.kind in "iu" else out.astype(np.float64, copy=False)


def solve(diss: np.ndarray, weights: np.ndarray, k: int, init: str, max_iter: int, seed: int
          ) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted FasterPAM on one dissimilarity matrix.

    Returns:
        (medoid positions, total weight of each medoid's cluster, loss). With at most k points every
        point is its own medoid.
    """
    n = len(diss)
    if n <= k:
        return np.arange(n), weights.astype(np.float64), 0.0
    start = init_medoids(diss, k, init, seed, weights)
    result = fasterpam(diss, start, max_iter=max_iter, weights=weights)
    return result.medoids, np.bincount(result.labels, weights=weights, minlength=k), float(result.loss)


def solve_points(frame: pd.DataFrame, k: int, metric: str, init: str, max_iter: int, seed: int, near: int = 0
                 ) -> pd.DataFrame:
    """Weighted FasterPAM on a frame of points ``(key, vector, weight)``; its medoids in the same columns,
    in key order, with ``cluster`` (their position) and ``candidate`` False.

    With ``near`` > 0, also the ``near`` members of each cluster nearest its medoid (ties to the smaller
    key), as rows with ``candidate`` True and their medoid's ``cluster``: the first candidates of the
    refinement rounds. The frame is first put in key order, so the result does not depend on how rows
    arrived.
    """
    frame = frame.sort_values("key", kind="stable")
    vectors = stack(frame["vector"])
    weights = frame["weight"].to_numpy(dtype=np.float64)
    diss = dissimilarity_matrix(vectors, metric)
    positions, cluster_weights, _ = solve(diss, weights, k, init, max_iter, seed)
    order = np.argsort(positions, kind="stable")  # positions in key order: cluster j is the j-th smallest key
    positions, cluster_weights = positions[order], cluster_weights[order]
    rows = [pd.DataFrame({"key": frame["key"].to_numpy()[positions], "vector": list(frame["vector"].iloc[positions]),
                          "weight": cluster_weights, "cluster": np.arange(len(positions)), "candidate": False})]
    if near:
        labels, distances = assign(diss[:, positions])
        members = np.setdiff1d(np.arange(len(frame)), positions)
        keys = frame["key"].to_numpy()[members]
        pick = members[first_per_group(labels[members], (distances[members], keys), near)]
        rows.append(pd.DataFrame({"key": frame["key"].to_numpy()[pick], "vector": list(frame["vector"].iloc[pick]),
                                  "weight": weights[pick], "cluster": labels[pick], "candidate": True}))
    return pd.concat(rows, ignore_index=True)


def nearest(vectors: np.ndarray, medoids: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Nearest medoid (position, ties to the lowest) and its dissimilarity for every row, in blocks of rows."""
    labels = np.empty(len(vectors), dtype=np.int64)
    distances = np.empty(len(vectors), dtype=np.float64)
    for lo in range(0, len(vectors), ASSIGN_ROWS):
        hi = lo + ASSIGN_ROWS
        labels[lo:hi], distances[lo:hi] = assign(pairwise(vectors[lo:hi], medoids, metric))
    return labels, distances


def candidate_scores(vectors: np.ndarray, labels: np.ndarray, candidates: np.ndarray, candidate_cluster: np.ndarray,
                     metric: str) -> np.ndarray:
    """For every candidate, the sum of its dissimilarities to the points of its cluster (``labels``)."""
    scores = np.zeros(len(candidates))
    for cluster in np.unique(labels):
        slots = np.flatnonzero(candidate_cluster == cluster)
        if len(slots):
            members = vectors[labels == cluster]
            for lo in range(0, len(members), ASSIGN_ROWS):
                scores[slots] += pairwise(members[lo:lo + ASSIGN_ROWS], candidates[slots], metric).sum(axis=0)
    return scores


def first_per_group(group: np.ndarray, order_keys: tuple[np.ndarray, ...], count: int) -> np.ndarray:
    """Indices of the ``count`` first rows of every group, rows ordered by ``order_keys`` (most significant first)."""
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(tuple(reversed(order_keys)) + (group,))
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order[rank < count]


def proposals(keys: np.ndarray, labels: np.ndarray, distances: np.ndarray, seed: int, round_no: int,
              per_cluster: int) -> np.ndarray:
    """Indices of the points proposed as their cluster's next candidates: the ``ceil(per_cluster / 2)``
    members nearest their medoid (the best medoid of a cluster is usually near the current one) and the
    rest drawn at random (hashes of (seed, round, key)), so a round can also jump further."""
    near = first_per_group(labels, (distances, keys), math.ceil(per_cluster / 2))
    drawn = first_per_group(labels, (draws(keys, seed, CANDIDATE_SALT + round_no), keys), per_cluster // 2)
    return np.union1d(near, drawn)


def better_medoids(scores: np.ndarray, candidate_cluster: np.ndarray, current_slot: np.ndarray) -> np.ndarray:
    """Slot of each cluster's new medoid: its candidate with the smallest sum, if it beats the current medoid's
    sum by more than ``SWITCH_MARGIN`` (kept otherwise, so rounding in sums made in another order does not
    switch medoids)."""
    chosen = current_slot.copy()
    for cluster, slot in enumerate(current_slot):
        slots = np.flatnonzero(candidate_cluster == cluster)
        best = slots[np.argmin(scores[slots])]
        if scores[best] < scores[slot] * (1 - SWITCH_MARGIN):
            chosen[cluster] = best
    return chosen


def candidate_slots(medoid_keys: list[int], proposed: pd.DataFrame | None
                    ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The candidates of a refinement round: slot j is medoid j, then each cluster's proposed members.

    Args:
        medoid_keys: Key of each cluster's current medoid.
        proposed: ``(cluster, key)`` rows, or None in the first round.

    Returns:
        (candidate keys, cluster of each candidate, slot of each cluster's current medoid).
    """
    keys = [int(k) for k in medoid_keys]
    clusters = list(range(len(keys)))
    if proposed is not None:
        current = set(keys)
        for cluster, key in zip(proposed["cluster"].to_numpy(), proposed["key"].to_numpy(), strict=True):
            if int(key) not in current:
                keys.append(int(key))
                clusters.append(int(cluster))
    return keys, np.asarray(clusters, dtype=np.int64), np.arange(len(medoid_keys))


def hop_matrix(order: np.ndarray, vertex: np.ndarray, source: np.ndarray, hops: np.ndarray, unreachable: float
               ) -> np.ndarray:
    """The hop-distance matrix of the vertices ``order`` (sorted dense ids) from ``(vertex, source, hops)``
    rows; pairs without a row get ``unreachable``, the diagonal 0."""
    diss = np.full((len(order), len(order)), float(unreachable))
    rows, cols = np.searchsorted(order, vertex), np.searchsorted(order, source)
    diss[rows, cols] = hops
    np.fill_diagonal(diss, 0.0)
    return diss
