"""Exceptions raised by sparkgraph.

Every error names the problem and the fix in one line, so that a job can print
``error: <message>`` and exit non-zero without a traceback. All derive from
:class:`SparkgraphError`; input problems also derive from ``ValueError``.
"""

from __future__ import annotations


class SparkgraphError(Exception):
    """Base class of every error sparkgraph raises on purpose."""


class InputError(SparkgraphError, ValueError):
    """The input data or a parameter is not usable as given."""


class MissingColumnError(InputError):
    """A required column is absent from an input DataFrame."""


class NullIdError(InputError):
    """A vertex id (edge endpoint or vertex table id) is null."""


class InvalidWeightError(InputError):
    """An edge weight is null, NaN, infinite, negative or zero."""


class EmptyGraphError(InputError):
    """The edge set is empty."""


class UnknownVertexError(InputError):
    """An id (edge endpoint, seed, source) is not a vertex of the graph."""


class ParameterError(InputError):
    """A parameter value has the wrong type or is outside its accepted range.

    ``key`` is the parameter's name when the message starts with it (``top_k=0 must ...``), so
    a job can prefix its section (``ppr.top_k=0 must ...``) with :meth:`within`.
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key

    def within(self, prefix: str) -> ParameterError:
        """The same error with the key written as ``prefix + key``."""
        if not self.key or not prefix:
            return self
        return type(self)(prefix + str(self), key=prefix + self.key)


class ConfigError(InputError):
    """A configuration key is unknown or its value has the wrong type."""


class DatasetNotFoundError(InputError):
    """A named data set or an input path cannot be found."""


class OutputExistsError(SparkgraphError):
    """The output location exists and overwriting was not asked for."""


class GraphTooLargeError(SparkgraphError):
    """Collecting the graph to the driver would exceed the stated memory budget."""
