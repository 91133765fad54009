"""Parameters of FastRP, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparkgraph.errors import ParameterError
from sparkgraph.params import at_least, between, one_of, param, validate

DIRECTIONS = ("out", "in", "both")
STRATEGIES = ("auto", "single", "blocks")


def _weights(name: str, value: tuple) -> None:
    if not value or not any(w != 0 for w in value):
        raise ParameterError(f"{name}={list(value)!r} needs at least one non-zero weight; "
                             "e.g. [0, 1, 1]", key=name)
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in value):
        raise ParameterError(f"{name}={list(value)!r} must hold finite numbers", key=name)


def _numbers(name: str, value, hint: str) -> tuple:
    """A list of weights as a tuple of numbers: from YAML lists, or "0,1,1" from a command line."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        return tuple(float(w) if isinstance(w, str) else w for w in items)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be numbers, {hint}", key=name) from None


def _sparsity(name: str, value) -> None:
    if value == "sqrt_n":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
        raise ParameterError(f"{name}={value!r} is not 'sqrt_n' or a number >= 1 (3 as in Neo4j GDS)", key=name)


@dataclass(frozen=True)
class FastRPParams:
    """FastRP (Chen et al., CIKM 2019): very sparse random projection, propagated over the graph.

    Attributes:
        dimension: Length d of each embedding.
        iteration_weights: Weight of each iteration's vectors in the sum; one per iteration (GDS: [0, 1, 1]).
        normalization_strength: β of the degree scaling L = diag(d^β), in [-1, 1] (the paper tunes it in [-1, 0]).
        sparsity: s of the projection (entries ±sqrt(s) with probability 1/(2s) each): sqrt_n (the paper) or a number >= 1 (3 in GDS).
        row_normalization: Scale every iteration's vectors to unit length before they are summed (the paper's choice).
        self_influence: Weight of the starting vectors themselves in the sum (GDS's nodeSelfInfluence).
        direction: Which arcs a vertex averages over in a directed graph: out, in or both (undirected graphs store both).
        feature_dim: Dimensions given to projected vertex features, when features are passed (the rest are random).
        seed: Random seed (>= 0); the projection row of a vertex depends only on the seed and its id.
        strategy: single runs the whole computation in one task that receives the adjacency (fastest while it
            fits one task); blocks runs block products over many tasks (any size); auto picks single when its
            memory estimate (12 bytes per arc plus 16 per vertex and dimension) is within single_max_bytes.
        single_max_bytes: Memory one task may use for the single strategy.
    """

    dimension: int = param(128, at_least(1))
    iteration_weights: tuple = param((0.0, 1.0, 1.0), _weights)
    normalization_strength: float = param(0.0, between(-1, 1))
    sparsity: str | float = param("sqrt_n", _sparsity)
    row_normalization: bool = True
    self_influence: float = 0.0
    direction: str = param("out", one_of(*DIRECTIONS))
    feature_dim: int = param(0, at_least(0))
    seed: int = param(0, at_least(0))
    strategy: str = param("auto", one_of(*STRATEGIES))
    single_max_bytes: int = param(1024**3, at_least(1))

    def __post_init__(self) -> None:
        object.__setattr__(self, "iteration_weights", _numbers("iteration_weights", self.iteration_weights,
                                                               "one per iteration; e.g. [0, 1, 1]"))
        validate(self)
        if self.feature_dim >= self.dimension:
            raise ParameterError(f"feature_dim={self.feature_dim} must be below dimension={self.dimension}: some "
                                 "dimensions stay random", key="feature_dim")

    @property
    def iterations(self) -> int:
        return len(self.iteration_weights)

    @classmethod
    def paper_blogcatalog(cls, seed: int = 0) -> FastRPParams:
        """The paper's BlogCatalog setting: d=512, 4 iterations weighted (0, 0, 1, 6.67), β=-0.64."""
        return cls(dimension=512, iteration_weights=(0.0, 0.0, 1.0, 6.67), normalization_strength=-0.64,
                   sparsity="sqrt_n", row_normalization=True, seed=seed)


EMBEDDERS = ("fastrp", "spectral")
SPECTRAL_MAX_PART = 10_000  # the spectral embedder holds dense part x part matrices (800 MB each at this size)


@dataclass(frozen=True)
class PartitionedParams:
    """Partitioned network embedding (Lin, KDD 2021): split, embed every part, fuse.

    Attributes:
        max_part_size: Most vertices in one part (>= 2). A graph no larger is one part, embedded as a whole.
        max_levels: Border levels at most: the vertices on cut edges are partitioned and embedded again, up to
            this many times (0: level 0 only).
        embedder: fastrp (the part's FastRP, the fastrp section's settings) or spectral (NetMF of the part,
            dense: parts of at most 10000 vertices).
        window: NetMF's window T (the spectral embedder): random-walk steps a vertex's context spans.
        negative: NetMF's negative-sampling b (the spectral embedder).
        fusion_weights: Weight of the fused vectors X, then of each averaging step over the whole graph
            (rownorm(M X), rownorm(M² X) ...): the final vector is their weighted sum. The default [0, 1, 1]
            is FastRP's own default iteration weights, with the fused vectors in the place of FastRP's random
            projection: the same two hops as whole-graph FastRP are averaged, and no term holds a vertex's own
            part vector, so its own part does not dominate (cut edges score as edges inside a part do).
        partition_rounds: Label-propagation rounds per level at most (it stops once fewer than 0.1 % of the
            vertices move).
        community_rounds: Plain label-propagation rounds that grow communities before they are dealt into
            parts (0: every vertex starts in a random part).
        seed: Random seed (>= 0) of the partitioning; the vectors' projection uses the fastrp seed.
        strategy: How the partition is computed (the parts are the same): single runs every level in one task
            that receives the graph's linked pairs (fastest while they fit one task); distributed runs label
            propagation in DataFrame steps (any size); auto picks single when its estimate (160 bytes per arc)
            is within single_max_bytes.
        single_max_bytes: Memory one task may use for the single strategy.
    """

    max_part_size: int = param(2000, at_least(2))
    max_levels: int = param(2, at_least(0))
    embedder: str = param("fastrp", one_of(*EMBEDDERS))
    window: int = param(10, at_least(1))
    negative: float = param(1.0, between(0, math.inf, low_open=True))
    fusion_weights: tuple = param((0.0, 1.0, 1.0), _weights)
    partition_rounds: int = param(20, at_least(1))
    community_rounds: int = param(10, at_least(0))
    seed: int = param(0, at_least(0))
    strategy: str = param("auto", one_of("auto", "single", "distributed"))
    single_max_bytes: int = param(1024**3, at_least(1))

    def __post_init__(self) -> None:
        object.__setattr__(self, "fusion_weights", _numbers("fusion_weights", self.fusion_weights, "e.g. [1, 1]"))
        validate(self)
        if self.embedder == "spectral" and self.max_part_size > SPECTRAL_MAX_PART:
            raise ParameterError(f"max_part_size={self.max_part_size} is too large for the spectral embedder, "
                                 f"which holds dense part x part matrices; give at most {SPECTRAL_MAX_PART} or "
                                 "embedder fastrp", key="max_part_size")
