"""Progress reporting (sparkgraph.progress): counts that only grow and reach the total, the log
interval, off means nothing, and nothing left running after a phase, also after an error."""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd
import pytest

from sparkgraph import progress
from sparkgraph.errors import ParameterError
from sparkgraph.fs import is_connect

TASKS = 6


def _sleepy_job(spark, tasks: int = TASKS, seconds: float = 0.4) -> int:
    """A job of known size: ``tasks`` partitions whose tasks each sleep ``seconds``."""
    def sleep(batches):
        for batch in batches:
            time.sleep(seconds)
            yield pd.DataFrame({"id": batch["id"]})

    return spark.range(0, tasks * 10, numPartitions=tasks).mapInPandas(sleep, "id long").count()


def _progress_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sparkgraph-progress"]


def _handlers(spark) -> list:
    return list(spark._client._progress_handlers) if is_connect(spark) else []


@pytest.mark.connect
def test_a_phase_of_known_size_reports_growing_counts_that_reach_the_total(spark, caplog):
    caplog.set_level(logging.INFO, logger="sparkgraph.progress")
    with progress.show("log", interval=0.3, spark=spark, name="sleepy") as tracker:
        assert _sleepy_job(spark, seconds=1.0) == TASKS * 10  # at least 3 s on 2 cores
    final = tracker.snapshot()
    assert final.tasks_total >= TASKS  # the mapInPandas stage, plus the count's own stage
    assert final.tasks_done == final.tasks_total
    done = [snap.tasks_done for snap in tracker.history]
    assert done == sorted(done), done  # never decreases
    # log mode: a line per interval, not per update (the job runs about 6 x 0.4 s on 2 cores)
    lines = [r for r in caplog.records if r.getMessage().startswith("progress sleepy:")]
    assert 2 <= len(lines) <= 1 + final.elapsed / 0.3, [r.getMessage() for r in lines]
    gaps = [b.created - a.created for a, b in zip(lines, lines[1:], strict=False)]
    assert all(gap >= 0.29 for gap in gaps), gaps
    assert "tasks" in lines[-1].getMessage() and "elapsed" in lines[-1].getMessage()
    assert progress.mode() == "off"  # show() restores the quiet default
    assert not tracker.running and not _progress_threads() and not _handlers(spark)


@pytest.mark.connect
def test_nothing_is_left_running_after_a_phase_that_fails(spark):
    with pytest.raises(RuntimeError, match="inside the phase"):
        with progress.show("log", interval=0.1, spark=spark, name="failing") as tracker:
            _sleepy_job(spark, tasks=2, seconds=0.1)
            raise RuntimeError("inside the phase")
    assert not tracker.running and not _progress_threads() and not _handlers(spark)
    if not is_connect(spark):  # the job group the phase used is gone from the thread's properties
        assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None


def test_off_reports_nothing_and_starts_nothing(spark, caplog):
    caplog.set_level(logging.INFO, logger="sparkgraph.progress")
    with progress.show("off", interval=0.1, spark=spark) as tracker:
        _sleepy_job(spark, tasks=2, seconds=0.3)
        assert tracker is None and not _progress_threads()
    assert not [r for r in caplog.records if r.name == "sparkgraph.progress"]


def test_the_algorithms_unit_shows_with_an_eta_and_nested_phases_share_one_tracker(spark):
    with progress.show("log", interval=100, spark=spark, name="outer") as tracker:
        with progress.track(spark, "inner") as inner:
            assert inner is tracker and tracker.phase == "inner"
            progress.advance("iterations", 1, 4)
            snap = tracker.snapshot()
        assert tracker.phase == "outer"
    assert (snap.unit, snap.unit_done, snap.unit_total) == ("iterations", 1, 4)
    assert snap.eta() == pytest.approx(3 * snap.elapsed)
    assert "iterations 1/4" in snap.line() and "ETA" in snap.line()
    progress.advance("iterations", 2, 4)  # outside a tracked block: nothing to report to, no error


@pytest.mark.parametrize("mode, interval, message", [
    ("loud", 30, "progress mode 'loud' is not one of auto, bar, log, off"),
    ("log", 0, "progress interval 0 must be a positive number of seconds"),
])
def test_bad_progress_settings_are_one_line_errors(mode, interval, message):
    with pytest.raises(ParameterError, match=message):
        progress.set_mode(mode, interval)
    assert progress.mode() == "off"


def test_bar_mode_updates_a_tqdm_bar_on_stderr(spark, capsys):
    with progress.show("bar", spark=spark, name="barred") as tracker:
        _sleepy_job(spark, tasks=3, seconds=0.6)
    assert tracker.history and tracker.history[-1].tasks_done == tracker.history[-1].tasks_total >= 3
    assert "barred" in capsys.readouterr().err


def test_broadcast_ppr_shows_its_sources_from_the_walk_stage(spark):
    from sparkgraph.datasets import load_graph
    from sparkgraph.ppr import PPRParams, fully_ppr

    graph = load_graph(spark, "karate")
    with progress.show("log", interval=100, spark=spark, name="ppr") as tracker:
        fully_ppr(graph, PPRParams(walks_per_source=200, top_k=5, strategy="broadcast", seed=1)).count()
    final = tracker.snapshot()
    assert (final.unit, final.unit_done, final.unit_total) == ("sources ~", 34, 34)
    assert "sources ~34/34" in final.line()
