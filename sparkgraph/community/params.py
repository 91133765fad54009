"""Parameters of MinHash signatures, LSH banding and communities, validated once.

:func:`optimal_bands` picks (b, r) for a Jaccard threshold exactly as datasketch's
``MinHashLSH`` does (``datasketch.lsh._optimal_param``, version 2.0.0): over every b in
1..num_perm and r in 1..num_perm // b, minimise ``fp_weight * ∫₀ᵗ P(s) ds + fn_weight * ∫ₜ¹ (1 - P(s)) ds``
with ``P(s) = 1 - (1 - s^r)^b`` (the S-curve: the chance that a pair of Jaccard s shares a bucket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from scipy.integrate import quad

from sparkgraph.errors import ParameterError
from sparkgraph.params import at_least, between, one_of, param, validate
from sparkgraph.udfs.minhash import SCHEMES

NEIGHBOURHOODS = ("out", "in", "all")
METHODS = ("label_propagation", "components")
BAND_RULES = ("recall", "datasketch")


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(b, r) minimising the weighted false-positive and false-negative areas (datasketch's rule).

    Example:
        >>> optimal_bands(0.5, 128)
        (25, 5)
    """
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = quad(candidate_probability, 0.0, threshold, args=(b, r))[0]
            fn = quad(lambda s, b=b, r=r: 1 - candidate_probability(s, b, r), threshold, 1.0)[0]
            error = fp * false_positive_weight + fn * false_negative_weight
            if error < best:
                best, opt = error, (b, r)
    return opt


def recall_bands(threshold: float, num_perm: int, min_recall: float = 0.95) -> tuple[int, int]:
    """(b, r): the largest r, with b = num_perm // r, whose S-curve gives ``P(threshold) >= min_recall``.

    Args:
        threshold: Jaccard t in (0, 1).
        num_perm: Signature length; b x r <= num_perm (rows past b x r are unused).
        min_recall: The least chance, in (0, 1), that a pair of Jaccard t (or more) becomes a candidate.

    Raises:
        ParameterError: Even one row per band (b = num_perm) misses: ``1 - (1 - t)^num_perm < min_recall``.

    Example:
        >>> recall_bands(0.5, 128)  # P(0.5) = 1 - (1 - 0.5^3)^42 = 0.996; r = 4 gives 0.873
        (42, 3)
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= min_recall:
            return bands, rows
    best = candidate_probability(threshold, num_perm, 1)
    raise ParameterError(f"no banding of num_perm={num_perm} reaches min_recall={min_recall} at threshold={threshold} "
                         f"(at most {best:.3f}); raise num_perm or threshold, or lower min_recall", key="min_recall")


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """The S-curve ``1 - (1 - s^r)^b``: chance that a pair of Jaccard ``s`` becomes a candidate."""
    return 1.0 - (1.0 - s ** float(rows)) ** float(bands)


@dataclass(frozen=True)
class MinHashParams:
    """MinHash signatures of vertex neighbourhoods.

    Attributes:
        num_perm: Permutations (signature length); the estimate's standard deviation is
            sqrt(J(1-J)/num_perm). The paper uses 100-1000.
        seed: Seed of the permutations (as datasketch's ``seed``; default 1 as datasketch).
        neighbourhood: The set of a vertex: out (its out-neighbours), in (who points to it; the
            paper's followers) or all (both). Undirected graphs: all three are the same.
        include_self: Put the vertex itself in its set (so adjacent vertices share an element).
        scheme: affine32 (datasketch >= 2.0 default) or legacy (datasketch < 2.0, mod 2^61-1).
    """

    num_perm: int = param(128, at_least(1))
    seed: int = param(1, at_least(0))
    neighbourhood: str = param("all", one_of(*NEIGHBOURHOODS))
    include_self: bool = True
    scheme: str = param("affine32", one_of(*SCHEMES))

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class LSHParams:
    """LSH banding of signatures into candidate pairs.

    Attributes:
        threshold: Target Jaccard similarity in (0, 1); picks (bands, rows) by ``band_rule``
            unless both are given.
        band_rule: recall (the steepest S-curve that finds a pair of Jaccard ``threshold`` with
            probability at least ``min_recall``: :func:`recall_bands`) or datasketch (balance the
            false-positive and false-negative areas: :func:`optimal_bands`).
        min_recall: For the recall rule: the least chance, in (0, 1), that a pair at or above the
            threshold becomes a candidate (0.95: at least 95 % of those pairs expected found).
        bands, rows: b and r explicitly (both or neither); b x r must not exceed num_perm
            (rows past b x r are unused, as in datasketch).
        false_positive_weight, false_negative_weight: For the datasketch rule: weights of the two areas.
        max_bucket_size: A bucket with more vertices is split, deterministically by a hash of the
            vertex id, into ceil(size / max_bucket_size) sub-buckets: no quadratic blow-up.
        exact_check: Also compute each candidate pair's exact Jaccard from the adjacency.
    """

    threshold: float = param(0.5, between(0, 1, low_open=True, high_open=True, hint="0.5 is usual"))
    band_rule: str = param("recall", one_of(*BAND_RULES))
    min_recall: float = param(0.95, between(0, 1, low_open=True, high_open=True, hint="0.95 is usual"))
    bands: int | None = param(None, at_least(1))
    rows: int | None = param(None, at_least(1))
    false_positive_weight: float = param(0.5, between(0, 1))
    false_negative_weight: float = param(0.5, between(0, 1))
    max_bucket_size: int = param(1000, at_least(2))
    exact_check: bool = False

    def __post_init__(self) -> None:
        validate(self)
        if (self.bands is None) != (self.rows is None):
            raise ParameterError(f"bands={self.bands} and rows={self.rows}: give both or neither "
                                 "(neither picks them from threshold)", key="bands")

    def banding(self, num_perm: int) -> tuple[int, int]:
        """(b, r) for signatures of ``num_perm`` entries.

        Raises:
            ParameterError: bands x rows exceeds num_perm, or no banding reaches ``min_recall``.
        """
        if self.bands is None and self.band_rule == "recall":
            return recall_bands(self.threshold, num_perm, self.min_recall)
        if self.bands is None:
            return optimal_bands(self.threshold, num_perm, self.false_positive_weight, self.false_negative_weight)
        if self.bands * self.rows > num_perm:
            raise ParameterError(f"bands x rows = {self.bands} x {self.rows} = {self.bands * self.rows} exceeds "
                                 f"num_perm={num_perm}; lower bands or rows, or raise num_perm", key="bands")
        return self.bands, self.rows


@dataclass(frozen=True)
class CommunityParams:
    """Whole-graph communities from a similar-vertex graph.

    Attributes:
        minhash, lsh: :class:`MinHashParams`, :class:`LSHParams`; a candidate pair becomes a
            similarity edge when its estimated Jaccard is at least ``lsh.threshold``.
        method: label_propagation (weighted, fixed rounds; splits weakly linked groups) or
            components (connected components of the similarity graph).
        graph_edges_only: Keep only similarity edges that are also edges of the graph.
        rounds: Label propagation rounds.
        max_rounds: Bound on connected-component rounds (each halves the work in practice).
    """

    minhash: MinHashParams = field(default_factory=MinHashParams)
    lsh: LSHParams = field(default_factory=LSHParams)
    method: str = param("label_propagation", one_of(*METHODS))
    graph_edges_only: bool = False
    rounds: int = param(10, at_least(1))
    max_rounds: int = param(60, at_least(1))

    def __post_init__(self) -> None:
        for name, kind in (("minhash", MinHashParams), ("lsh", LSHParams)):
            if not isinstance(getattr(self, name), kind):
                raise ParameterError(f"{name}={getattr(self, name)!r} is not a {kind.__name__}", key=name)
        validate(self)
        self.lsh.banding(self.minhash.num_perm)


@dataclass(frozen=True)
class CommunityIndexParams:
    """What a community index stores: signatures (:class:`MinHashParams`) and their LSH band
    buckets (:class:`LSHParams`).

    The default banding is datasketch's at a low threshold, 0.2 (28 bands of 2 rows at 128
    permutations): candidates for seed queries only need to contain the community, which the
    growth then ranks by estimated Jaccard. The recall rule at 0.2 would need one row per band
    (128 bands of single min-hashes): buckets of every vertex sharing one minimum, most of the
    graph as candidates of a hub, and 4.6 times the band table to load.
    """

    minhash: MinHashParams = field(default_factory=MinHashParams)
    lsh: LSHParams = field(default_factory=lambda: LSHParams(threshold=0.2, band_rule="datasketch"))

    def __post_init__(self) -> None:
        for name, kind in (("minhash", MinHashParams), ("lsh", LSHParams)):
            if not isinstance(getattr(self, name), kind):
                raise ParameterError(f"{name}={getattr(self, name)!r} is not a {kind.__name__}", key=name)
        self.lsh.banding(self.minhash.num_perm)

    @classmethod
    def from_dict(cls, values: dict) -> CommunityIndexParams:
        return cls(MinHashParams(**values["minhash"]), LSHParams(**values["lsh"]))
