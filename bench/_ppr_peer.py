"""The exact peer of the PPR benchmark, made fair: power iteration stopped at matched accuracy, on all cores.

A user with scipy computes PPR by power iteration: ``x ← α·e_s + (1-α)·x·P``, many sources at once
(one sparse-times-dense product per iteration for a block of sources). Iterating to 1e-10 (about
147 iterations at α = 0.15) buys accuracy nobody asked for; the fair comparison stops at the
iteration count whose precision@10 and L1 on the sampled sources are at least as good as the Monte
Carlo estimate's, and spreads the blocks over every core. scipy's sparse product holds the GIL, so
the cores are used by processes (spawned, not forked: a fork would share the Spark driver's Py4J
socket), each given the transition matrix once.

After ``t`` iterations the flow still moving, ``(1-α)^t`` of the mass, is added where it stands (as
:func:`sparkgraph.local.ppr.exact_ppr` does when it stops), and a walk that reaches a vertex
without out-arcs jumps back to its source (the ``source`` dangling policy of the default runs).
Each block keeps its sources' top-100 (``argpartition``), the output the Monte Carlo runs write.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from sparkgraph import metrics
from sparkgraph.local.ppr import transition_matrix

_GRAPH: dict = {}  # a worker's graph, set once by _load


def _load(pt: sp.csr_matrix, sink: np.ndarray) -> None:
    _GRAPH.update(pt=pt, sink=sink)


def _iterate(pt: sp.csr_matrix, sink: np.ndarray, sources: np.ndarray, alpha: float, iterations: int,
             dtype, each=None) -> np.ndarray:
    """``len(sources) x n`` PPR after ``iterations`` products (``each(t, pi)`` sees every iterate and
    stops the iteration by returning True)."""
    rows = np.arange(len(sources))
    flow = np.zeros((pt.shape[0], len(sources)), dtype=dtype)  # n x b: scipy's fast product layout
    flow[sources, rows] = 1
    pi = alpha * flow
    for t in range(1, iterations + 1):
        moved = (1 - alpha) * (pt @ flow)
        if len(sink):
            moved[sources, rows] += (1 - alpha) * flow[sink].sum(axis=0)
        flow = moved
        pi += alpha * flow
        if each is not None and each(t, (pi + (1 - alpha) * flow).T):
            break
    return (pi + (1 - alpha) * flow).T


def accuracy_by_iterations(local, sources: np.ndarray, exact: np.ndarray, alpha: float, precision: float,
                           l1: float, top: int = 100, max_iterations: int = 60) -> list[tuple[int, float, float]]:
    """``(t, precision@10, mean L1)`` against ``exact`` after each of 1..``max_iterations`` iterations,
    up to the first as accurate as ``precision`` and ``l1`` (:func:`matched_iterations`). The L1 is
    that of each row's ``top`` entries, like the Monte Carlo output's (the rest counts as error)."""
    p, sink = transition_matrix(local)
    pt = p.T.tocsr()
    curve = []

    def record(t, pi) -> bool:
        found = float(np.mean([metrics.precision_at_k(pi[i], exact[i], 10) for i in range(len(sources))]))
        kept = np.zeros_like(pi)
        best = np.argpartition(-pi, min(top, pi.shape[1] - 1), axis=1)[:, :top]
        np.put_along_axis(kept, best, np.take_along_axis(pi, best, axis=1), axis=1)
        curve.append((t, found, float(np.abs(kept - exact).sum(axis=1).mean())))
        return matched_iterations(curve, precision, l1) is not None

    _iterate(pt, sink, np.asarray(sources), alpha, max_iterations, np.float64, record)
    return curve


def matched_iterations(curve: list[tuple[int, float, float]], precision: float, l1: float) -> int | None:
    """The fewest iterations whose precision@10 and L1 are both at least as good; None if none is."""
    return next((t for t, p, e in curve if p >= precision and e <= l1), None)


def _block(args) -> float:
    lo, hi, iterations, alpha, top = args
    pt, sink = _GRAPH["pt"], _GRAPH["sink"]
    started = time.perf_counter()
    with threadpool_limits(1):
        pi = _iterate(pt, sink, np.arange(lo, hi), alpha, iterations, np.float32)
        keep = min(top, pi.shape[1] - 1)
        np.argpartition(-pi, keep, axis=1)[:, :top]
    return time.perf_counter() - started


def all_sources_seconds(local, iterations: int, alpha: float, cores: int, budget_s: float = 120.0,
                        block: int = 128, top: int = 100) -> tuple[float, int]:
    """Seconds for every source's top-``top`` by ``iterations`` of float32 power iteration on ``cores``
    processes, and how many sources were actually run: blocks are timed until ``budget_s`` of wall
    time is spent, and the time is extrapolated linearly to all sources when not all ran."""
    p, sink = transition_matrix(local)
    blocks = [(lo, min(lo + block, local.n), iterations, alpha, top) for lo in range(0, local.n, block)]
    rng = np.random.default_rng(0)
    blocks = [blocks[i] for i in rng.permutation(len(blocks))]  # a fair sample of blocks when time runs out
    done = 0
    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn"), initializer=_load,
                             initargs=(p.T.tocsr().astype(np.float32), sink)) as pool:
        list(pool.map(_block, [(0, 1, 1, alpha, 1)] * cores))  # start the workers and load the graph, untimed
        started = time.perf_counter()
        for lo in range(0, len(blocks), cores):
            wave = blocks[lo: lo + cores]
            list(pool.map(_block, wave))
            done += sum(b[1] - b[0] for b in wave)
            if time.perf_counter() - started > budget_s:
                break
    seconds = time.perf_counter() - started
    return seconds * local.n / done, done
