"""How many batches and merge buckets the distributed strategy's counts call for (its cost model).

Over several shards a source's walker counts travel from every shard its walkers visit and are
held, in round outputs and merged tables on the executors' memory and disk, until a merge after its
last walker stops; only then are they scored down to its top k. The estimate, stated so that a
run's plan can be checked by hand:

- a source ships at most ω/α count entries over its walks (the visits estimator: one per walk
  position, in expectation), ω with the endpoints estimator; :data:`COUNT_ENTRY_BYTES` each;
- it is in flight for at most :func:`rounds_in_flight` rounds (its push, then its longest walk when
  every step crosses a shard) plus the rounds until the next merge;
- so with ``s`` sources per batch, about ``min(sources, s · (in flight + merge_every))`` sources hold
  counts at once. The batches are as many as keep that within ``tasks × counts_max_bytes``, and the
  merge buckets as many as keep each within :data:`MERGE_BUCKET_BYTES`.

The estimate is the plan, and a ceiling on what the batches start at: it charges every source in
flight its whole ω/α entries, as if every step crossed a shard. Each merge measures the counts
actually held, and :func:`resized_batch` lets later batches grow to what that measure allows: on
cnr-2000 over 8 shards most walkers end in the task that started them, and the sources whose
walkers all do are scored there and never hold counts.

Over one shard every source is scored in the task call that starts it and ships its top k only:
its counts are never held, and the counts ask for no more batches. Not in the estimate: the flow
of a push forced over several shards (``push_rounds``; auto pushes over one shard only), which the
merges measure with the counts, so the batches resize to it too; and ``count_top``, which bounds a
walking source's merged counts but not those shipped between merges.

All 1M sources of a planted-partition graph of 1M vertices and 20M arcs over 3 shards, in 56
batches of ~18,000 sources (the work's batching alone: ~10⁶ sources in flight by this estimate,
~270 GB), ran a 24 GB machine out of memory at its first merge: two 4 GB merge workers, each
holding one of 56 buckets, beside two 7 GB executors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

COUNT_ENTRY_BYTES = 40  # a count entry: source, target, visits, ends, flow (int64 each)
# a merge task's counts, as Arrow; its Python worker holds about four times that while it merges
MERGE_BUCKET_BYTES = 256 * 1024**2
SLOTS = 1 << 30  # a source's slot: its id's hash modulo this; a batch takes a range of slots


def entries_per_source(walks: int, restart_prob: float, estimator: str) -> float:
    """Count entries one source ships over its walks, at most in expectation: a walk has 1/α
    positions (visits) or one end (endpoints).

    Example:
        >>> entries_per_source(1000, 0.15, "visits")
        6666.666666666667
    """
    return walks / restart_prob if estimator == "visits" else float(walks)


def rounds_in_flight(walks: int, restart_prob: float, max_steps: int, push_rounds: int, split_hubs: bool) -> int:
    """Rounds from a source's entry until its last walker stops when every step crosses a shard (a
    graph without locality): its push (``push_rounds`` + 1 rounds, or none), then the expected
    longest of its ``walks`` walks, ``(ln ω + γ) / -ln(1-α)`` steps (the maximum of ω geometric
    lengths) and the round its last step lands in, at most ``max_steps``; two rounds per step when
    hubs are split into blocks.

    Example:
        >>> rounds_in_flight(1000, 0.15, 100, push_rounds=0, split_hubs=False)
        48
    """
    longest = min(max_steps, math.ceil((math.log(walks) + 0.5772) / -math.log1p(-restart_prob)) + 1)
    return (push_rounds + 1 if push_rounds else 0) + longest * (2 if split_hubs else 1)


def count_batches(sources: int, source_bytes: float, in_flight: int, budget: int) -> int:
    """The fewest batches whose sources' counts held at once, about ``min(sources, sources per batch
    × in_flight)`` × ``source_bytes``, stay within ``budget`` bytes (one source per batch at most).

    Example:
        >>> count_batches(1_000_000, 6667 * 40, in_flight=48 + 16, budget=9 * 2 * 2**30)  # 9 tasks of 2 GiB
        884
    """
    if sources * source_bytes <= budget:
        return 1
    return min(sources, math.ceil(sources * in_flight * source_bytes / budget))


def count_buckets(sources: int, batches: int, source_bytes: float, in_flight: int) -> int:
    """Merge buckets that keep each within :data:`MERGE_BUCKET_BYTES` when the counts of about
    ``min(sources, sources per batch × in_flight)`` sources are held.

    Example:
        >>> count_buckets(1_000_000, 884, 6667 * 40, in_flight=48 + 16)
        72
    """
    held = min(sources, math.ceil(sources / batches) * in_flight) * source_bytes
    return math.ceil(held / MERGE_BUCKET_BYTES)


def resized_batch(planned: float, current: float, by_work: float, source_bytes: float, held_bytes: float,
                  sources_in_window: float) -> float:
    """Sources per batch after a merge measured the counts held: ``held_bytes`` for the
    ``sources_in_window`` sources that entered in the last ``in_flight`` rounds (the window the
    estimate charges ``source_bytes`` each).

    The estimate charges every source in flight its whole ω/α entries; on a graph with locality most
    walkers end in the task that started them and most sources never hold counts. A batch of ``s``
    sources holds, in steady state, ``s × in_flight × (held per source in the window)``, so the
    batch the budget allows is ``planned × source_bytes / (held per source)``. It is kept between
    ``planned`` (the estimate's, never fewer) and ``by_work`` (the walks per batch), and grows at
    most twofold per merge: a merge early in a run sees young sources only, and the next one
    measures again (and shrinks the batches, down to ``planned``, if they held more).

    Example:
        >>> resized_batch(100, 100, 1000, source_bytes=266_680, held_bytes=266_680 * 64 * 10, sources_in_window=6400)
        200
        >>> resized_batch(100, 200, 1000, source_bytes=266_680, held_bytes=266_680 * 64 * 150, sources_in_window=6400)
        100
    """
    per_source = held_bytes / sources_in_window if sources_in_window else 0.0
    allowed = planned * source_bytes / per_source if per_source > 0 else math.inf
    return max(planned, min(allowed, 2 * current, by_work))


@dataclass
class Dealer:
    """Deals the sources into batches, one a round: a batch takes the sources whose slot (the id's
    hash modulo :data:`SLOTS`) falls in the next range of ``width`` slots. The width starts at the
    plan's (:func:`count_batches`) and is resized at each merge from what it measured held
    (:func:`resized_batch`). Which batch a source walks in changes no estimate (its stream is its
    own); :mod:`sparkgraph.ppr.distributed` filters the batch's sources by their slot.

    Example:
        >>> dealer = Dealer(sources=1000, planned=250, by_work=1000, in_flight=64, source_bytes=266_680)
        >>> dealer.batches, dealer.deal(), dealer.batches
        (4, (0, 268435456), 4)
        >>> dealer.resize(held_bytes=0)  # nothing held: the batches still to deal grow twofold
        >>> dealer.per_batch, dealer.batches
        (500, 3)
    """

    sources: int
    planned: float  # sources per batch: the plan's (the estimate of the counts held, and the work)
    by_work: float  # sources per batch the walks per batch allow
    in_flight: int  # rounds a source may hold counts (the estimate's window)
    source_bytes: float  # the counts one source may hold, by the estimate
    per_batch: float = 0.0  # sources per batch now (the plan's to start with)
    dealt: int = 0  # slots dealt so far
    history: list[float] = field(default_factory=list)  # sources dealt per round, about

    def __post_init__(self):
        self.per_batch = self.per_batch or self.planned

    @property
    def done(self) -> bool:
        return self.dealt >= SLOTS

    @property
    def width(self) -> int:
        """Slots per batch now (rounded up: ``sources / b`` per batch makes ``b`` batches)."""
        if self.sources <= 0 or self.per_batch <= 0:
            return SLOTS
        return max(1, math.ceil(self.per_batch * SLOTS / self.sources))

    @property
    def batches(self) -> int:
        """Batches dealt so far and, at the present size, still to deal."""
        return len(self.history) + math.ceil((SLOTS - self.dealt) / self.width)

    def deal(self) -> tuple[int, int]:
        """The next batch's slot range ``[lo, hi)``."""
        lo = self.dealt
        self.dealt = min(SLOTS, lo + self.width)
        self.history.append((self.dealt - lo) / SLOTS * self.sources)
        return lo, self.dealt

    def resize(self, held_bytes: float) -> None:
        """Resize the batches still to deal from what a merge measured held: the counts, and the
        flow still pushing or parked, which the plan's estimate leaves out."""
        window = sum(self.history[-self.in_flight:])
        self.per_batch = resized_batch(self.planned, self.per_batch, self.by_work, self.source_bytes, held_bytes,
                                       window)
