"""LSH banding of MinHash signatures into candidate pairs (Leskovec et al., *Mining of Massive
Datasets*, ch. 3; Chamberlain et al. 2018).

1. Every signature is cut into b bands of r rows; each band hashes to a key (a ``mapInArrow``
   over the signatures with :func:`sparkgraph.udfs.minhash.band_keys`): the table
   ``(band, key, id)``, n x b rows.
2. Buckets (vertices sharing a band key) larger than ``max_bucket_size`` are split into
   ``parts = ceil(size / max_bucket_size)`` sub-buckets: the members are ranked by
   (xxhash64(id), id) and dealt round-robin, so every sub-bucket holds at most
   ``max_bucket_size`` vertices and the split depends only on the ids (not on partitioning).
   A bucket of s vertices would give s²/2 pairs and sit in one task; its sub-buckets give at
   most ``max_bucket_size²/2`` each. The pairs this drops are counted and reported.
3. Candidate pairs (u < v) are the pairs sharing a sub-bucket in any band (a self-join on the
   key, then ``distinct``); their estimated Jaccard is the fraction of equal signature entries
   (a SQL expression over the two arrays, evaluated in the JVM).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sparkgraph.community.minhash import signature_length
from sparkgraph.community.params import LSHParams
from sparkgraph.errors import ParameterError
from sparkgraph.session import release, truncate_lineage
from sparkgraph.udfs.minhash import band_keys

log = logging.getLogger(__name__)

BANDS_SCHEMA = "band int, key long, id long"
SUB_BUCKET_SALT = 0x5BD1E995


@dataclass
class Candidates:
    """Candidate pairs and what the banding did.

    ``pairs`` is lazy over ``table``, the band table, and ``signatures``, both materialised: read
    ``pairs`` (write or collect it, or persist and count it) and then call :meth:`unpersist` to release them.

    Attributes:
        pairs: ``(u long, v long, jaccard double)`` with u < v (plus ``exact double`` when asked).
        table: The persisted band table ``(band, key, id)`` the pairs are read from.
        signatures: The signatures, materialised with a short lineage, the pairs are read from.
        bands, rows: The (b, r) used.
        split_buckets: Buckets over ``max_bucket_size`` that were split.
        dropped_pairs: Vertex pairs of those buckets that no longer share that bucket (an upper
            bound on the pairs lost: a pair may still meet in another band).
    """

    pairs: DataFrame
    table: DataFrame
    bands: int
    rows: int
    split_buckets: int
    dropped_pairs: int
    signatures: DataFrame

    def unpersist(self) -> None:
        """Release the band table and the signatures' copy (``pairs`` can no longer be read afterwards)."""
        self.table.unpersist()
        release(self.signatures)


def band_table(signatures: DataFrame, bands: int, rows: int, max_bucket_size: int) -> tuple[DataFrame, int, int]:
    """``(band, key, id)``: each vertex's sub-bucket key in every band, and (split buckets, dropped pairs).

    The keys are final: a vertex of an oversized bucket carries its sub-bucket's key, so the
    saved community index and :func:`lsh_candidates` bucket alike.

    The table comes back persisted (memory and disk) and materialised, because its readers use it
    more than once (the self-join of the candidates reads it twice); the caller owns it and
    unpersists it when done. Everything else cached here is released before returning.

    Example:
        >>> table, split, dropped = band_table(signatures, 25, 5, 1000)
        >>> table.write.parquet("bands"); table.unpersist()
    """
    def keys_of(batches):
        for batch in batches:
            ids = batch.column("id").to_numpy()
            k = len(ids)
            flat = batch.column("signature").flatten().to_numpy(zero_copy_only=False)
            keys = band_keys(flat.reshape(k, -1) if k else np.zeros((0, bands * rows)), bands, rows)
            yield pa.RecordBatch.from_arrays([
                pa.array(np.tile(np.arange(bands, dtype=np.int32), k)),
                pa.array(keys.reshape(-1).view(np.int64)), pa.array(np.repeat(ids, bands))],
                names=["band", "key", "id"])

    raw = signatures.select("id", "signature").mapInArrow(keys_of, BANDS_SCHEMA).persist(StorageLevel.MEMORY_AND_DISK)
    sizes = raw.groupBy("band", "key").agg(F.count("*").alias("size"))
    oversized = sizes.filter(F.col("size") > max_bucket_size)
    # one job: it materialises raw, and usually finds nothing to split
    stats = oversized.agg(F.count("*").alias("buckets"),
                          F.sum(F.col("size") * (F.col("size") - 1) / 2).alias("pairs")).first()
    split_buckets = int(stats["buckets"] or 0)
    if split_buckets == 0:
        return raw, 0, 0  # raw is the table: the caller's to unpersist
    big = oversized.withColumn("parts", F.ceil(F.col("size") / F.lit(max_bucket_size)).cast("long")).cache()

    tagged = raw.join(F.broadcast(big.select("band", "key", "parts")) if split_buckets < 100_000
                      else big.select("band", "key", "parts"), ["band", "key"], "left")
    kept = tagged.filter(F.col("parts").isNull()).select("band", "key", "id")
    order = Window.partitionBy("band", "key").orderBy(F.xxhash64("id"), "id")
    sub = (F.row_number().over(order) - 1) % F.col("parts")
    divided = (tagged.filter(F.col("parts").isNotNull())
               .select("band", F.xxhash64("key", sub, F.lit(SUB_BUCKET_SALT)).alias("key"), "id"))
    sub_sizes = divided.groupBy("band", "key").agg(F.count("*").alias("size"))
    kept_pairs = sub_sizes.agg(F.sum(F.col("size") * (F.col("size") - 1) / 2)).first()[0] or 0
    dropped = int(stats["pairs"] - kept_pairs)
    table = kept.unionByName(divided).persist(StorageLevel.MEMORY_AND_DISK)
    table.count()  # materialised before raw, which it is computed from, is released
    big.unpersist()
    raw.unpersist()
    log.info("lsh: split %d buckets over %d vertices; %d bucket pairs dropped", split_buckets, max_bucket_size, dropped)
    return table, split_buckets, dropped


def estimated_jaccard(left: str = "sig_u", right: str = "sig_v"):
    """The fraction of equal entries of two signature columns (a JVM expression, no Python)."""
    equal = F.zip_with(F.col(left), F.col(right), lambda x, y: F.when(x == y, 1).otherwise(0))
    return F.aggregate(equal, F.lit(0), lambda acc, x: acc + x) / F.size(F.col(left))


def lsh_candidates(signatures: DataFrame, params: LSHParams | None = None,
                   sets: DataFrame | None = None) -> Candidates:
    """Candidate pairs of similar vertices from shared LSH band buckets.

    Args:
        signatures: ``(id, signature)`` from :func:`~sparkgraph.community.minhash_signatures` or
            :func:`~sparkgraph.community.set_signatures` (their column metadata carries the
            signature length; other tables cost one job to read it from a row).
        params: :class:`LSHParams`: threshold (or bands and rows), max_bucket_size, exact_check.
        sets: ``(id, members)`` neighbour sets (:func:`~sparkgraph.community.minhash.neighbour_sets`),
            needed for ``exact_check``.

    Returns:
        :class:`Candidates`; its ``pairs`` are ``(u, v, jaccard)``, u < v, every pair once, with
        ``exact`` added under ``exact_check``; call its ``unpersist()`` once the pairs are read. Pairs of estimated Jaccard below the threshold are
        kept (filter them as needed): the S-curve decides who is a candidate, not the estimate.

    Raises:
        ParameterError: bands x rows exceeds the signature length.

    Example:
        >>> cands = lsh_candidates(minhash_signatures(graph), LSHParams(threshold=0.4))
        >>> cands.pairs.filter("jaccard >= 0.4").count()
        >>> cands.unpersist()
    """
    params = params or LSHParams()
    if params.exact_check and sets is None:
        raise ParameterError("exact_check needs the neighbour sets; pass sets=neighbour_sets(graph, minhash_params)")
    num_perm = signature_length(signatures)
    bands, rows = params.banding(num_perm)
    # read twice (band keys, then both ends of every pair), so materialised once; with a short
    # lineage, because planning the pair queries over the graph's whole lineage (the cached tables'
    # plans) cost more than running them on small graphs (Cora, warm: about 2.5 s against 1.4 s)
    signatures = truncate_lineage(signatures.select("id", "signature"))
    table, split_buckets, dropped = band_table(signatures, bands, rows, params.max_bucket_size)
    a = table.select("band", "key", F.col("id").alias("u"))
    b = table.select("band", "key", F.col("id").alias("v"))
    pairs = a.join(b, ["band", "key"]).filter(F.col("u") < F.col("v")).select("u", "v").distinct()
    sig = signatures.select("id", "signature")
    pairs = (pairs.join(sig.select(F.col("id").alias("u"), F.col("signature").alias("sig_u")), "u")
             .join(sig.select(F.col("id").alias("v"), F.col("signature").alias("sig_v")), "v")
             .select("u", "v", estimated_jaccard().alias("jaccard")))
    if params.exact_check:
        pairs = (pairs.join(sets.select(F.col("id").alias("u"), F.col("members").alias("set_u")), "u")
                 .join(sets.select(F.col("id").alias("v"), F.col("members").alias("set_v")), "v")
                 .select("u", "v", "jaccard", (F.size(F.array_intersect("set_u", "set_v"))
                                               / F.size(F.array_union("set_u", "set_v"))).alias("exact")))
    return Candidates(pairs, table, bands, rows, split_buckets, dropped, signatures)
