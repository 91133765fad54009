"""Progress of long runs: which phase, which stage, tasks done of total, elapsed time, an ETA.

A :func:`track` block follows the Spark jobs started inside it and reports, in the mode set
for the process:

* ``bar``: a tqdm bar on stderr, updated in place (``tqdm.auto`` in Jupyter);
* ``log``: a log line after 10 s, then every ``interval`` seconds (30 by default) — for spark-submit, CI and
  Databricks job logs, where a bar would print a line per update;
* ``auto``: ``bar`` when stderr is a terminal or a notebook runs it, ``log`` otherwise;
* ``off``: nothing, and no thread or handler at all.

Jobs (``sparkgraph run``) set the mode from ``--progress`` (``auto`` by default) and track each
phase. The Python API is quiet unless asked: ``with sparkgraph.progress.show(): ...`` tracks the
block, ``sparkgraph.progress.set_mode("log")`` switches it on for the process.

Where the numbers come from:

* classic Spark: a polling thread over ``SparkContext.statusTracker()``, scoped to the block by a
  job group of its own (the local property ``spark.jobGroup.id``, restored afterwards), so jobs
  of other threads and users are not counted;
* Spark Connect: the client's progress handler (``SparkSession.registerProgressHandler``, in
  pyspark 4.0 and later; 4.3 is installed here), which reports the stages of the running
  operation.

Algorithms add their own unit where they know one (sources done of total, walk rounds,
iterations) with :func:`advance`; it costs nothing when no block is tracked. The thread or
handler of a block never outlives it, also when the block raises.

Example:
    >>> import sparkgraph.progress as progress
    >>> with progress.show("log", interval=10):
    ...     scores = fully_ppr(graph, params).collect()
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sparkgraph.errors import ParameterError
from sparkgraph.fs import is_connect

log = logging.getLogger(__name__)

MODES = ("auto", "bar", "log", "off")
LOG_INTERVAL = 30.0  # seconds between log lines in log mode
FIRST_LINE = 10.0  # seconds before the first log line of a phase (at most the interval)
POLL_INTERVAL = 0.5  # seconds between status polls (classic Spark)

_settings = {"mode": "off", "interval": LOG_INTERVAL}
_current: list[Tracker] = []  # the innermost tracked block, if any


@dataclass
class Snapshot:
    """What a tracked block has done so far.

    Attributes:
        phase: The block's name.
        elapsed: Seconds since the block started.
        stage: The stage most recently seen running (None before the first).
        tasks_done, tasks_total: Tasks of the block's finished and known stages (never decreases).
        unit, unit_done, unit_total: The algorithm's own measure (``"sources"``, 2000, 10312), if any.
    """

    phase: str
    elapsed: float
    stage: int | None = None
    tasks_done: int = 0
    tasks_total: int = 0
    unit: str | None = None
    unit_done: int = 0
    unit_total: int = 0

    def eta(self) -> float | None:
        """Seconds left, from the algorithm's unit when known, else from the tasks seen so far."""
        done, total = (self.unit_done, self.unit_total) if self.unit_total else (self.tasks_done, self.tasks_total)
        if not done or not total or done >= total:
            return None
        return self.elapsed * (total - done) / done

    def line(self) -> str:
        """One line: ``ppr: stage 12, tasks 34/200, sources 2000/10312, 0:25 elapsed, ETA 1:10``."""
        parts = [f"{self.phase}:"]
        if self.stage is not None:
            parts.append(f"stage {self.stage},")
        parts.append(f"tasks {self.tasks_done}/{self.tasks_total},")
        if self.unit:
            parts.append(f"{self.unit}{'' if self.unit.endswith('~') else ' '}{self.unit_done}/{self.unit_total},")
        parts.append(f"{_clock(self.elapsed)} elapsed")
        eta = self.eta()
        if eta is not None:
            parts[-1] += ","
            parts.append(f"ETA {_clock(eta)}" + ("" if self.unit_total else " for the stages seen so far"))
        return " ".join(parts)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def set_mode(mode: str, interval: float = LOG_INTERVAL) -> None:
    """Switch progress reporting for this process (``auto``, ``bar``, ``log`` or ``off``)."""
    if mode not in MODES:
        raise ParameterError(f"progress mode {mode!r} is not one of {', '.join(MODES)}; pick one of them",
                             key="progress")
    if not interval > 0:
        raise ParameterError(f"progress interval {interval!r} must be a positive number of seconds", key="progress")
    _settings.update(mode=mode, interval=float(interval))


def mode() -> str:
    """The mode :func:`track` uses now."""
    return _settings["mode"]


@contextmanager
def show(mode: str = "auto", interval: float = LOG_INTERVAL, spark: SparkSession | None = None,
         name: str = "sparkgraph") -> Iterator[Tracker | None]:
    """Report the progress of the Spark jobs inside the block (the Python API's switch).

    Example:
        >>> with show("log", interval=5):
        ...     fastrp(graph, params).write.parquet(path)
    """
    previous = dict(_settings)
    set_mode(mode, interval)
    try:
        spark = spark or SparkSession.getActiveSession()
        if spark is None:
            raise ParameterError("progress.show() needs a Spark session; start one first or pass spark=",
                                 key="spark")
        with track(spark, name) as tracker:
            yield tracker
    finally:
        _settings.update(previous)


@contextmanager
def track(spark: SparkSession, name: str) -> Iterator[Tracker | None]:
    """Follow the Spark jobs started inside the block, in the process's mode (nothing when ``off``).

    A block inside a tracked block only renames the phase being shown.
    """
    chosen = _resolve(_settings["mode"])
    if chosen == "off":
        yield None
        return
    if _current:
        outer = _current[-1]
        previous, outer.phase = outer.phase, name
        try:
            yield outer
        finally:
            outer.phase = previous
        return
    tracker = Tracker(spark, name, chosen, _settings["interval"])
    _current.append(tracker)
    tracker.start()
    completed = False
    try:
        yield tracker
        completed = True
    finally:
        _current.pop()
        tracker.stop(completed)


def advance(unit: str, done: int, total: int) -> None:
    """Report the algorithm's own progress (``advance("sources", 2000, 10312)``) to the tracked block."""
    if _current:
        _current[-1].advance(unit, done, total)


def expect_tasks(unit: str, total: int, tasks: int) -> None:
    """Report the algorithm's unit from Spark's task counts: the newest stage of ``tasks`` tasks
    carries ``total`` units, spread evenly over its tasks (for work that happens inside the tasks
    of one stage, such as the sources of the broadcast PPR strategy). Shown as ``unit ~done/total``."""
    if _current and total > 0 and tasks > 0:
        _current[-1].expect_tasks(unit, total, tasks)


def _resolve(chosen: str) -> str:
    if chosen != "auto":
        return chosen
    return "bar" if _in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) else "log"


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


@dataclass
class _Stages:
    """Per-stage task counts seen so far (a stage's counts only grow)."""

    done: dict[int, int] = field(default_factory=dict)
    total: dict[int, int] = field(default_factory=dict)
    last: int | None = None

    def update(self, stage: int, done: int, total: int, running: bool = True) -> None:
        self.done[stage] = max(done, self.done.get(stage, 0))
        self.total[stage] = max(total, self.total.get(stage, 0))
        if running or self.last is None:
            self.last = stage



class Tracker:
    """Follows one block's Spark jobs and shows them (see the module docstring).

    Attributes:
        phase: The name shown.
        history: Every snapshot shown (for tests and for a summary).
    """

    def __init__(self, spark: SparkSession, phase: str, mode: str, interval: float):
        self.spark, self.phase, self.mode, self.interval = spark, phase, mode, interval
        self.history: list[Snapshot] = []
        self._started = time.monotonic()
        self._stages = _Stages()
        self._unit: tuple[str, int, int] | None = None
        self._per_task: tuple[str, int, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handler = None
        self._group: tuple[str | None, str] | None = None
        self._bar = None
        self._last_line = 0.0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self.mode == "bar":
            self._bar = _make_bar(self.phase)
        if is_connect(self.spark):
            self._handler = self._on_connect_progress
            self.spark.registerProgressHandler(self._handler)
            # the handler runs only when the server reports; a ticker keeps log lines on time
            self._thread = threading.Thread(target=self._tick, daemon=True, name="sparkgraph-progress")
            self._thread.start()
        else:
            context = self.spark.sparkContext
            group = f"sparkgraph-progress-{uuid.uuid4().hex[:12]}"
            self._group = (context.getLocalProperty("spark.jobGroup.id"), group)
            context.setLocalProperty("spark.jobGroup.id", group)
            self._thread = threading.Thread(target=self._poll, daemon=True, name="sparkgraph-progress")
            self._thread.start()

    def stop(self, completed: bool = False) -> None:
        """End the block's reporting: the thread joined, the handler removed, the bar closed.

        ``completed``: the block ended without an error, so every stage that ran has finished (the
        status tracker is fed by Spark's listener bus, which can lag behind a job's end)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if self._group is not None:
                self._poll_once()
        if completed:
            with self._lock:
                self._stages.done.update(self._stages.total)
        if self._handler is not None:
            self.spark.removeProgressHandler(self._handler)
        if self._group is not None:
            self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", self._group[0])
        self._show(final=True)
        if self._bar is not None:
            self._bar.close()

    @property
    def running(self) -> bool:
        """Whether a thread or handler of this tracker is still active."""
        return (self._thread is not None and self._thread.is_alive()) or (
            self._handler is not None and not self._stop.is_set())

    # ---------------------------------------------------------------- sources of numbers
    def _poll(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            try:
                self._poll_once()
            except Exception as exc:  # the JVM may be going away; progress must never fail a run
                log.debug("progress poll failed: %s", exc)
                return
            self._show()

    def _tick(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            self._show()

    def _poll_once(self) -> None:
        status = self.spark.sparkContext.statusTracker()
        for job in status.getJobIdsForGroup(self._group[1]):
            info = status.getJobInfo(job)
            for stage in (info.stageIds if info else []):
                stage_info = status.getStageInfo(stage)
                # a stage counts once it has started: a job also lists the stages it skips (their
                # shuffle output exists already), which never run a task
                if stage_info is not None and stage_info.numActiveTasks + stage_info.numCompletedTasks > 0:
                    with self._lock:
                        self._stages.update(stage, stage_info.numCompletedTasks, stage_info.numTasks,
                                            running=stage_info.numActiveTasks > 0)

    def _on_connect_progress(self, stages, inflight_tasks, operation_id, done) -> None:
        with self._lock:
            for stage in stages or []:
                key = (hash(operation_id) & 0xFFFF) << 20 | stage.stage_id  # stage ids repeat across operations
                if done and stage.num_completed_tasks > 0:
                    # the operation has ended: the client's last report can lag behind the server, so a
                    # stage that ran counts as finished (after a failure the run's error is what matters)
                    self._stages.update(key, stage.num_tasks, stage.num_tasks, running=False)
                    continue
                if stage.num_completed_tasks == 0:
                    # not counted before a task finished: a stage the job skips (its shuffle output
                    # exists already) is listed too, and never runs one
                    continue
                self._stages.update(key, stage.num_completed_tasks, stage.num_tasks, running=False)
                if not stage.done or self._stages.last is None or self._stages.last > 0xFFFFF:
                    self._stages.last = stage.stage_id  # shown as Spark numbers it
        self._show()

    def advance(self, unit: str, done: int, total: int) -> None:
        with self._lock:
            self._unit = (unit, int(done), int(total))
        self._show()

    def expect_tasks(self, unit: str, total: int, tasks: int) -> None:
        with self._lock:
            self._per_task = (unit, int(total), int(tasks))

    def _unit_now(self) -> tuple[str | None, int, int]:
        if self._unit is not None:
            return self._unit
        if self._per_task is not None:
            unit, total, tasks = self._per_task
            stages = [key for key, count in self._stages.total.items() if count == tasks]
            done = self._stages.done[max(stages)] if stages else 0
            return f"{unit} ~", round(total * done / tasks), total
        return None, 0, 0

    # ---------------------------------------------------------------- display
    def snapshot(self) -> Snapshot:
        with self._lock:
            unit = self._unit_now()
            return Snapshot(self.phase, time.monotonic() - self._started, self._stages.last,
                            sum(self._stages.done.values()), sum(self._stages.total.values()), *unit)

    def _show(self, final: bool = False) -> None:
        snap = self.snapshot()
        if self.mode == "bar":
            self.history.append(snap)
            self._bar.total = max(snap.tasks_total, 1)
            self._bar.n = snap.tasks_done
            self._bar.set_description(snap.phase, refresh=False)
            self._bar.set_postfix_str(f"{snap.unit} {snap.unit_done}/{snap.unit_total}" if snap.unit else "",
                                      refresh=False)
            self._bar.refresh()
        elif self.mode == "log" and not final:
            now = time.monotonic()
            with self._lock:
                first = min(FIRST_LINE, self.interval)  # a first sign of life early, then every interval
                due = now - self._started >= first and (not self.history or now - self._last_line >= self.interval)
                if due:
                    self._last_line = now
                    self.history.append(snap)
            if due:
                log.info("progress %s", snap.line())


def _make_bar(phase: str):
    from tqdm.auto import tqdm

    return tqdm(total=1, desc=phase, unit="task", file=sys.stderr, leave=False, dynamic_ncols=True)
