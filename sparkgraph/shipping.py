"""Arrays every task needs, shipped without broadcast variables (which Spark Connect does not have).

Some algorithms are fastest when each task holds a whole sparse matrix (the CSR adjacency
for vectorized walks, the fingerprints of a walk index). Classic Spark would use
``sc.broadcast``; Spark Connect has no SparkContext. Instead:

1. :func:`ship_matrix` cuts the matrix into chunks of consecutive rows, each encoded in numpy
   on the executors (:mod:`sparkgraph.udfs.packing`) as one binary cell of a small DataFrame
   ``(shipment, chunk, payload)``. Nothing passes through the Python driver.
2. :func:`map_with_matrices` packs the work items of each partition into one row, joins the
   packs with every chunk under a broadcast hint (Spark's SQL broadcast, which Connect runs:
   the chunks reach each executor once), and hands a function the items and the rebuilt
   matrices. The join keeps the packs' partitioning, so no shuffle moves the chunks.

Each task receives the chunk bytes through Arrow (about the matrix's size per task) and reads
them in place; the rebuilt matrices are cached per Python worker, which Spark reuses across
tasks, so they are assembled once per worker. Memory per task: the chunk bytes while a pack arrives, plus the
rebuilt arrays (for the CSR adjacency, 12 bytes per arc unweighted, 20 weighted). The SQL
broadcast collects the chunks in the driver's JVM first, within ``spark.driver.maxResultSize``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from sparkgraph.graph import union_all
from sparkgraph.udfs import packing

CHUNK_SCHEMA = "shipment string, chunk int, payload binary"
ENTRIES_PER_CHUNK = 1 << 20  # ~12 MB of payload for a weighted CSR chunk


@dataclass(frozen=True)
class Shipment:
    """A sparse ``n_rows x n_cols`` matrix as row-range chunks ``(shipment, chunk, payload)``.

    Attributes:
        name: The key under which :func:`map_with_matrices` hands the matrix over.
        chunks: The chunk DataFrame (one row per chunk, empty chunks included).
        n_rows, n_cols: Shape of the matrix.
        rows_per_chunk: Rows per chunk (the last may have fewer).
        num_chunks: Number of chunks.
        token: Identifies this shipment's content in the per-worker cache.
    """

    name: str
    chunks: DataFrame
    n_rows: int
    n_cols: int
    rows_per_chunk: int
    num_chunks: int
    token: str

    def persist(self) -> Shipment:
        """Keep the chunks in executor storage (for a shipment used by many queries)."""
        self.chunks.persist(StorageLevel.MEMORY_AND_DISK)
        self.chunks.count()
        return self

    def unpersist(self) -> None:
        self.chunks.unpersist()

    def describe(self) -> dict[str, Any]:
        """What :meth:`stored` needs besides the chunks (for a manifest)."""
        return {"name": self.name, "n_rows": self.n_rows, "n_cols": self.n_cols,
                "rows_per_chunk": self.rows_per_chunk, "num_chunks": self.num_chunks}

    @classmethod
    def stored(cls, chunks: DataFrame, description: dict[str, Any], token: str) -> Shipment:
        """A shipment saved as a table of chunks (all shipments' rows; this one's are selected)."""
        mine = chunks.filter(F.col("shipment") == description["name"]).select("shipment", "chunk", "payload")
        return cls(chunks=mine, token=token, **description)


def ship_matrix(entries: DataFrame, name: str, n_rows: int, n_cols: int, num_entries: int,
                row: str = "row", col: str = "col", value: str | None = "value", value_dtype: str = "float64",
                entries_per_chunk: int = ENTRIES_PER_CHUNK) -> Shipment:
    """Cut the sparse matrix whose entries are the rows of ``entries`` into chunks (on the executors).

    Args:
        entries: One row per stored entry: ``row`` and ``col`` (longs in ``[0, n_rows)`` and
            ``[0, n_cols)``) and, unless ``value`` is None, a numeric ``value``.
        name: The matrix's name in :func:`map_with_matrices`.
        n_rows, n_cols: Shape.
        num_entries: Number of entries (sizes the chunks: about ``entries_per_chunk`` each).
        value_dtype: How values are stored (``float64``, or ``float32`` to halve the bytes).

    Returns:
        The :class:`Shipment` (lazy: its chunks are computed where it is used, or by ``persist``).

    Example:
        >>> adjacency = ship_matrix(graph.edges, "adjacency", graph.n, graph.n, graph.num_arcs,
        ...                         row="src", col="dst", value="weight")
    """
    rows_per_chunk = packing.rows_per_chunk(n_rows, num_entries, entries_per_chunk)
    num_chunks = max(1, -(-n_rows // rows_per_chunk))
    spark = entries.sparkSession
    has_value = value is not None

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        chunk = int(frame["chunk"].iloc[0])
        lo = chunk * rows_per_chunk
        hi = min(lo + rows_per_chunk, n_rows)
        payload = packing.encode_chunk(frame["row"].to_numpy(np.int64), frame["col"].to_numpy(np.int64),
                                       frame["value"].to_numpy() if has_value else None, lo, hi, value_dtype)
        return pd.DataFrame({"chunk": [chunk], "payload": [payload]})

    columns = [F.col(row).cast("long").alias("row"), F.col(col).cast("long").alias("col")]
    if has_value:
        columns.append(F.col(value).cast("double").alias("value"))
    encoded = (entries.select(*columns)
               .withColumn("chunk", (F.col("row") / F.lit(rows_per_chunk)).cast("int"))
               .groupBy("chunk").applyInPandas(encode, "chunk int, payload binary"))
    # every chunk gets a row, also one without entries, so a task can tell when it has them all
    chunks = (spark.range(num_chunks).select(F.col("id").cast("int").alias("chunk"))
              .join(encoded, "chunk", "left")
              .select(F.lit(name).alias("shipment"), "chunk", "payload"))
    return Shipment(name, chunks, n_rows, n_cols, rows_per_chunk, num_chunks, uuid.uuid4().hex)


def map_with_matrices(work: DataFrame, key: str, shipments: list[Shipment], partitions: int,
                      build: Callable[[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]], Any],
                      answer: Callable[[np.ndarray, Any], Iterator[pd.DataFrame]], schema: str,
                      keep_built: bool = True) -> DataFrame:
    """Run ``answer(items, built)`` on each partition's items, with the shipped matrices at hand.

    Args:
        work: The work items, one per row; ``key`` is a long column (sources, say).
        key: The column holding the items; ``work`` is range-partitioned on it.
        shipments: The matrices every task needs.
        partitions: Number of tasks.
        build: Turns ``{name: (indptr, cols, values)}`` (CSR arrays, see
            :func:`~sparkgraph.udfs.packing.assemble_csr`) into what ``answer`` uses; run once per
            Python worker and cached there.
        answer: Yields result frames (pandas, cast to ``schema``, or Arrow record batches of exactly
            ``schema``) for a sorted array of items.
        schema: DDL schema of the result frames.
        keep_built: Keep what ``build`` returns in the worker for later tasks (the default); False
            for a one-task computation whose result is large (it is dropped after the task).

    Returns:
        The DataFrame of every task's answers.
    """
    def pack(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        items = [batch[key].to_numpy(np.int64) for batch in batches]
        items = np.sort(np.concatenate(items)) if items else np.empty(0, np.int64)
        if len(items):
            yield pd.DataFrame({"pack": [int(items[0])], "items": [items]})

    packs = work.select(F.col(key).cast("long").alias(key)).repartitionByRange(partitions, key).mapInPandas(
        pack, "pack long, items array<long>")
    chunks = union_all([s.chunks for s in shipments])
    first = (F.col("shipment") == shipments[0].name) & (F.col("chunk") == 0)  # items ride on one row per pack
    joined = packs.crossJoin(F.broadcast(chunks)).select(
        "pack", F.when(first, F.col("items")).alias("items"), "shipment", "chunk", "payload")
    token = "+".join(s.token for s in shipments)
    expected = {s.name: s.num_chunks for s in shipments}
    shapes = {s.name: (s.n_rows, s.rows_per_chunk) for s in shipments}
    head = shipments[0].name
    arrow_schema = to_arrow_schema(work.sparkSession.createDataFrame([], schema).schema)  # answers are cast to it

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Arrow batches, not pandas: the chunk bytes are read in place (pa.Buffer), never copied into bytes objects
        items_of: dict[int, np.ndarray] = {}

        def rows():
            for batch in batches:
                pack_ids = batch.column("pack").to_numpy()
                names = batch.column("shipment").to_pylist()
                numbers = batch.column("chunk").to_numpy()
                payloads, items = batch.column("payload"), batch.column("items")
                for i in range(batch.num_rows):
                    if names[i] == head and numbers[i] == 0:
                        items_of[int(pack_ids[i])] = items[i].values.to_numpy(zero_copy_only=False).astype(np.int64)
                    payload = payloads[i]
                    yield int(pack_ids[i]), names[i], int(numbers[i]), payload.as_buffer() if payload.is_valid else None

        for pack_id, parts in packing.gather(rows(), expected, lambda: not keep_built or not packing.is_cached(token)):
            def make(parts=parts):
                return build({name: packing.assemble_csr(shapes[name][0], shapes[name][1], parts[name])
                              for name in parts})

            built = packing.cached(token, make) if keep_built else make()
            for frame in answer(items_of.pop(pack_id), built):
                if isinstance(frame, pa.RecordBatch):
                    yield frame
                else:
                    yield pa.RecordBatch.from_pandas(frame, schema=arrow_schema, preserve_index=False)

    return joined.mapInArrow(run, schema)
