"""Parameters of personalized PageRank, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from sparkgraph.errors import ParameterError
from sparkgraph.params import at_least, at_most, between, one_of, param, validate
from sparkgraph.udfs.push import MAX_PUSH_ROUNDS, PushPlan, auto_push
from sparkgraph.udfs.streams import MAX_SEED

ESTIMATORS = ("visits", "endpoints")
STRATEGIES = ("auto", "broadcast", "distributed")
DANGLING = ("source", "stop")


@dataclass(frozen=True)
class PPRParams:
    """Monte Carlo personalized PageRank.

    Attributes:
        restart_prob: Probability α that a walk stops at each step (the teleport probability).
        walks_per_source: Walks ω started from every source.
        top_k: Targets kept per source (highest scores).
        estimator: visits counts every visit of a walk with weight α (lower variance);
            endpoints counts where walks stop (the paper's estimator).
        dangling: What a walk does at a vertex without out-edges: source jumps back to the
            walk's source and continues (networkx's convention); stop ends the walk there.
        strategy: broadcast ships the adjacency to every task; distributed cuts it into shards
            that stay on the executors and moves the walkers between them; auto picks broadcast
            when it fits.
        broadcast_max_bytes: Memory one task may hold for the graph (indices, weights and their per-row
            sums, the push's transition matrix: see fully_ppr.adjacency_bytes) up to which auto picks broadcast.
        shard_max_bytes: Memory one task may hold for its shard of the graph (distributed: 8 bytes
            per arc and per vertex, 24 more per arc when weighted); the graph is cut into as few
            shards as keep each within it (its whole walk graph / shard_max_bytes, rounded up).
            Lower it for executors with little memory.
        walks_per_batch: Walks simulated at once in one task (broadcast), or entering the walk at
            each round per task (distributed: a new batch of sources joins the walkers still
            moving; the tasks, replicas of the shards, number one per walks_per_batch walkers, at
            most two per unit of parallelism, and at least one per shard). Over several shards
            counts_max_bytes may ask for more, smaller batches.
        counts_max_bytes: Distributed over several shards: the walker counts held on the executors
            (memory and disk) per task. A source's counts are held until a merge after its last
            walker stops; the sources are dealt into as many batches as keep the counts of the
            sources in flight, by the estimate of
            :mod:`sparkgraph.ppr.count_memory` (each ships up to ω/α entries of 40 bytes, ω with
            endpoints, and is in flight for its push and its longest walk, ~(ln ω + 0.58)/-ln(1-α)
            rounds, plus up to 16 rounds until a merge), within tasks × counts_max_bytes; the
            merges read buckets of at most 256 MiB each. That plan is where the batches start:
            each merge measures the counts held, and later batches grow (at most twofold per
            merge, up to the walks per batch) to what the measure allows, so the counts held stay
            within about twice the budget while the measure catches up. All 1M sources of a 1M-vertex social graph
            over 3 shards and 9 tasks in the work's 56 batches (~10⁶ sources in flight by that
            estimate) ran a 24 GB machine out of memory; the default makes that 884 batches, so
            more rounds (903 in 3,899.6 s there) for counts that fit. Over one shard it asks for nothing
            (every source is scored in the task call that starts it). count_top does not enter the
            estimate: it bounds the merged counts of a source, not those shipped between merges.
        push_sources_per_batch: Sources pushed together (broadcast with push_rounds > 0): bounds the
            flow matrix, whose rows fill the push_rounds-hop neighbourhood of each source.
        max_steps: Walks still running after this many steps end where they are (mass (1-α)^max_steps).
        seed: Random seed, 0 to 2**63 - 1. Each source walks on its own random stream, a pure
            function of (seed, source): the same seed gives the same estimate for a source whatever
            the partitioning, batch sizes, strategy batching or other sources requested.
        push_rounds: Rounds of exact flow from each source before the walks (push-then-walk, as
            in FORA): the walks then carry only the residual mass (1-α)^push_rounds, which cuts
            the error at equal ω; 0 turns it off. None (auto) chooses by cost
            (:func:`sparkgraph.udfs.push.auto_push`). On graphs of up to 65,536 vertices (dense flow):
            8 rounds, then each source whose flow has mixed so far that placing it where it stands
            errs (by a proven bound) less than ω walks do on any graph we measured finishes there,
            without walks; a source heading that way may push on for as many rounds as its walks
            cost. Above: every flow entry pushes while it holds enough flow per out-arc that the
            round costs the source no more than its walks (sparkgraph.udfs.push.push_threshold),
            at most 8 rounds, so flow in a dense neighbourhood (a social graph) stops after a few
            rounds and flow in a local neighbourhood (a web graph) goes on. A number pushes every
            entry that many rounds (broadcast). The distributed strategy pushes by the same
            per-entry rule, at most that many rounds; under auto at most 8 when the graph is one
            shard (a source's push then never leaves its task), none over several shards (crossing
            flow is held between rounds and costs a round a step: 8 rounds over 8 shards of
            cnr-2000 gave broadcast's accuracy at 1.77x the time of no push; see ShardPush.of).
        count_top: Distributed only: the walker counts a task ships, and a merge keeps, for a source
            still walking, at most this many, its largest (at least top_k; null keeps all, exact).
            A source is scored whole, untrimmed, in the task call that started it when its push and
            every walker start and stop there (over one shard: every source); otherwise each task
            call that holds its walkers and each merge before its walks end keeps its count_top
            largest credits (α·visits + ends), so a target's estimate falls short by at most the sum,
            over those trims, of each trim's count_top-th largest credit times the source's scale
            (1/ω, or its residual mass / ω with push). A merge then keeps at most count_top counts of
            a walking source (untrimmed: up to ω/α) and a task call ships as many, at that cost. Refused when every entry is
            asked for (fully_ppr's top_k=False), whatever the strategy.
        smooth: Re-estimate each source's top_k + 20 highest entries by one step of the PPR
            equation, α·e_s + (1-α)·π̂·P, from the estimates of their in-neighbours
            (:mod:`sparkgraph.udfs.smoothing`): unbiased (exact PPR is its fixed point), and a
            vertex's noise averaged over its in-neighbours, which ranks the
            near-ties of a social graph (a 100k-vertex degree-corrected planted partition, ω = 1000,
            auto push, all sources: precision@10 0.919 → 0.9785, 119.6 s → 186.2 s on 2 cores; raising
            ω instead gets 0.9365 at ω = 2000 in 244 s). The cost follows the candidates' in-degrees,
            not ω, so it weighs most at small ω. Broadcast
            strategy only (each task holds the whole graph and its in-arcs: 12 bytes more per arc,
            24 without push, which then builds the transition matrix too); refused when every entry
            is asked for (fully_ppr's top_k=False).
    """

    restart_prob: float = param(0.15, between(0, 1, low_open=True, high_open=True, hint="0.15 is usual"))
    walks_per_source: int = param(1000, at_least(1))
    top_k: int = param(100, at_least(1))
    estimator: str = param("visits", one_of(*ESTIMATORS))
    dangling: str = param("source", one_of(*DANGLING))
    strategy: str = param("auto", one_of(*STRATEGIES))
    broadcast_max_bytes: int = param(512 * 1024**2, at_least(1))
    shard_max_bytes: int = param(64 * 1024**2, at_least(1))
    walks_per_batch: int = param(2_000_000, at_least(1))
    counts_max_bytes: int = param(2 * 1024**3, at_least(1))
    push_sources_per_batch: int = param(256, at_least(1))
    max_steps: int = param(100, at_least(1))
    seed: int = param(0, at_least(0), at_most(MAX_SEED))
    push_rounds: int | None = param(None, between(0, MAX_PUSH_ROUNDS, hint="0 turns the push off, null picks by cost"))
    count_top: int | None = param(None, at_least(1))
    smooth: bool = param(False)

    def __post_init__(self) -> None:
        validate(self)
        if self.smooth and self.strategy == "distributed":
            raise ParameterError("smooth=True needs the whole graph in each task (a source's top entries are "
                                 "re-estimated from their in-neighbours'), not the distributed strategy's shards: "
                                 "use strategy 'broadcast' or 'auto', or leave smooth false", key="smooth")
        if self.count_top is not None and self.count_top < self.top_k:
            raise ParameterError(f"count_top={self.count_top} is below top_k={self.top_k}: a task must ship at least "
                                 "the top_k counts a source keeps; raise it, or leave it null to ship all",
                                 key="count_top")

    def push_plan(self, n: int, arcs: int, dangling: str | None = None) -> PushPlan:
        """The push on a graph of ``n`` vertices and ``arcs`` arcs (walks under ``dangling``, by default
        ``self.dangling``): ``push_rounds`` for every source, or the auto choice by cost."""
        if self.push_rounds is not None:
            return PushPlan(self.push_rounds)
        return auto_push(n, arcs, self.walks_per_source, self.restart_prob, dangling or self.dangling)
