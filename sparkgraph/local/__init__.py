"""Local (single-machine) reference implementations over :class:`LocalGraph`."""

from sparkgraph.local.graph import LocalGraph

__all__ = ["LocalGraph"]
