"""Parameters of k-medoids, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from sparkgraph.errors import ParameterError
from sparkgraph.params import at_least, between, one_of, param, validate

METHODS = ("auto", "clara", "partitioned")
METRICS = ("euclidean", "cosine", "jaccard", "hop")
INITS = ("lab", "random", "kmeans++")

MIN_GROUP_SIZE = 2000
GROUP_SIZE_PER_MEDOID = 20


@dataclass(frozen=True)
class KMedoidsParams:
    """k-medoids with FasterPAM (Schubert & Rousseeuw, Information Systems 2021) over data that no
    n x n matrix can hold.

    Attributes:
        k: Number of medoids (1 <= k <= number of points).
        metric: euclidean or cosine between vectors, jaccard between MinHash signatures (1 minus
            the fraction of equal positions), or hop (shortest-path hops in a graph, edges taken
            in both directions; only with a Graph and the clara method).
        method: clara (FasterPAM on ``samples`` samples, the best one kept: Kaufman & Rousseeuw),
            partitioned (FasterPAM on groups of ``group_size`` points in parallel, their medoids
            weighted by cluster size clustered again level by level, then refinement rounds), or
            auto (partitioned for vectors and signatures, clara for hop).
        init: How each FasterPAM solve starts: lab (linear approximative BUILD), random or
            kmeans++ (D^2 sampling).
        max_iter: Most FasterPAM passes over the candidates in one solve.
        samples: CLARA's number of samples (5 in the paper).
        sample_size: CLARA's points per sample; 0 means 80 + 4k (the paper's rule).
        group_size: Points per group in the partitioned method; each group's solve holds a
            group_size^2 matrix of float64 (2,000 points: 32 MB). 0 means max(2000, 20k), so every
            level shrinks the points at least twentyfold.
        refine_rounds: Most refinement rounds of the partitioned method (each one pass over the data).
        refine_candidates: Members tried per cluster in each refinement round as its new medoid.
        tolerance: Refinement stops when a round lowers the loss by less than this fraction.
        seed: Random seed (>= 0); every sample, group and candidate draw is a hash of (seed, point id).
        id_column: Column of point ids in a data table.
        vector_column: Column of vectors (array of numbers, or an ML vector) or MinHash signatures
            (array of integers); empty means the one array or vector column besides the id.
    """

    k: int = param(10, at_least(1))
    metric: str = param("euclidean", one_of(*METRICS))
    method: str = param("auto", one_of(*METHODS))
    init: str = param("lab", one_of(*INITS))
    max_iter: int = param(100, at_least(1))
    samples: int = param(5, at_least(1))
    sample_size: int = param(0, at_least(0))
    group_size: int = param(0, at_least(0))
    refine_rounds: int = param(10, at_least(0))
    refine_candidates: int = param(32, at_least(1))
    tolerance: float = param(1e-4, between(0, 1))
    seed: int = param(0, at_least(0))
    id_column: str = "id"
    vector_column: str = ""

    def __post_init__(self) -> None:
        validate(self)
        if self.metric == "hop" and self.method == "partitioned":
            raise ParameterError("method='partitioned' needs dissimilarities between any two points, which for "
                                 "metric='hop' means a search from every vertex; use method: clara (or auto)",
                                 key="method")
        if self.sample_size and self.sample_size < self.k:
            raise ParameterError(f"sample_size={self.sample_size} is below k={self.k}; give at least k "
                                 "(0 means 80 + 4k)", key="sample_size")
        if self.group_size and self.group_size < 2 * self.k:
            raise ParameterError(f"group_size={self.group_size} is below 2k={2 * self.k}: a level would not shrink "
                                 "the points; give at least 2k (0 means max(2000, 20k))", key="group_size")

    @property
    def chosen_method(self) -> str:
        """The method ``auto`` resolves to."""
        if self.method != "auto":
            return self.method
        return "clara" if self.metric == "hop" else "partitioned"

    @property
    def points_per_sample(self) -> int:
        """CLARA's sample size: ``sample_size``, or 80 + 4k."""
        return self.sample_size or 80 + 4 * self.k

    @property
    def points_per_group(self) -> int:
        """The partitioned method's group size: ``group_size``, or max(2000, 20k)."""
        return self.group_size or max(MIN_GROUP_SIZE, GROUP_SIZE_PER_MEDOID * self.k)
