"""Executor-side numpy kernels that generate graph edges for one slice of a graph.

Each kernel takes the slice's index and the model's parameters and returns arrays of
edges; nothing here knows about Spark. A slice's random stream is seeded by
``(seed, slice)``, so a generated graph depends only on the seed and the slice count.
"""

from __future__ import annotations

import numpy as np

from sparkgraph.udfs.projection import splitmix64, uniforms


def _slice_rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, part])


def block_bounds(n: int, blocks: int) -> np.ndarray:
    """Start offsets of ``blocks`` contiguous, near-equal communities of ``0..n-1`` (length blocks+1)."""
    return np.linspace(0, n, blocks + 1).round().astype(np.int64)


def planted_partition_slice(part: int, parts: int, n: int, blocks: int, p_in: float, p_out: float,
                            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges ``u < v`` of a planted-partition graph whose ``u`` fall in slice ``part``.

    Communities are the contiguous ranges from :func:`block_bounds`. For each ``u`` the
    number of partners ``v > u`` inside its community is Binomial(c_end - u - 1, p_in)
    and outside it Binomial(n - c_end, p_out); partners are drawn uniformly, and the rare
    repeated draw is collapsed (a deviation of order p² from the exact model).

    Returns:
        ``(src, dst)`` int64 arrays with ``src < dst``, sorted and free of duplicates.
    """
    rng = _slice_rng(seed, part)
    lo, hi = int(n * part // parts), int(n * (part + 1) // parts)
    if hi <= lo:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    u = np.arange(lo, hi, dtype=np.int64)
    bounds = block_bounds(n, blocks)
    c_end = bounds[np.searchsorted(bounds, u, side="right")]
    k_in = rng.binomial(c_end - u - 1, p_in)
    k_out = rng.binomial(n - c_end, p_out)
    src_in = np.repeat(u, k_in)
    dst_in = src_in + 1 + np.floor(rng.random(len(src_in)) * np.repeat(c_end - u - 1, k_in)).astype(np.int64)
    src_out = np.repeat(u, k_out)
    start = np.repeat(c_end, k_out)
    dst_out = start + np.floor(rng.random(len(src_out)) * (n - start)).astype(np.int64)
    key = np.unique(np.concatenate([src_in, src_out]) * n + np.concatenate([dst_in, dst_out]))
    return key // n, key % n


def chung_lu_weights(n: int, exponent: float, mean_degree: float) -> np.ndarray:
    """Expected degrees ``w_i ∝ (i + 1)^(-1/(exponent-1))`` scaled to ``mean_degree`` on average."""
    w = (np.arange(n, dtype=np.float64) + 1.0) ** (-1.0 / (exponent - 1.0))
    return w * (mean_degree * n / w.sum())


def chung_lu_slice(part: int, parts: int, n: int, exponent: float, mean_degree: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """This slice's share of a Chung–Lu power-law graph's undirected edges ``u < v``.

    The graph has Poisson(n·mean_degree/2) edge draws in all, each endpoint drawn
    independently with probability proportional to its expected degree (the fast
    Chung–Lu construction); self-loops are dropped and repeated pairs collapsed within
    the slice (the caller removes duplicates across slices).
    """
    rng = _slice_rng(seed, part)
    w = chung_lu_weights(n, exponent, mean_degree)
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    draws = rng.poisson(n * mean_degree / 2.0 / parts)
    a = np.minimum(np.searchsorted(cdf, rng.random(draws), side="right"), n - 1)
    b = np.minimum(np.searchsorted(cdf, rng.random(draws), side="right"), n - 1)
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    key = np.unique(lo * np.int64(n) + hi)
    return key // n, key % n


def degree_corrected_slice(part: int, parts: int, n: int, blocks: int, mixing: float, exponent: float,
                           mean_degree: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """This slice's share of a degree-corrected planted partition's undirected edges ``u < v``.

    Chung–Lu expected degrees (:func:`chung_lu_weights`) inside planted communities (Karrer and
    Newman's degree-corrected block model, in the fast Chung–Lu construction): vertex ``i`` is in
    community ``i % blocks``, so every community holds hubs and leaves alike. The graph has
    Poisson(n·mean_degree/2) edge draws; each draws its first endpoint by expected degree over
    all vertices and, with probability ``1 - mixing``, its second by expected degree inside the
    first's community, otherwise over all vertices (a draw that lands in the same community stays).
    Self-loops are dropped and repeated pairs collapsed within the slice (the caller removes
    duplicates across slices).
    """
    rng = _slice_rng(seed, part)
    w = chung_lu_weights(n, exponent, mean_degree)
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    order = np.argsort(np.arange(n, dtype=np.int64) % blocks, kind="stable")  # vertices grouped by community
    members = np.cumsum(w[order])
    ends = members[np.flatnonzero(np.diff(np.append(order % blocks, blocks)))]  # running total at each end
    starts = np.concatenate([[0.0], ends[:-1]])
    draws = rng.poisson(n * mean_degree / 2.0 / parts)
    a = np.minimum(np.searchsorted(cdf, rng.random(draws), side="right"), n - 1)
    inside = rng.random(draws) >= mixing
    block = a % blocks
    at = starts[block] + rng.random(draws) * (ends[block] - starts[block])
    b_inside = order[np.minimum(np.searchsorted(members, at, side="right"), n - 1)]
    b_any = np.minimum(np.searchsorted(cdf, rng.random(draws), side="right"), n - 1)
    b = np.where(inside, b_inside, b_any)
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    key = np.unique(lo * np.int64(n) + hi)
    return key // n, key % n


def blob_vectors(ids: np.ndarray, dimension: int, centers: int, spread: float, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs as a pure function of (seed, id): the blob of each id and its float32 vector.

    Centers are standard normal vectors scaled by 4 (drawn from the seed); a point is its blob's
    center plus normal noise of standard deviation ``spread``, made by Box-Muller from hashes of
    (seed, id, coordinate), so any id gets the same vector in any task.
    """
    ids = np.asarray(ids, dtype=np.int64)
    center_rows = np.random.default_rng([seed, 7]).normal(size=(centers, dimension)) * 4.0
    mix = splitmix64(np.array([seed * 1_000_003 + 11], dtype=np.uint64))
    blob = (splitmix64(ids.view(np.uint64) ^ mix) % np.uint64(centers)).astype(np.int64)
    u = uniforms(seed, 13, ids, 2 * dimension)
    noise = np.sqrt(-2.0 * np.log1p(-u[:, :dimension])) * np.cos(2 * np.pi * u[:, dimension:])
    return blob, (center_rows[blob] + spread * noise).astype(np.float32)
