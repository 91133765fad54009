"""Node embeddings: FastRP (:func:`fastrp`), its evaluation (:mod:`sparkgraph.embed.evaluate`) and
similarity search (:func:`nearest`)."""

from sparkgraph.embed.fastrp import fastrp, to_vectors
from sparkgraph.embed.nearest import nearest
from sparkgraph.embed.params import FastRPParams

__all__ = ["FastRPParams", "fastrp", "nearest", "to_vectors"]
