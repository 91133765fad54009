"""The driver's side of CLARA and partitioned k-medoids, written once for Spark and the local twin.

The loops here decide what to solve and when to stop; a *backend* does the work on the data:
:class:`sparkgraph.cluster.kmedoids.SparkPoints` and :class:`sparkgraph.cluster.hop.SparkHops` on
Spark, :mod:`sparkgraph.local.kmedoids` in one process. Both make the same choices from the same
hashes (:mod:`sparkgraph.udfs.medoid_steps`), so they find the same medoids.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from sparkgraph import progress
from sparkgraph.cluster.params import KMedoidsParams
from sparkgraph.udfs import medoid_steps as steps

log = logging.getLogger(__name__)


@dataclass
class PassStats:
    """What one pass over every point gives: per cluster its size and deviation, per candidate its sum
    of dissimilarities to its cluster, the candidates proposed for the next round ``(cluster, key)``,
    and the points no medoid reaches (hop distance only; each counts ``penalty``)."""

    counts: np.ndarray
    deviations: np.ndarray
    scores: np.ndarray
    proposed: pd.DataFrame
    unreachable: int = 0
    penalty: float = 0.0

    @property
    def loss(self) -> float:
        return float(self.deviations.sum()) + self.unreachable * self.penalty


class Backend(Protocol):
    n: int

    def solve_sample(self, sample_no: int, carried: list[int], seed: int) -> list[int]:
        """FasterPAM on CLARA sample ``sample_no`` plus the ``carried`` points; the medoids' keys."""

    def reduce_level(self, level: int, groups: int) -> int:
        """Solve the current level's points in ``groups`` groups; their weighted medoids become the current
        points. Returns how many there are."""

    def solve_last(self, seed: int, near: int) -> tuple[list[int], pd.DataFrame]:
        """FasterPAM on all current points; the medoids' keys, and ``(cluster, key)`` of the ``near`` points
        of each cluster nearest its medoid (see :func:`sparkgraph.udfs.medoid_steps.solve_points`)."""

    def assign_pass(self, medoids: list[int], candidates: list[int], candidate_cluster: np.ndarray, round_no: int,
                    per_cluster: int) -> PassStats:
        """Assign every point to its nearest medoid; score the candidates; propose the next ones."""


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def clara(backend: Backend, params: KMedoidsParams) -> tuple[list[int], PassStats, list[dict]]:
    """CLARA: the best of ``params.samples`` sample solves, each judged by its loss on every point."""
    best, best_stats, rounds = [], None, []
    for i in range(params.samples):
        started = time.perf_counter()
        medoids = backend.solve_sample(i, best, steps.solve_seed(params.seed, steps.SOLVE_SALT, i))
        stats = backend.assign_pass(medoids, [], np.zeros(0, np.int64), 0, 0)
        rounds.append({"step": f"sample {i + 1}", "loss": stats.loss, "seconds": _seconds(started)})
        log.info("CLARA sample %d/%d: loss %.6g (%.1fs)", i + 1, params.samples, stats.loss, rounds[-1]["seconds"])
        progress.advance("samples", i + 1, params.samples)
        if best_stats is None or stats.loss < best_stats.loss:
            best, best_stats = medoids, stats
    return best, best_stats, rounds


def partitioned(backend: Backend, params: KMedoidsParams) -> tuple[list[int], PassStats, list[dict]]:
    """Levels of parallel group solves until one group is left, its solve, then :func:`refine`."""
    size, rounds, level, count = params.points_per_group, [], 0, backend.n
    while count > size:
        level, started, before = level + 1, time.perf_counter(), count
        groups = math.ceil(count / size)
        count = backend.reduce_level(level, groups)
        rounds.append({"step": f"level {level}", "groups": groups, "points": before, "medoids": count,
                       "seconds": _seconds(started)})
        log.info("level %d: %d points in %d groups -> %d weighted medoids (%.1fs)", level, before, groups, count,
                 rounds[-1]["seconds"])
    started = time.perf_counter()
    near = params.refine_candidates if level else 0
    medoids, proposed = backend.solve_last(steps.solve_seed(params.seed, steps.SOLVE_SALT + level + 1, 0), near)
    rounds.append({"step": "last solve", "points": count, "seconds": _seconds(started)})
    # Without levels the last solve was FasterPAM on every point: no swap improves it, so neither can a
    # refinement round (each new medoid would be an improving swap); one pass gives the sizes.
    return refine(backend, medoids, params, rounds, params.refine_rounds if level else 0, proposed)


def refine(backend: Backend, medoids: list[int], params: KMedoidsParams, rounds: list[dict], max_rounds: int,
           proposed: pd.DataFrame | None = None) -> tuple[list[int], PassStats, list[dict]]:
    """Refinement rounds: each pass assigns every point to the current medoids and scores, per cluster, the
    medoid and the candidates proposed before it (by the last solve for the first pass, then by the pass
    before); the best scorer becomes the medoid. Stops when the candidates a pass proposed change no
    medoid, when a pass lowers the loss by less than ``params.tolerance`` of it, or after ``max_rounds``.
    Returns the medoids the last pass assigned to, with its stats."""
    loss_before = None  # the loss of the last pass before the medoids changed
    for round_no in range(max_rounds + 1):
        started = time.perf_counter()
        candidates, cluster, current = steps.candidate_slots(medoids, proposed)
        more = round_no < max_rounds
        stats = backend.assign_pass(medoids, candidates, cluster, round_no, params.refine_candidates if more else 0)
        rounds.append({"step": f"refine {round_no}", "loss": stats.loss, "seconds": _seconds(started)})
        log.info("refinement round %d: loss %.6g (%.1fs)", round_no, stats.loss, rounds[-1]["seconds"])
        progress.advance("refinement rounds (at most)", round_no + 1, max_rounds + 1)
        if loss_before is not None and loss_before - stats.loss < params.tolerance * loss_before:
            break
        chosen = steps.better_medoids(stats.scores, cluster, current)
        changed = not np.array_equal(chosen, current)
        if not more or (round_no > 0 and not changed):
            break
        if changed:
            loss_before = stats.loss
        medoids, proposed = [candidates[s] for s in chosen], stats.proposed
    return medoids, stats, rounds
