"""MinHash signatures of every vertex's neighbourhood, on Spark (Chamberlain et al. 2018, step 1).

Each vertex's neighbour list is gathered (``collect_list``) and a ``mapInArrow`` task hashes the
lists of a whole Arrow batch at once with :func:`sparkgraph.udfs.minhash.signatures`: the list
column's offsets and values are the CSR layout the kernel takes, so no Python loop runs per
vertex or element. The permutations depend only on (seed, num_perm, scheme), the same in every
task, so signatures do not depend on partitioning; they equal ``datasketch.MinHash`` with the
same seed, scheme and ``hashfunc=datasketch_hashfunc`` (see :mod:`sparkgraph.udfs.minhash`).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph.community.params import MinHashParams
from sparkgraph.errors import MissingColumnError
from sparkgraph.graph import Graph
from sparkgraph.udfs.minhash import permutations, signatures

log = logging.getLogger(__name__)

SIGNATURE_SCHEMA = "id long, signature array<long>"
NUM_PERM_KEY = "num_perm"  # the signature column's metadata: its length, known without running a job


def signature_length(signatures: DataFrame) -> int:
    """``num_perm`` of a signature table: from the column's metadata when
    :func:`minhash_signatures` made it, else read from the first row (a job)."""
    if "signature" not in signatures.columns:
        raise MissingColumnError(f"signatures have no 'signature' column (columns: {', '.join(signatures.columns)}); "
                                 "pass the output of minhash_signatures or set_signatures")
    known = signatures.schema["signature"].metadata.get(NUM_PERM_KEY)
    if known:
        return int(known)
    first = signatures.select(F.size("signature").alias("k")).first()
    return int(first["k"]) if first else 1


def neighbour_sets(graph: Graph, params: MinHashParams) -> DataFrame:
    """``(id, members array<long>)`` for every vertex: its neighbourhood as ``params`` defines it
    (dense ids; possibly empty, never null)."""
    arcs = graph.edges.select(F.col("src").alias("id"), F.col("dst").alias("member"))
    reverse = graph.edges.select(F.col("dst").alias("id"), F.col("src").alias("member"))
    if not graph.directed or params.neighbourhood == "out":
        pairs = arcs
    elif params.neighbourhood == "in":
        pairs = reverse
    else:
        pairs = arcs.unionByName(reverse)
    if params.include_self:
        pairs = pairs.unionByName(graph.vertices.select("id", F.col("id").alias("member")))
    lists = pairs.groupBy("id").agg(F.array_sort(F.collect_set("member")).alias("members"))
    return (graph.vertices.select("id").join(lists, "id", "left")
            .select("id", F.coalesce("members", F.array().cast("array<long>")).alias("members")))


def minhash_signatures(graph: Graph, params: MinHashParams | None = None) -> DataFrame:
    """MinHash signature of every vertex's neighbourhood.

    Args:
        graph: The graph (weights are ignored: sets, not multisets).
        params: :class:`MinHashParams` (num_perm, seed, neighbourhood, include_self, scheme).

    Returns:
        DataFrame ``(id long, signature array<long>)`` over the graph's dense ids (translate with
        ``graph.to_names(df, "id")``), one row per vertex, ``num_perm`` unsigned 32-bit values
        each; an empty neighbourhood gives all ``2^32 - 1`` (as datasketch).

    Example:
        >>> sigs = minhash_signatures(load_graph(spark, "karate"), MinHashParams(num_perm=64))
        >>> len(sigs.first()["signature"])
        64
    """
    params = params or MinHashParams()
    return set_signatures(neighbour_sets(graph, params), params)


def set_signatures(sets: DataFrame, params: MinHashParams | None = None) -> DataFrame:
    """MinHash signature of every row's set: ``(id, members array<long>)`` -> ``(id, signature)``.

    :func:`minhash_signatures` over sets you already have (``neighbour_sets``, or any sets of
    non-negative ids); ``params``' neighbourhood settings are not used here.

    Example:
        >>> sets = spark.createDataFrame([(0, [1, 2, 3]), (1, [2, 3])], "id long, members array<long>")
        >>> set_signatures(sets, MinHashParams(num_perm=64)).count()
        2
    """
    params = params or MinHashParams()
    started = time.perf_counter()
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    scheme = params.scheme

    def sign(batches):
        for batch in batches:
            members = batch.column("members")
            offsets = members.offsets.to_numpy().astype(np.int64)
            values = members.values.to_numpy(zero_copy_only=False)
            sigs = signatures(offsets, values, a, b, scheme)
            flat = pa.array(sigs.reshape(-1), type=pa.int64())
            starts = pa.array(np.arange(0, sigs.size + 1, params.num_perm, dtype=np.int32))
            yield pa.RecordBatch.from_arrays([batch.column("id"), pa.ListArray.from_arrays(starts, flat)],
                                             names=["id", "signature"])

    out = (sets.select("id", "members").mapInArrow(sign, SIGNATURE_SCHEMA)
           .select("id", F.col("signature").alias("signature", metadata={NUM_PERM_KEY: params.num_perm})))
    log.info("minhash: signatures planned (%.1fs)", time.perf_counter() - started)
    return out
