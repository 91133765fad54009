"""The points k-medoids clusters: a checked ``(key, id, vector)`` table built from the caller's data.

Vectors (arrays of numbers or ML vectors) become ``array<double>``; MinHash signatures (arrays of
integers) stay ``array<long>``. The key is what every random choice hashes
(:func:`sparkgraph.udfs.medoid_steps.point_keys`): the id itself when it is an integer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkgraph.cluster.params import KMedoidsParams
from sparkgraph.errors import EmptyGraphError, InputError, MissingColumnError, NullIdError, ParameterError
from sparkgraph.udfs.medoid_steps import point_keys

log = logging.getLogger(__name__)

INTEGER_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
NUMBER_TYPES = INTEGER_TYPES + (T.FloatType, T.DoubleType, T.DecimalType)


@dataclass
class Points:
    """Checked points, persisted: call :meth:`unpersist` when done.

    Attributes:
        table: ``(key long, id, vector)``: ``vector`` is ``array<double>``, or ``array<long>`` for signatures.
        n: Number of points.
        dimension: Length of every vector.
        id_field: The id column's Spark field (its name and type as the caller gave them).
        vector_type: ``array<double>`` or ``array<long>`` (the DDL of ``vector``).
    """

    table: DataFrame
    n: int
    dimension: int
    id_field: T.StructField
    vector_type: str

    def unpersist(self) -> None:
        self.table.unpersist()


def vector_column(data: DataFrame, params: KMedoidsParams) -> str:
    """The column holding vectors or signatures: ``params.vector_column``, or the only array/vector column."""
    fields = {f.name: f for f in data.schema.fields}
    if params.id_column not in fields:
        raise MissingColumnError(f"the data has no id column {params.id_column!r} (columns: {', '.join(fields)}); "
                                 "set id_column")
    if params.vector_column:
        if params.vector_column not in fields:
            raise MissingColumnError(f"the data has no column {params.vector_column!r} (columns: {', '.join(fields)}); "
                                     "set vector_column")
        return params.vector_column
    arrays = [name for name, f in fields.items() if name != params.id_column and _is_vector_type(f.dataType)]
    if len(arrays) != 1:
        found = f"{len(arrays)} ({', '.join(arrays)})" if arrays else "none"
        raise MissingColumnError(f"the data needs one array or vector column besides {params.id_column!r}, found "
                                 f"{found}; set vector_column")
    return arrays[0]


def _is_vector_type(dtype: T.DataType) -> bool:
    return isinstance(dtype, T.ArrayType) or dtype.simpleString() == "vector"


def _as_array(data: DataFrame, column: str) -> tuple[DataFrame, str]:
    """The column as an array, and its kind: ``vectors`` or ``signatures``."""
    dtype = data.schema[column].dataType
    if dtype.simpleString() == "vector":
        from pyspark.ml.functions import vector_to_array
        return data.withColumn(column, vector_to_array(F.col(column))), "vectors"
    if not isinstance(dtype, T.ArrayType) or not isinstance(dtype.elementType, NUMBER_TYPES):
        raise InputError(f"column {column!r} is {dtype.simpleString()}; give an array of numbers, an ML vector or a "
                         "MinHash signature (array of integers)")
    if isinstance(dtype.elementType, INTEGER_TYPES):
        return data.withColumn(column, F.col(column).cast("array<long>")), "signatures"
    return data.withColumn(column, F.col(column).cast("array<double>")), "vectors"


def points_of(data: DataFrame, params: KMedoidsParams) -> Points:
    """Check the caller's table and give it keys (one Spark job for the checks).

    Raises:
        MissingColumnError, NullIdError, InputError, EmptyGraphError, ParameterError: null or repeated ids,
        missing, NaN or infinite vectors, vectors of different lengths, a metric that does not fit the
        vectors, k above the number of points.
    """
    column = vector_column(data, params)
    arrays, kind = _as_array(data.select(params.id_column, column), column)
    if kind == "signatures" and params.metric != "jaccard":
        raise ParameterError(f"column {column!r} holds integers (MinHash signatures) but metric={params.metric!r}; "
                             "use metric: jaccard, or give vectors of floats", key="metric")
    if kind == "vectors" and params.metric == "jaccard":
        raise ParameterError(f"metric='jaccard' compares MinHash signatures (arrays of integers), but {column!r} "
                             "holds floats; use euclidean or cosine", key="metric")
    vec, ident = F.col(column), F.col(params.id_column)
    bad_value = (F.exists(vec, lambda x: F.isnan(x) | (F.abs(x) == float("inf"))) if kind == "vectors"
                 else F.lit(False))
    facts = arrays.agg(
        F.count(F.lit(1)).alias("n"), F.count_distinct(ident).alias("distinct"),
        F.sum(ident.isNull().cast("long")).alias("null_ids"), F.sum(vec.isNull().cast("long")).alias("null_vectors"),
        F.min(F.size(vec)).alias("shortest"), F.max(F.size(vec)).alias("longest"),
        F.sum(bad_value.cast("long")).alias("non_finite"),
    ).first()
    n = int(facts["n"])
    if n == 0:
        raise EmptyGraphError("the data has no rows; give at least k points")
    if facts["null_ids"]:
        raise NullIdError(f"{facts['null_ids']} points have a null {params.id_column!r}; drop them or give them ids")
    if facts["distinct"] != n:
        raise InputError(f"{n - facts['distinct']} ids of {params.id_column!r} repeat; give each point once "
                         "(e.g. dropDuplicates([id]))")
    if facts["null_vectors"]:
        raise InputError(f"{facts['null_vectors']} points have no {column!r}; drop them or give them vectors")
    if facts["shortest"] != facts["longest"]:
        raise InputError(f"{column!r} holds vectors of different lengths ({facts['shortest']} to {facts['longest']}); "
                         "give every point the same length")
    if facts["shortest"] == 0:
        raise InputError(f"{column!r} holds empty vectors; give every point at least one value")
    if facts["non_finite"]:
        raise InputError(f"{facts['non_finite']} vectors of {column!r} hold NaN or infinite values; fix or drop them")
    if params.k > n:
        raise ParameterError(f"k={params.k} is above the number of points ({n}); give k <= {n}", key="k")
    id_field = arrays.schema[params.id_column]
    vector_type = "array<long>" if kind == "signatures" else "array<double>"
    table = with_keys(arrays, params.id_column, column, id_field, vector_type)
    table = table.persist(StorageLevel.MEMORY_AND_DISK)
    log.info("k-medoids input: %d points of %s[%d]", n, vector_type, facts["shortest"])
    return Points(table, n, int(facts["shortest"]), id_field, vector_type)


def with_keys(data: DataFrame, id_column: str, column: str, id_field: T.StructField, vector_type: str) -> DataFrame:
    """``(key, id, vector)``: integer ids are their own keys; other ids are hashed on the executors."""
    if isinstance(id_field.dataType, INTEGER_TYPES):
        return data.select(F.col(id_column).cast("long").alias("key"), F.col(id_column).alias("id"),
                           F.col(column).alias("vector"))
    schema = T.StructType([T.StructField("key", T.LongType()), T.StructField("id", id_field.dataType),
                           T.StructField("vector", T.DataType.fromDDL(vector_type))])

    def keyed(batches):
        for frame in batches:
            yield pd.DataFrame({"key": point_keys(frame[id_column].to_numpy()), "id": frame[id_column],
                                "vector": frame[column]})

    return data.mapInPandas(keyed, schema)
