"""k-medoids clustering on Spark: CLARA and partitioned FasterPAM over vectors, MinHash signatures or hop
distances in a graph."""

from sparkgraph.cluster.kmedoids import KMedoidsResult, kmedoids
from sparkgraph.cluster.params import KMedoidsParams

__all__ = ["KMedoidsParams", "KMedoidsResult", "kmedoids"]
