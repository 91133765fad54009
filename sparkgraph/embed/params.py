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
        raise ParameterError(f"{name}={list(value)!r} needs at least one non-zero weight (one per iteration); "
                             "e.g. [0, 1, 1]", key=name)
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in value):
        raise ParameterError(f"{name}={list(value)!r} must hold finite numbers, one per iteration", key=name)


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
        weights = self.iteration_weights
        if isinstance(weights, str):  # "0,1,1" from a command line
            weights = weights.split(",")
        try:  # lists from YAML, text from flags
            weights = tuple(float(w) if isinstance(w, str) else w for w in weights)
        except (TypeError, ValueError):
            raise ParameterError(f"iteration_weights={self.iteration_weights!r} must be numbers, one per iteration; "
                                 "e.g. [0, 1, 1]", key="iteration_weights") from None
        object.__setattr__(self, "iteration_weights", weights)
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
