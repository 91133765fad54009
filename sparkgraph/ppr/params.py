"""Parameters of personalized PageRank, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from sparkgraph.errors import ParameterError
from sparkgraph.udfs.walks import DENSE_MAX_VERTICES

ESTIMATORS = ("visits", "endpoints")
STRATEGIES = ("auto", "broadcast", "distributed")
DANGLING = ("source", "stop")
SPARSE_PUSH_ROUNDS = 4  # sparse flow: each round costs more than the last (the flow spreads)
DENSE_PUSH_ROUNDS = 8  # dense flow (graphs up to DENSE_MAX_VERTICES): every round costs the same


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
            walk's source and continues (networkx's convention); stop ends the walk there
            (discard, for the walk index: the walk ends and counts towards target -1).
        strategy: broadcast ships the adjacency to every task; distributed advances walks by
            joins against the partitioned adjacency; auto picks broadcast when it fits.
        broadcast_max_bytes: Adjacency size up to which auto picks broadcast.
        walks_per_batch: Walks simulated at once in one task (broadcast) or per round (distributed).
        push_sources_per_batch: Sources pushed together (broadcast with push_rounds > 0): bounds the
            flow matrix, whose rows fill the push_rounds-hop neighbourhood of each source.
        max_steps: Walks still running after this many steps end where they are (mass (1-α)^max_steps).
        seed: Random seed; same seed and partitioning give the same result.
        push_rounds: Rounds of exact flow from each source before the walks (push-then-walk, as
            in FORA): the walks then carry only the residual mass (1-α)^push_rounds, which cuts
            the error at equal ω; 0 turns it off. None (auto): 8 rounds on graphs of up to 65,536
            vertices, whose flow is kept dense and costs the same every round, 4 on larger ones,
            whose sparse flow costs more every round (measured on cnr-2000: 2.5x the time for 6
            rounds, no gain in precision). Broadcast strategy; the distributed strategy walks plainly.
        segment_length: distributed only: rounds per precomputed segment from small vertices
            (0 = off). Fewer rounds, but walkers share segments, which correlates their paths
            and raises the error at equal ω (measured 4x on karate with 64 segments): opt in.
        segment_max_degree: Vertices with out-degree up to this get segments.
        segments_per_vertex: Segments per small vertex; more means less sharing between walkers.
    """

    restart_prob: float = 0.15
    walks_per_source: int = 1000
    top_k: int = 100
    estimator: str = "visits"
    dangling: str = "source"
    strategy: str = "auto"
    broadcast_max_bytes: int = 512 * 1024**2
    walks_per_batch: int = 2_000_000
    push_sources_per_batch: int = 256
    max_steps: int = 100
    seed: int = 0
    push_rounds: int | None = None
    segment_length: int = 0
    segment_max_degree: int = 8
    segments_per_vertex: int = 256

    def __post_init__(self) -> None:
        if not 0 < self.restart_prob < 1:
            raise ParameterError(f"restart_prob={self.restart_prob} must be in (0, 1); 0.15 is usual")
        if self.push_rounds is not None and not 0 <= self.push_rounds <= 50:
            raise ParameterError(f"push_rounds={self.push_rounds} must be in 0..50 (0 turns the push off, "
                                 "null picks by graph size)")
        if self.segment_length < 0:
            raise ParameterError(f"segment_length={self.segment_length} must be >= 0 (0 turns segments off)")
        for name in ("walks_per_source", "top_k", "walks_per_batch", "max_steps", "segments_per_vertex",
                     "push_sources_per_batch"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name}={getattr(self, name)} must be a positive integer")
        for name, allowed in (("estimator", ESTIMATORS), ("strategy", STRATEGIES),
                              ("dangling", DANGLING + ("discard",))):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"{name}={getattr(self, name)!r} is not known; use one of {', '.join(allowed)}")

    def push_rounds_for(self, n: int) -> int:
        """The push rounds used on a graph of ``n`` vertices (``push_rounds``, or the auto choice)."""
        if self.push_rounds is not None:
            return self.push_rounds
        return DENSE_PUSH_ROUNDS if n <= DENSE_MAX_VERTICES else SPARSE_PUSH_ROUNDS
