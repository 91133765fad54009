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
    """A parameter value is outside its accepted range."""


class ConfigError(InputError):
    """A configuration key is unknown or its value has the wrong type."""


class DatasetNotFoundError(InputError):
    """A named data set or an input path cannot be found."""


class OutputExistsError(SparkgraphError):
    """The output location exists and overwriting was not asked for."""


class GraphTooLargeError(SparkgraphError):
    """Collecting the graph to the driver would exceed the stated memory budget."""
