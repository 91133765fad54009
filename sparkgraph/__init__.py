"""sparkgraph: graph analytics on Apache Spark, validated against exact local references.

Example:
    >>> from sparkgraph import Graph, get_session, load_graph
    >>> spark = get_session()
    >>> g = load_graph(spark, "karate")
    >>> g.stats()["vertices"]
    34
"""

__version__ = "0.1.0"

from sparkgraph.graph import Graph, GraphOptions  # noqa: E402
from sparkgraph.session import SessionConfig, get_session  # noqa: E402


def load_graph(spark, name, options=None):
    """Build the Graph of a named data set (see :mod:`sparkgraph.datasets`)."""
    from sparkgraph.datasets import load_graph as _load

    return _load(spark, name, options)


__all__ = ["Graph", "GraphOptions", "SessionConfig", "get_session", "load_graph", "__version__"]
