"""A saved community index and seed queries on it, in one process (Chamberlain et al. 2018).

Offline, :func:`build_community_index` computes every vertex's MinHash signature and its LSH
band keys on Spark and writes them with :func:`~sparkgraph.output.atomic_output` (tables
``signatures (id, signature)``, ``bands (band, key, id)``, ``vertices (id, name)``; the
manifest records the parameters and (b, r)).

Online, :meth:`CommunityIndex.load` reads the Parquet files into numpy, with pyarrow when this
process can open them, through Spark otherwise (a remote cluster's file system, Spark Connect):
signatures as an ``n x num_perm`` uint32 matrix, each vertex's band keys as ``n x b``, and the
band table as one array of keys sorted with the vertex ids beside them (a bucket is a range
found by ``searchsorted``). :meth:`CommunityIndex.query` grows a community from seeds as the
paper does: the candidates are the vertices sharing a band bucket with a seed; repeatedly the
candidate of highest mean estimated Jaccard with the current members joins, and every
candidate's mean is updated with its estimate against the newcomer (a running average: one
``C x num_perm`` comparison per step).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from sparkgraph.community.lsh import band_table
from sparkgraph.community.minhash import minhash_signatures
from sparkgraph.community.params import CommunityIndexParams
from sparkgraph.errors import DatasetNotFoundError, NullIdError, ParameterError, UnknownVertexError
from sparkgraph.fs import file_system, is_connect, is_local_connect, is_local_master, qualify, scheme_of
from sparkgraph.graph import Graph
from sparkgraph.output import MANIFEST, RUNS, atomic_output

log = logging.getLogger(__name__)

JOB = "community_index"
CANDIDATES_PER_MEMBER = 20  # query's default cap: 20 candidates per member wanted
CHOSEN = np.iinfo(np.int32).min  # a chosen candidate's total: below any other, never picked again


def build_community_index(graph: Graph, path: str, params: CommunityIndexParams | None = None,
                          mode: str = "error") -> dict:
    """Compute signatures and band buckets of every vertex and save them as an index at ``path``.

    Args:
        graph: The graph.
        path: Output folder (see :func:`~sparkgraph.output.atomic_output`).
        params: :class:`CommunityIndexParams`.
        mode: error (refuse an existing output) or overwrite.

    Returns:
        The manifest's facts: ``{"bands", "rows", "split_buckets", "dropped_pairs", "vertices"}``.

    Example:
        >>> build_community_index(graph, "out/cnr-index", CommunityIndexParams())
        >>> index = CommunityIndex.load("out/cnr-index")
    """
    params = params or CommunityIndexParams()
    bands, rows = params.lsh.banding(params.minhash.num_perm)
    with atomic_output(graph.spark, path, mode, job=JOB, params=asdict(params), seed=params.minhash.seed) as out:
        with out.phase("signatures"):
            sigs = minhash_signatures(graph, params.minhash)
            out.write_table("signatures", sigs)
            sigs = graph.spark.read.parquet(out.uri("signatures"))
        with out.phase("bands"):
            table, split_buckets, dropped = band_table(sigs, bands, rows, params.lsh.max_bucket_size)
            out.write_table("bands", table.orderBy("key", "id"))
            table.unpersist()
        out.write_table("vertices", graph.vertices.select("id", "name"))
        facts = {"bands": bands, "rows": rows, "split_buckets": split_buckets, "dropped_pairs": dropped,
                 "vertices": graph.n}
        out.manifest["index"] = facts
    return facts


def _file_system(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    if path.startswith("file:"):
        path = path[len("file:"):]
    return pafs.LocalFileSystem(), path


def client_reads_directly(spark: SparkSession, uri: str) -> bool:
    """Whether this process can open the qualified ``uri`` itself: a ``file:`` URI and a Spark
    that runs on this machine (a local master, or the local Connect server pyspark starts).
    Otherwise (a remote Connect server, a cluster's file system) only Spark can read it."""
    if scheme_of(uri) != "file":
        return False
    if is_connect(spark):
        return is_local_connect()
    return is_local_master(spark.conf.get("spark.master", "local"))


class _Reader:
    """Reads the index's manifest and tables: with pyarrow from a path this process can open, or
    through Spark (``spark.read.parquet(...).toArrow()``) from any path the cluster can read."""

    def __init__(self, path: str, spark: SparkSession | None):
        self.spark, self.path = spark, path
        uri = qualify(spark, path) if spark is not None else path
        self.direct = spark is None or client_reads_directly(spark, uri)
        if self.direct:
            self.fs, self.root = _file_system(uri)
        else:
            self.fs, self.root = file_system(spark), uri

    def manifest(self) -> dict:
        if self.direct:
            with self.fs.open_input_stream(f"{self.root}/{MANIFEST}") as f:
                return json.loads(f.read().decode("utf-8"))
        uri = f"{self.root}/{MANIFEST}"
        if not self.fs.exists(uri):
            raise FileNotFoundError(uri)
        return json.loads(self.fs.read_text(uri))

    def table(self, folder: str, name: str) -> pa.Table:
        if self.direct:
            return pq.read_table(f"{self.root}/{folder}/{name}", filesystem=self.fs)
        return self.spark.read.parquet(f"{self.root}/{folder}/{name}").toArrow()


class CommunityIndex:
    """A loaded community index: numpy arrays in this process.

    Attributes:
        params: The :class:`CommunityIndexParams` it was built with.
        bands, rows: (b, r).
        names: Caller's id of every dense id.
        signatures: ``n x num_perm`` uint32.
        vertex_keys: ``n x b`` uint64 band keys of every vertex.
        keys, key_ids: The band table sorted by key: bucket members are ``key_ids[lo:hi]``.
    """

    def __init__(self, params: CommunityIndexParams, bands: int, rows: int, names: np.ndarray,
                 signatures: np.ndarray, vertex_keys: np.ndarray, keys: np.ndarray, key_ids: np.ndarray):
        self.params, self.bands, self.rows = params, bands, rows
        # one permutation per row: a query gathers its candidates' columns straight into the
        # num_perm x C layout its steps compare row by row (no transpose per query)
        self.by_permutation = np.ascontiguousarray(signatures.T)
        self.names, self.vertex_keys = names, vertex_keys
        self.keys, self.key_ids = keys, key_ids
        self._lookup = pd.Index(names)

    @property
    def signatures(self) -> np.ndarray:
        """``n x num_perm`` uint32 (a view of ``by_permutation``)."""
        return self.by_permutation.T

    @property
    def n(self) -> int:
        return len(self.names)

    @classmethod
    def load(cls, path: str, params: CommunityIndexParams | None = None,
             spark: SparkSession | None = None) -> CommunityIndex:
        """Read an index written by :func:`build_community_index` into this process.

        Args:
            path: The index folder.
            params: When given, the index must have been built with exactly these parameters.
            spark: The session that wrote it. Given, ``path`` means what it means to Spark (the
                cluster's default file system for a path without a scheme) and is read with pyarrow
                only when this process can open it (a ``file:`` path with Spark on this machine),
                otherwise through Spark (``spark.read.parquet(...).toArrow()``: over Spark Connect the
                files need not be reachable from the client). Without it, pyarrow reads ``path``
                (local disk, or any URI pyarrow reads).

        Raises:
            DatasetNotFoundError: ``path`` holds no complete sparkgraph output.
            ParameterError: It holds another job's output, or was built with other parameters.
        """
        started = time.perf_counter()
        reader = _Reader(path, spark)
        try:
            manifest = reader.manifest()
        except (FileNotFoundError, OSError):
            raise DatasetNotFoundError(f"{path!r} holds no {MANIFEST}: it is not a saved community index; "
                                       "build one with build_community_index") from None
        if manifest.get("job") != JOB:
            raise ParameterError(f"{path!r} holds a {manifest.get('job')!r} output, not a community index; "
                                 "build one with build_community_index")
        built = CommunityIndexParams.from_dict(manifest["parameters"])
        if params is not None and params != built:
            raise ParameterError(f"{path!r} was built with {built}, not the {params} asked for; rebuild the index "
                                 "or load it without params")
        folder = f"{RUNS}/{manifest['run']}"
        vertices = reader.table(folder, "vertices")
        n = vertices.num_rows
        integer_names = pa.types.is_integer(vertices.schema.field("name").type)
        names = np.empty(n, dtype=np.int64 if integer_names else object)
        names[vertices.column("id").to_numpy()] = vertices.column("name").to_numpy(zero_copy_only=False)
        sig_table = reader.table(folder, "signatures")
        num_perm = built.minhash.num_perm
        signatures = np.empty((n, num_perm), dtype=np.uint32)
        flat = sig_table.column("signature").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        signatures[sig_table.column("id").to_numpy()] = flat.reshape(-1, num_perm)
        band_tab = reader.table(folder, "bands")
        keys = band_tab.column("key").to_numpy().view(np.uint64)
        ids = band_tab.column("id").to_numpy()
        band = band_tab.column("band").to_numpy()
        b, r = manifest["index"]["bands"], manifest["index"]["rows"]
        vertex_keys = np.zeros((n, b), dtype=np.uint64)
        vertex_keys[ids, band] = keys
        if len(keys) > 1 and not np.all(keys[1:] >= keys[:-1]):  # signed longs on disk, or files read out of order
            order = np.lexsort((ids, keys))
            keys, ids = keys[order], ids[order]
        log.info("community index: %d vertices, %d x %d bands loaded %s in %.1fs", n, b, r,
                 "here" if reader.direct else "through Spark", time.perf_counter() - started)
        return cls(built, b, r, names, signatures, vertex_keys, np.ascontiguousarray(keys), np.ascontiguousarray(ids))

    def ids_of(self, seeds) -> np.ndarray:
        """Dense ids of caller ids; one-line errors for unknown, duplicate or missing seeds."""
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
            raise ParameterError(f"seeds={seeds!r} is not a list of ids; pass e.g. seeds=[{seeds!r}]")
        seeds = list(seeds)
        if not seeds:
            raise ParameterError("the seed list is empty; give at least one vertex id")
        if any(s is None for s in seeds):
            raise NullIdError("a seed id is None; give vertex ids")
        seen: set = set()
        duplicates = [s for s in seeds if s in seen or seen.add(s)]
        if duplicates:
            raise ParameterError(f"seed ids given twice: {duplicates[:5]}; give each seed once")
        ids = self._lookup.get_indexer(seeds)
        if (ids < 0).any():
            missing = [s for s, i in zip(seeds, ids, strict=True) if i < 0]
            raise UnknownVertexError(f"seed ids not in the index: {missing[:5]}; use ids of the indexed graph")
        return ids.astype(np.int64)

    def candidates(self, ids: np.ndarray) -> np.ndarray:
        """Sorted dense ids sharing a band bucket with any of ``ids`` (the ids themselves excluded)."""
        wanted = self.vertex_keys[ids].ravel()
        lo = np.searchsorted(self.keys, wanted, side="left")
        hi = np.searchsorted(self.keys, wanted, side="right")
        lengths = hi - lo
        if lengths.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        starts = np.repeat(lo - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        # a mark per vertex instead of np.unique: buckets overlap across bands, and a scan of n
        # booleans costs less than sorting their concatenation
        seen = np.zeros(self.n, dtype=bool)
        seen[self.key_ids[starts + np.arange(lengths.sum())]] = True
        seen[ids] = False
        return np.flatnonzero(seen)

    def query(self, seeds, size: int, max_candidates: int | str | None = "auto") -> pd.DataFrame:
        """Grow a community of ``size`` vertices from ``seeds``.

        Args:
            seeds: Caller ids of the seed vertices (distinct, at least one).
            size: Members wanted, seeds included (>= number of seeds). Fewer come back when the
                seeds' buckets hold fewer candidates.
            max_candidates: How many of the candidates (every vertex sharing a bucket with a seed)
                take part: those of highest mean estimated Jaccard with the seeds (ties: smaller
                dense id). ``"auto"`` (default): ``CANDIDATES_PER_MEMBER`` (20) x ``size``, which
                bounds a query's work at 20 x size² x num_perm equality tests (2.6e7 at size 100 and
                128 permutations: about 26 ms at the ~1 ns per test of one core); None: all of them
                (the paper); or a number.

        Returns:
            DataFrame ``(id, score, step)`` in the caller's ids: the seeds first (score 1.0,
            step 0), then members in the order they joined, ``score`` being their mean estimated
            Jaccard with the members before them.

        Raises:
            ParameterError, UnknownVertexError, NullIdError: bad seeds, size or max_candidates.

        Example:
            >>> CommunityIndex.load("out/cnr-index").query([1, 2, 3], size=50).head()
        """
        ids = self.ids_of(seeds)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < len(ids):
            raise ParameterError(f"size={size!r} must be a whole number at least the number of seeds ({len(ids)})",
                                 key="size")
        if max_candidates == "auto":
            max_candidates = CANDIDATES_PER_MEMBER * int(size)
        elif max_candidates is not None and (isinstance(max_candidates, bool) or not isinstance(max_candidates, int)
                                             or max_candidates < 1):
            raise ParameterError(f"max_candidates={max_candidates!r} must be 'auto', None or a positive whole number",
                                 key="max_candidates")
        cands = self.candidates(ids)
        # candidates' signatures one permutation per row: a step compares num_perm contiguous rows
        columns = np.take(self.by_permutation, cands, axis=1)
        total = np.zeros(len(cands), dtype=np.int32)  # equal entries summed over the members
        for s in ids:
            total += _equal_counts(columns, self.by_permutation[:, s])
        if max_candidates is not None and len(cands) > max_candidates:
            keep = np.sort(np.argsort(-total, kind="stable")[:max_candidates])
            cands, columns, total = cands[keep], np.take(columns, keep, axis=1), total[keep]
        buffer = np.empty(columns.shape, dtype=bool)
        members = list(ids)
        scores = [1.0] * len(ids)
        num_perm = columns.shape[0]
        for _ in range(min(size - len(ids), len(cands))):
            best = int(np.argmax(total))  # the highest mean (all share the divisor); ties: smallest dense id
            scores.append(float(total[best]) / (num_perm * len(members)))
            members.append(int(cands[best]))
            total += _equal_counts(columns, columns[:, best], buffer)
            total[best] = CHOSEN
        return pd.DataFrame({"id": self.names[np.array(members, dtype=np.int64)], "score": scores,
                             "step": np.r_[np.zeros(len(ids), dtype=np.int64), np.arange(1, len(members) - len(ids) + 1)]})


def _equal_counts(columns: np.ndarray, signature: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
    """Equal entries of every candidate (columns of ``columns``, num_perm x C) with ``signature``:
    one broadcast comparison into a reused boolean buffer, summed down the columns."""
    equal = np.equal(columns, signature[:, None], out=buffer)
    return equal.view(np.uint8).sum(axis=0, dtype=np.uint16)
