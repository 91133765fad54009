"""Benchmark: local FasterPAM (numpy) against the kmedoids package's Rust FasterPAM, and alternating.

For each (n, k): n seeded 32-dimensional points (a mixture of 20 unit Gaussian blobs, centres
uniform in [-5, 5]^32), their euclidean dissimilarity matrix (built before, not timed), k random
initial medoids (``init_medoids(..., "random", seed)``), and from those same medoids on that same
matrix: sparkgraph's ``fasterpam``, ``kmedoids.fasterpam(..., n_cpu=1)`` (the sequential Rust
code, GPL-3.0, a benchmark peer only) and sparkgraph's ``alternating``. Times are the median of 3
runs after a warm-up (one run when the first takes over a minute) and include our input checks.
The n = 20,000 matrix takes 3.2 GB; one matrix is held at a time.

    python bench/_kmedoids_local.py                      # all sizes (several minutes)
    python bench/_kmedoids_local.py --sizes 2000:10,10000:100

Prints a table and writes bench/results/kmedoids_local.json. ``bench/kmedoids.py`` calls
:func:`local_rows`.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from embed import print_table, timed  # noqa: E402

from sparkgraph.udfs.kmedoids import alternating, dissimilarity_matrix, fasterpam, init_medoids  # noqa: E402

log = logging.getLogger("bench.kmedoids_local")
SIZES = ((2000, 10), (2000, 100), (10000, 10), (10000, 100), (20000, 10), (20000, 100))


def rust_kmedoids() -> ModuleType:
    """The ``kmedoids`` package (pip install kmedoids), found past ``bench/kmedoids.py``.

    With ``bench/`` first on ``sys.path`` (running any script in it), ``import kmedoids`` would
    find the benchmark script of that name instead of the package.
    """
    loaded = sys.modules.get("kmedoids")
    if loaded is not None and hasattr(loaded, "KMedoidsResult"):
        return loaded
    path = [p for p in sys.path if Path(p or os.getcwd()).resolve() != BENCH]
    spec = importlib.machinery.PathFinder.find_spec("kmedoids", path)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError("the kmedoids package is not installed; pip install 'kmedoids>=0.5' (dev extra)")
    module = importlib.util.module_from_spec(spec)
    shadow = sys.modules.get("kmedoids")
    sys.modules["kmedoids"] = module  # its own relative imports (.kmedoids, the Rust extension) need the name
    try:
        spec.loader.exec_module(module)
    finally:
        if shadow is not None:
            sys.modules["kmedoids"] = shadow
    return module


def points(n: int, dim: int, seed: int) -> np.ndarray:
    """n points from a seeded mixture of 20 unit Gaussian blobs, centres uniform in [-5, 5]^dim."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5.0, 5.0, (20, dim))
    return centres[rng.integers(0, 20, n)] + rng.standard_normal((n, dim))


def local_rows(sizes=SIZES, dim: int = 32, seed: int = 0) -> list[dict]:
    """Rows ``{n, k, method, seconds, loss, n_swaps, n_iter, vs_rust, same_loss}`` per (n, k) and method.

    ``vs_rust`` is the time over the Rust FasterPAM's; ``same_loss`` (FasterPAM rows) whether the
    loss equals the Rust loss exactly.

    Example:
        >>> rows = local_rows(sizes=((300, 5),))
        >>> [row["method"] for row in rows]   # doctest: +NORMALIZE_WHITESPACE
        ['fasterpam (sparkgraph, numpy)', 'kmedoids.fasterpam (Rust, n_cpu=1)', 'alternating (sparkgraph, numpy)']
    """
    peer = rust_kmedoids()
    warm = dissimilarity_matrix(points(500, dim, seed), "euclidean")
    warm_start = init_medoids(warm, 10, "random", seed)
    fasterpam(warm, warm_start), alternating(warm, warm_start)
    peer.fasterpam(warm, warm_start.copy(), max_iter=100, n_cpu=1)
    rows = []
    for n, k in sizes:
        diss = dissimilarity_matrix(points(n, dim, seed), "euclidean")
        start = init_medoids(diss, k, "random", seed)
        ours, ours_s = timed(lambda d=diss, s=start: fasterpam(d, s))
        rust, rust_s = timed(lambda d=diss, s=start: peer.fasterpam(d, s.copy(), max_iter=100, n_cpu=1))
        alt, alt_s = timed(lambda d=diss, s=start: alternating(d, s))
        del diss
        for method, result, seconds, swaps in (
                ("fasterpam (sparkgraph, numpy)", ours, ours_s, ours.n_swaps),
                ("kmedoids.fasterpam (Rust, n_cpu=1)", rust, rust_s, rust.n_swap),
                ("alternating (sparkgraph, numpy)", alt, alt_s, alt.n_swaps)):
            rows.append({"n": n, "k": k, "method": method, "seconds": round(seconds, 3), "loss": float(result.loss),
                         "n_swaps": int(swaps), "n_iter": int(result.n_iter), "vs_rust": round(seconds / rust_s, 2),
                         "same_loss": None if method.startswith("alternating") else bool(result.loss == rust.loss)})
        log.info("n=%d k=%d: ours %.2f s, Rust %.2f s, alternating %.2f s", n, k, ours_s, rust_s, alt_s)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(f"{n}:{k}" for n, k in SIZES), help="n:k pairs, comma-separated")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(BENCH / "results" / "kmedoids_local.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    sizes = [tuple(int(x) for x in pair.split(":")) for pair in args.sizes.split(",") if pair]
    rows = local_rows(sizes, dim=args.dim, seed=args.seed)
    print_table(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
