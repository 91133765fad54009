"""The distributed strategy's plan for its counts (sparkgraph.ppr.count_memory), without Spark."""

import math

import numpy as np
import pytest

from sparkgraph.ppr.count_memory import (
    MERGE_BUCKET_BYTES,
    SLOTS,
    Dealer,
    count_batches,
    count_buckets,
    entries_per_source,
    resized_batch,
    rounds_in_flight,
)


@pytest.mark.parametrize("walks,restart_prob", [(1000, 0.15), (100, 0.3), (4000, 0.1)])
def test_rounds_in_flight_covers_the_longest_of_a_sources_walks(walks, restart_prob):
    """The longest of ω walks (steps before the stop, geometric), simulated 2,000 times: its mean
    plus the round the last step lands in is within the estimate, and the estimate exceeds it by less
    than two rounds (it is the expectation, rounded up, not a tail bound)."""
    rng = np.random.default_rng(7)
    longest = rng.geometric(restart_prob, size=(2000, walks)).max(axis=1) - 1  # steps taken before the stop
    estimate = rounds_in_flight(walks, restart_prob, max_steps=10_000, push_rounds=0, split_hubs=False)
    assert longest.mean() + 1 <= estimate < longest.mean() + 3


def test_rounds_in_flight_adds_the_push_caps_at_max_steps_and_doubles_through_split_hubs():
    plain = rounds_in_flight(1000, 0.15, 100, push_rounds=0, split_hubs=False)
    assert rounds_in_flight(1000, 0.15, 100, push_rounds=3, split_hubs=False) == plain + 4
    assert rounds_in_flight(1000, 0.15, 100, push_rounds=0, split_hubs=True) == 2 * plain
    assert rounds_in_flight(1000, 0.15, 10, push_rounds=0, split_hubs=False) == 10


def test_entries_per_source_is_a_walks_positions_or_its_end():
    assert entries_per_source(1000, 0.2, "visits") == pytest.approx(5000)
    assert entries_per_source(1000, 0.2, "endpoints") == 1000


@pytest.mark.parametrize("sources,in_flight,budget", [(1_000_000, 64, 18 * 2**30), (10_000, 40, 2**28),
                                                      (777, 30, 2**26)])
def test_count_batches_are_the_fewest_that_keep_the_counts_held_within_the_budget(sources, in_flight, budget):
    """Held: the counts of ``sources / batches × in_flight`` sources (all of them at most)."""
    source_bytes = 40 * entries_per_source(1000, 0.15, "visits")

    def held(batches: int) -> float:
        return min(sources, sources / batches * in_flight) * source_bytes

    batches = count_batches(sources, source_bytes, in_flight, budget)
    assert batches > 1 and held(batches) <= budget < held(batches - 1)


def test_count_batches_ask_for_one_batch_when_every_sources_counts_fit_and_one_source_per_batch_at_most():
    assert count_batches(50_000, 266_680, in_flight=64, budget=18 * 2**30) == 1  # 13.3 GB of counts in all
    assert count_batches(5, 20_000, in_flight=37, budget=1) == 5


@pytest.mark.parametrize("sources,batches,in_flight", [(1_000_000, 884, 64), (1_000_000, 56, 64), (50_000, 3, 64)])
def test_count_buckets_keep_each_merge_within_its_bytes(sources, batches, in_flight):
    source_bytes = 40 * entries_per_source(1000, 0.15, "visits")
    held = min(sources, math.ceil(sources / batches) * in_flight) * source_bytes
    buckets = count_buckets(sources, batches, source_bytes, in_flight)
    assert held / buckets <= MERGE_BUCKET_BYTES < held / (buckets - 1)


def test_resized_batch_follows_the_measured_counts_within_its_bounds():
    """A merge that measures a tenth of the estimate's counts per source lets the batch grow tenfold,
    but at most twofold per merge and never past the walks per batch; one that measures more than
    the estimate shrinks it back to the plan, never below; nothing measured (no source in the window,
    or none holding counts) grows it twofold."""
    source_bytes, window = 266_680, 6_400
    def at(per_source: float, current: float = 100, by_work: float = 10_000) -> float:
        return resized_batch(100, current, by_work, source_bytes, per_source * window, window)

    assert at(source_bytes / 10) == 200 and at(source_bytes / 10, current=800) == 1000
    assert at(source_bytes / 10, current=800, by_work=900) == 900
    assert at(source_bytes) == 100 and at(2 * source_bytes, current=800) == 100
    assert at(0.0, current=300) == 600 and resized_batch(100, 300, 10_000, source_bytes, 0, 0) == 600


@pytest.mark.parametrize("sources,batches", [(5, 5), (5, 3), (7, 4), (3, 1), (325_557, 324), (1_000_000, 884)])
def test_the_dealer_deals_every_slot_once_in_the_planned_batches(sources, batches):
    """Slot ranges that tile [0, SLOTS) without gap or overlap, as many as planned (the width is
    rounded up, so no sliver of a batch is left over), about sources / batches sources each."""
    dealer = Dealer(sources, sources / batches, float(sources), in_flight=64, source_bytes=1.0)
    assert dealer.batches == batches
    ranges = []
    while not dealer.done:
        ranges.append(dealer.deal())
    assert len(ranges) == batches and ranges[0][0] == 0 and ranges[-1][1] == SLOTS
    assert all(hi == lo for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False))
    assert math.isclose(sum(dealer.history), sources)
