"""MinHash + LSH communities (Chamberlain et al., PLOS ONE 2018): signatures
(:func:`minhash_signatures`), candidate pairs (:func:`lsh_candidates`), whole-graph communities
(:func:`lsh_communities`) and seed queries on a saved index (:func:`build_community_index`,
:class:`CommunityIndex`)."""

from sparkgraph.community.communities import CommunityResult, lsh_communities
from sparkgraph.community.lsh import Candidates, lsh_candidates
from sparkgraph.community.minhash import minhash_signatures, neighbour_sets, set_signatures
from sparkgraph.community.params import CommunityParams, LSHParams, MinHashParams, optimal_bands, recall_bands

__all__ = ["Candidates", "CommunityParams", "CommunityResult", "LSHParams", "MinHashParams", "lsh_candidates",
           "lsh_communities", "minhash_signatures", "neighbour_sets", "optimal_bands",
           "recall_bands", "set_signatures"]
