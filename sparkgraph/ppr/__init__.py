"""Personalized PageRank: fully-PPR by Monte Carlo walks, and a walk index with batched queries.

Example:
    >>> from sparkgraph.ppr import PPRParams, fully_ppr
    >>> top = fully_ppr(graph, PPRParams(walks_per_source=2000, top_k=10, seed=1))
"""

from sparkgraph.ppr.fully_ppr import fully_ppr
from sparkgraph.ppr.index import QueryParams, WalkIndex, WalkIndexParams, build_walk_index, query
from sparkgraph.ppr.params import PPRParams

__all__ = ["PPRParams", "fully_ppr", "WalkIndex", "WalkIndexParams", "QueryParams", "build_walk_index", "query"]
