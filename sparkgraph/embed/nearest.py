"""Exact nearest neighbours by cosine similarity for a batch of query vertices, on Spark.

The query vectors (``q x d``, checked to fit ``max_query_bytes``) travel with the task closure;
each task scores its share of the embeddings against all queries in one matrix product and keeps
every query's ``k`` best; a window keeps the global ``k`` best of those candidates.

Cost: ``n x q x d`` multiply-adds per batch (n vertices, q queries), spread over the tasks, and
``q x k`` candidates per task to merge. Exact search stays practical while ``n x q x d`` is in
the 10¹¹ range (minutes on a few cores); beyond that, e.g. every vertex against every vertex of
a million-vertex graph, an approximate index (LSH, HNSW) should take over.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sparkgraph.errors import GraphTooLargeError, ParameterError, UnknownVertexError
from sparkgraph.udfs.projection import row_normalize
from sparkgraph.udfs.walks import rows_top_k


def nearest(embeddings: DataFrame, query_ids, k: int = 10, include_self: bool = False,
            max_query_bytes: int = 64 * 1024**2) -> DataFrame:
    """The ``k`` vertices most cosine-similar to each query vertex.

    Args:
        embeddings: ``(id, embedding)`` as :func:`~sparkgraph.embed.fastrp` returns it.
        query_ids: Ids of the query vertices (a list), in the embeddings' id type.
        k: Neighbours per query.
        include_self: Whether a query may be its own neighbour (similarity 1).
        max_query_bytes: Size up to which the query vectors are sent with the tasks.

    Returns:
        DataFrame ``(query, neighbour, similarity, rank)``, ``k`` rows per query, rank 1 the
        most similar (ties: the smaller neighbour id).

    Raises:
        UnknownVertexError: A query id has no embedding.

    Example:
        >>> nearest(fastrp(graph, FastRPParams(seed=1)), [1, 34], k=5).orderBy("query", "rank").show()
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ParameterError(f"k={k!r} must be a positive integer", key="k")
    if isinstance(query_ids, (str, bytes)) or not hasattr(query_ids, "__iter__"):
        raise ParameterError(f"query_ids={query_ids!r} is not a list of ids; pass e.g. [{query_ids!r}]")
    wanted = list(dict.fromkeys(v.item() if hasattr(v, "item") else v for v in query_ids))
    if not wanted:
        raise ParameterError("query_ids is empty; give at least one id")
    id_type = embeddings.schema["id"].dataType
    found = embeddings.filter(F.col("id").isin(wanted)).select("id", "embedding").toPandas()
    missing = [v for v in wanted if v not in set(found["id"].tolist())]
    if missing:
        raise UnknownVertexError(f"query ids without an embedding: {missing[:5]}; use ids of the embedded graph")
    queries = row_normalize(np.vstack(found["embedding"].to_numpy()).astype(np.float32))
    if queries.nbytes > max_query_bytes:
        raise GraphTooLargeError(f"{len(queries)} query vectors take {queries.nbytes / 2**20:.0f} MiB, over "
                                 f"max_query_bytes; split the batch")
    query_names = found["id"].to_numpy()

    def score(batches):
        for batch in batches:
            if batch.num_rows == 0:
                continue
            names = batch.column("id").to_numpy(zero_copy_only=False)
            flat = batch.column("embedding").flatten().to_numpy(zero_copy_only=False)
            vectors = row_normalize(flat.reshape(batch.num_rows, -1).astype(np.float32))
            sims = queries @ vectors.T  # q x rows
            if not include_self:
                sims[query_names[:, None] == names[None, :]] = -np.inf
            row, col, value = rows_top_k(np.where(np.isfinite(sims), sims + 2.0, 0.0), k)  # shift: all positive
            yield pa.RecordBatch.from_pydict({
                "query": pa.array(query_names[row]), "neighbour": pa.array(names[col]),
                "similarity": pa.array((value - 2.0).astype(np.float64))})

    schema = f"query {id_type.simpleString()}, neighbour {id_type.simpleString()}, similarity double"
    candidates = embeddings.select("id", "embedding").mapInArrow(score, schema)
    rank = F.row_number().over(Window.partitionBy("query").orderBy(F.desc("similarity"), "neighbour"))
    return candidates.withColumn("rank", rank).filter(F.col("rank") <= k)
