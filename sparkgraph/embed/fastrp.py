"""FastRP node embeddings on Spark (Chen et al., CIKM 2019), as block products in numpy.

The vertices are cut into ``B`` blocks of ``S`` consecutive dense ids. The propagation matrix
M = D⁻¹A is cut into sub-matrices ``M[r, c]`` (rows of block r, columns of block c), encoded
as CSR on the executors (:mod:`sparkgraph.udfs.packing`) and cached, partitioned by ``c``.
The vectors of an iteration are a dense ``S x d`` float32 block per block. One iteration:

1. join ``M[r, c]`` with the vectors of block ``c`` (both keyed by ``c``);
2. each pair gives ``M[r, c] @ N[c]`` (computed in float64, sent as float32), kept only for
   the rows with arcs;
3. group by ``r``: the partial products are summed in float64 (in column-block order, so the
   result does not depend on task order), the new block is stored as float32, and the running
   embedding ``Σ wᵢ·rownorm(Nᵢ)`` is updated in the same task;
4. lineage is cut (:func:`~sparkgraph.session.truncate_lineage`).

Memory per task: one block pair, ``M[r, c]`` (12 bytes per arc) plus ``N[c]`` and the partial
product (``S x d`` floats each, S chosen so that a block holds at most 8 M floats, 32 MB).
The starting vectors are a pure function of (seed, vertex id), made per block on the executors:
no ``n x d`` matrix exists on the driver, and the result does not depend on partitioning or
on the number of executors (S depends only on n and d).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.embed.params import FastRPParams
from sparkgraph.errors import InputError, MissingColumnError
from sparkgraph.graph import Graph, union_all
from sparkgraph.session import job_description, parallelism, release, truncate_lineage
from sparkgraph.shipping import map_with_matrices, ship_matrix
from sparkgraph.udfs import packing
from sparkgraph.udfs.fastrp import fastrp_embedding
from sparkgraph.udfs.projection import degree_scaling, initial_vectors, row_normalize, sparsity_for

log = logging.getLogger(__name__)

BLOCK_FLOATS = 8 * 1024 * 1024  # at most S x d floats per dense block (32 MB in float32)
STATE_SCHEMA = "block int, kind string, rows binary, payload binary"
EMBEDDING_SCHEMA = "id long, embedding array<float>"


def block_size(n: int, dimension: int) -> int:
    """Rows per block: about n/4 (at least 1,024), and at most ``BLOCK_FLOATS / d``, so small graphs
    run as a few large block products and large ones as many bounded ones. A function of n and d
    only, so results never depend on the cluster."""
    return int(max(1, min(max(1024, math.ceil(n / 4)), BLOCK_FLOATS // dimension)))


def fastrp(graph: Graph, params: FastRPParams | None = None, features: DataFrame | None = None) -> DataFrame:
    """FastRP embedding of every vertex.

    Args:
        graph: The graph; arc weights enter M = D⁻¹A (D the weighted degree in ``direction``).
        params: :class:`FastRPParams`.
        features: Optional vertex features, a DataFrame ``(id, values)`` in the caller's ids with
            one numeric array per vertex (the same length for all); they fill the last
            ``feature_dim`` dimensions of the starting vectors through a random projection.

    Returns:
        DataFrame ``(id, embedding array<float>)`` in the caller's ids, one row per vertex.

    Raises:
        InputError: features with missing ids, NaN values or arrays of different lengths.

    Example:
        >>> emb = fastrp(load_graph(spark, "karate"), FastRPParams(dimension=32, seed=1))
        >>> emb.count()
        34
    """
    params = params or FastRPParams()
    spark = graph.spark
    n, d = graph.n, params.dimension
    feature_table = _checked_features(graph, features, params) if features is not None else None
    if choose_strategy(graph, params) == "single":
        job_description(spark, f"sparkgraph fastrp: {params.iterations} iterations in one task")
        result = _single_task(graph, params, feature_table)
        job_description(spark, None)
        return graph.to_names(result, "id")
    size = block_size(n, d)
    entries, degrees = propagation_entries(graph, params.direction)
    state = _starting_state(graph, degrees, feature_table, params, size)
    rows = propagate_blocks(entries, state, params.iteration_weights, params.row_normalization, size, n, d, "fastrp")
    return graph.to_names(rows, "id")


def propagate_blocks(entries: DataFrame, state: DataFrame, weights: tuple, normalize: bool, size: int, n: int,
                     d: int, label: str) -> DataFrame:
    """The blocks strategy's iterations (module docstring) from a starting block ``state``.

    Args:
        entries: ``(row, col, value)`` of M (:func:`propagation_entries`).
        state: Per block of ``size`` dense ids, a row of kind ``n`` (the vectors the first iteration
            multiplies) and one of kind ``out`` (the sum so far), float32 payloads (:data:`STATE_SCHEMA`).
            Consumed: released (:func:`~sparkgraph.session.release`) once the first iteration is
            materialised; with no ``weights`` the result reads it, and it stays the caller's.
        weights: One per iteration: ``out += w·rownorm(M·n)``, ``n = M·n``.
        normalize: Row-normalise each iteration's vectors before they are added.
        size, n, d: Block size, vertices, dimension.
        label: Name in job descriptions and logs.

    Returns:
        ``(id, embedding)`` over dense ids: the final ``out``.
    """
    spark = entries.sparkSession
    started = time.perf_counter()
    if not weights:
        return _rows_of(state, size, n, d)
    blocks = -(-n // size)
    job_description(spark, f"sparkgraph {label}: cut M into {blocks}x{blocks} blocks of {size} vertices")
    matrix = _matrix_blocks(entries, size, blocks, parallelism(spark))
    for i, weight in enumerate(weights, start=1):
        job_description(spark, f"sparkgraph {label}: iteration {i} of {len(weights)}")
        previous = state
        state = truncate_lineage(_iterate(matrix, state, float(weight), normalize, size, n, d))
        release(previous)  # a local checkpoint: unpersist alone would keep its blocks until a JVM GC
        progress.advance("iterations", i, len(weights))
        log.info("%s: iteration %d of %d done (%.1fs)", label, i, len(weights), time.perf_counter() - started)
    matrix.unpersist()
    job_description(spark, None)
    return _rows_of(state, size, n, d)


def state_rows(block: int, vectors: np.ndarray, out: np.ndarray) -> pd.DataFrame:
    """The two :data:`STATE_SCHEMA` rows of one block: ``n`` = ``vectors``, ``out`` = ``out`` (float32)."""
    return pd.DataFrame({"block": [block, block], "kind": ["n", "out"], "rows": [None, None],
                         "payload": [np.ascontiguousarray(vectors, np.float32).tobytes(),
                                     np.ascontiguousarray(out, np.float32).tobytes()]})


def to_vectors(embeddings: DataFrame, column: str = "embedding") -> DataFrame:
    """The embeddings with ``column`` as Spark ML vectors (``pyspark.ml.linalg.DenseVector``), for
    ``pyspark.ml`` pipelines (LogisticRegression, KMeans ...).

    Example:
        >>> KMeans(k=7, featuresCol="embedding").fit(to_vectors(fastrp(graph)))
    """
    from pyspark.ml.functions import array_to_vector

    return embeddings.withColumn(column, array_to_vector(F.col(column)))


def single_task_bytes(graph: Graph, params: FastRPParams) -> int:
    """Memory estimate of the single strategy's task: the adjacency (12 bytes per arc in CSR, twice
    under direction both) and four n x d arrays (float32 vectors and sum, a float64 product)."""
    arcs = graph.num_arcs * (2 if graph.directed and params.direction == "both" else 1)
    return 12 * arcs + 16 * graph.n * params.dimension


def choose_strategy(graph: Graph, params: FastRPParams) -> str:
    if params.strategy != "auto":
        return params.strategy
    return "single" if single_task_bytes(graph, params) <= params.single_max_bytes else "blocks"


def _directed_arcs(graph: Graph, direction: str) -> DataFrame:
    """``(row, col, weight)``: the arcs ``direction`` follows (an arc each way summed under ``both``)."""
    arcs = graph.edges.select(F.col("src").alias("row"), F.col("dst").alias("col"), "weight")
    if graph.directed and direction == "in":
        arcs = arcs.select(F.col("col").alias("row"), F.col("row").alias("col"), "weight")
    elif graph.directed and direction == "both":
        reverse = arcs.select(F.col("col").alias("row"), F.col("row").alias("col"), "weight")
        arcs = arcs.unionByName(reverse).groupBy("row", "col").agg(F.sum("weight").alias("weight"))
    return arcs


def _single_task(graph: Graph, params: FastRPParams, features: DataFrame | None) -> DataFrame:
    """The whole computation in one task, on the adjacency shipped to it (:mod:`sparkgraph.shipping`),
    with the local twin's own kernel, so the result is the twin's exactly.

    One task, not several each repeating the computation to share the output's conversion: on
    cnr-2000 (d = 128) two such tasks took 32 s against 13 s for one, with the machine busy.
    """
    n, p = graph.n, params
    both = graph.directed and p.direction == "both"
    shipments = [ship_matrix(_directed_arcs(graph, p.direction), "adjacency", n, n,
                             graph.num_arcs * (2 if both else 1), row="row", col="col", value="weight")]
    width = 0
    if features is not None:
        width = len(features.select("values").first()[0])
        cells = features.select("id", F.posexplode("values").alias("j", "value"))
        shipments.append(ship_matrix(cells, "features", n, width, n * width, row="id", col="j", value="value"))

    def build(matrices):
        indptr, cols, values = matrices["adjacency"]
        a = sp.csr_matrix((values, cols, indptr), shape=(n, n))
        x = None
        if "features" in matrices:
            f_indptr, f_cols, f_values = matrices["features"]
            x = sp.csr_matrix((f_values, f_cols, f_indptr), shape=(n, width)).toarray()
        return fastrp_embedding(a, x, p.dimension, p.iteration_weights, p.normalization_strength, p.sparsity,
                                p.row_normalization, p.self_influence, p.feature_dim, p.seed)

    step = max(1, BLOCK_FLOATS // p.dimension)

    def answer(items, embedding):
        for lo in range(0, n, step):
            yield _embedding_batch(lo, embedding[lo: min(lo + step, n)])

    work = graph.spark.range(1).select(F.col("id").alias("task"))
    return map_with_matrices(work, "task", shipments, 1, build, answer, EMBEDDING_SCHEMA, keep_built=False)


def _embedding_batch(first_id: int, rows: np.ndarray) -> pa.RecordBatch:
    """An Arrow batch ``(id, embedding)`` of consecutive dense ids from an ``n x d`` float32 block."""
    count, d = rows.shape
    offsets = pa.array(np.arange(0, count * d + 1, d, dtype=np.int32))
    values = pa.array(np.ascontiguousarray(rows, dtype=np.float32).ravel())
    return pa.RecordBatch.from_arrays([pa.array(np.arange(first_id, first_id + count, dtype=np.int64)),
                                       pa.ListArray.from_arrays(offsets, values)], names=["id", "embedding"])


def propagation_entries(graph: Graph, direction: str) -> tuple[DataFrame, DataFrame]:
    """``(entries, degrees)``: the entries ``(row, col, value)`` of M = D⁻¹A for ``direction``
    (out-neighbours, in-neighbours or both; an arc each way counts twice under ``both``) and the
    weighted degree ``(id, degree)`` of every vertex (0 without arcs)."""
    arcs = _directed_arcs(graph, direction)
    sums = arcs.groupBy(F.col("row").alias("id")).agg(F.sum("weight").alias("degree"))
    degrees = graph.vertices.select("id").join(sums, "id", "left").fillna({"degree": 0.0})
    entries = (arcs.join(sums.withColumnRenamed("id", "row"), "row")
               .select("row", "col", (F.col("weight") / F.col("degree")).alias("value")))
    return entries, degrees


def _matrix_blocks(entries: DataFrame, size: int, blocks: int, tasks: int) -> DataFrame:
    """``(c, r, payload)``: the CSR sub-matrix M[r, c] of every non-empty block pair, cached by c."""
    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        r, c = int(frame["r"].iloc[0]), int(frame["c"].iloc[0])
        rows = frame["row"].to_numpy(np.int64) - r * size
        cols = frame["col"].to_numpy(np.int64) - c * size
        payload = packing.encode_chunk(rows, cols, frame["value"].to_numpy(np.float64), 0, size)
        return pd.DataFrame({"c": [c], "r": [r], "payload": [payload]})

    keyed = entries.withColumn("r", (F.col("row") / size).cast("int")).withColumn("c", (F.col("col") / size).cast("int"))
    matrix = (keyed.groupBy("r", "c").applyInPandas(encode, "c int, r int, payload binary")
              .repartition(max(1, min(blocks, 2 * tasks)), "c").persist(StorageLevel.MEMORY_AND_DISK))
    matrix.count()
    return matrix


def _checked_features(graph: Graph, features: DataFrame, params: FastRPParams) -> DataFrame:
    """``(id, values array<double>)`` over dense ids, after checking every vertex has finite values
    of one length."""
    if params.feature_dim == 0:
        raise InputError("features were given but feature_dim is 0; set feature_dim to the dimensions they get")
    if len(features.columns) < 2:
        raise MissingColumnError("features need an id column and an array column; give (id, values)")
    id_col, values_col = features.columns[:2]
    named = features.select(F.col(id_col).alias("name"), F.col(values_col).cast("array<double>").alias("values"))
    dense = graph.vertices.join(named, "name", "left").select("id", "values")
    facts = dense.agg(
        F.sum(F.when(F.col("values").isNull(), 1).otherwise(0)).alias("missing"),
        F.sum(F.when(F.exists("values", lambda x: F.isnan(x) | x.isNull()), 1).otherwise(0)).alias("nan"),
        F.min(F.size("values")).alias("shortest"), F.max(F.size("values")).alias("longest")).first()
    if facts["missing"]:
        raise InputError(f"{facts['missing']} vertices have no features; give every vertex a row in the features "
                         "table")
    if facts["nan"]:
        raise InputError(f"{facts['nan']} feature arrays hold NaN or null values; give finite numbers")
    if facts["shortest"] != facts["longest"]:
        raise InputError(f"feature arrays have different lengths ({facts['shortest']} to {facts['longest']}); give "
                         "every vertex the same number of values")
    return dense


def _starting_state(graph: Graph, degrees: DataFrame, features: DataFrame | None, params: FastRPParams,
                    size: int) -> DataFrame:
    """Per block: ``n`` = L·R₀ (what the first iteration multiplies) and ``out`` = self_influence·rownorm(R₀)."""
    n, d, p = graph.n, params.dimension, params
    s = sparsity_for(p.sparsity, n)
    table = degrees if features is None else degrees.join(features, "id")
    feature_count = len(features.select("values").first()[0]) if features is not None else 0
    feature_s = sparsity_for(p.sparsity, feature_count) if feature_count else 1.0

    def start(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.sort_values("id")
        block = int(frame["id"].iloc[0]) // size
        ids = frame["id"].to_numpy(np.int64)
        x = np.vstack(frame["values"].to_numpy()) if "values" in frame else None
        r0 = initial_vectors(ids, x, d, p.feature_dim if x is not None else 0, s, feature_s, p.seed)
        norm = row_normalize(r0) if p.row_normalization else r0
        scaled = (degree_scaling(frame["degree"].to_numpy(), p.normalization_strength)[:, None] * r0)
        return state_rows(block, scaled, np.float32(p.self_influence) * norm)

    state = table.withColumn("block", (F.col("id") / size).cast("int")).groupBy("block").applyInPandas(
        start, STATE_SCHEMA)
    return truncate_lineage(state)


def _iterate(matrix: DataFrame, state: DataFrame, weight: float, normalize: bool, size: int, n: int,
             d: int) -> DataFrame:
    """One FastRP iteration over the block state (see the module docstring)."""
    vectors = state.filter(F.col("kind") == "n").select(F.col("block").alias("c"), F.col("payload").alias("vectors"))

    def products(batches):
        for batch in batches:
            out_r, out_rows, out_values, out_c = [], [], [], []
            columns = batch.to_pydict() if batch.num_rows else {}
            for c, r, m_payload, v_payload in zip(columns.get("c", []), columns.get("r", []),
                                                  columns.get("payload", []), columns.get("vectors", []),
                                                  strict=True):
                counts, cols, values = packing.decode_chunk(m_payload)
                rows_c = min(size, n - c * size)
                block = np.frombuffer(v_payload, np.float32).reshape(rows_c, d)
                indptr = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
                filled = np.flatnonzero(counts)
                if not len(filled):
                    continue
                sub = sp.csr_matrix((values, cols, indptr), shape=(len(counts), rows_c))[filled]
                partial = (sub @ block.astype(np.float64)).astype(np.float32)
                out_r.append(r)
                out_c.append(c)
                out_rows.append(filled.astype(np.int32).tobytes())
                out_values.append(partial.tobytes())
            yield pa.RecordBatch.from_pydict({"block": pa.array(out_r, pa.int32()), "c": pa.array(out_c, pa.int32()),
                                              "rows": pa.array(out_rows, pa.binary()),
                                              "payload": pa.array(out_values, pa.binary())})

    partials = (matrix.join(vectors, "c")
                .mapInArrow(products, "block int, c int, rows binary, payload binary")
                .withColumn("kind", F.lit("p")))
    previous_out = state.filter(F.col("kind") == "out").withColumn("c", F.lit(-1))

    def reduce(frame: pd.DataFrame) -> pd.DataFrame:
        block = int(frame["block"].iloc[0])
        rows_b = min(size, n - block * size)
        total = np.zeros((rows_b, d))
        parts = frame[frame["kind"] == "p"].sort_values("c")  # a fixed order: the sum is deterministic
        for rows, payload in zip(parts["rows"], parts["payload"], strict=True):
            index = np.frombuffer(rows, np.int32)
            total[index] += np.frombuffer(payload, np.float32).reshape(len(index), d)
        current = total.astype(np.float32)
        out = np.frombuffer(frame.loc[frame["kind"] == "out", "payload"].iloc[0], np.float32).reshape(rows_b, d)
        out = out + np.float32(weight) * (row_normalize(current) if normalize else current)
        return state_rows(block, current, out)

    return union_all([partials, previous_out.select(*partials.columns)]).groupBy("block").applyInPandas(
        reduce, STATE_SCHEMA)


def _rows_of(state: DataFrame, size: int, n: int, d: int) -> DataFrame:
    """``(id, embedding)`` over dense ids from the ``out`` blocks."""
    def explode(batches):
        for batch in batches:
            columns = batch.to_pydict()
            for block, payload in zip(columns["block"], columns["payload"], strict=True):
                rows_b = min(size, n - block * size)
                yield _embedding_batch(block * size, np.frombuffer(payload, np.float32).reshape(rows_b, d))

    return state.filter(F.col("kind") == "out").select("block", "payload").mapInArrow(explode, EMBEDDING_SCHEMA)
