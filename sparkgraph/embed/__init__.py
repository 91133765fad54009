"""Node embeddings: FastRP (:func:`fastrp`), partitioned embedding (:func:`partitioned_embedding`), their
evaluation (:mod:`sparkgraph.embed.evaluate`) and similarity search (:func:`nearest`)."""

from sparkgraph.embed.fastrp import fastrp, to_vectors
from sparkgraph.embed.nearest import nearest
from sparkgraph.embed.params import FastRPParams, PartitionedParams
from sparkgraph.embed.partitioned import PartitionedResult, partitioned_embedding

__all__ = ["FastRPParams", "PartitionedParams", "PartitionedResult", "fastrp", "nearest", "partitioned_embedding",
           "to_vectors"]
