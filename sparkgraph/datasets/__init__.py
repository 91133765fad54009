"""Named data sets: real graphs (bundled or in the shared data folder) and seeded generators.

Real graphs come in one plain format, ``edges.tsv.gz`` (``src, dst[, weight]``) and, where
ground truth exists, ``labels.tsv.gz`` (``node, label``). ``karate`` and ``cora`` are bundled
inside the package (read on the driver, so they work from a wheel or a zip on any cluster);
the others are read from ``$SPARKGRAPH_DATA`` or, by default, ``../shared/data`` beside the
repository.

Generators (:func:`planted_partition`, :func:`chung_lu`, :func:`degree_corrected_partition`) build each slice of the edges on the
executors, so a 10M-edge graph never passes through the driver.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from sparkgraph.errors import DatasetNotFoundError, ParameterError
from sparkgraph.graph import Graph, GraphOptions
from sparkgraph.session import parallelism
from sparkgraph.udfs.generators import (
    blob_vectors,
    block_bounds,
    chung_lu_slice,
    degree_corrected_slice,
    planted_partition_slice,
)


@dataclass(frozen=True)
class DatasetInfo:
    """What a named data set is. ``bundled`` ones ship inside the package."""

    name: str
    directed: bool
    weighted: bool
    labels: bool
    bundled: bool
    description: str


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in [
        DatasetInfo("karate", False, True, True, True, "Zachary's karate club, 34 members, 78 weighted ties, 2 factions"),
        DatasetInfo("cora", True, False, True, True, "Cora citations, 2,708 papers, 5,429 links, 7 classes"),
        DatasetInfo("lesmis", False, True, False, False, "Les Misérables co-appearances, 77 characters, 254 edges"),
        DatasetInfo("cond-mat-1999", False, True, False, False, "cond-mat co-authorship 1999, 16,264 authors, 47,594 weighted edges"),
        DatasetInfo("blogcatalog", False, False, True, False, "BlogCatalog social graph, 10,312 users, 333,983 edges, 39 groups"),
        DatasetInfo("cnr-2000", True, False, False, False, "cnr-2000 web graph, 325,557 pages, 3,216,152 links"),
    ]
}


def shared_data_dir() -> Path:
    """The folder of the shared real data sets: ``$SPARKGRAPH_DATA`` or ``../shared/data`` beside the repo."""
    env = os.environ.get("SPARKGRAPH_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DatasetNotFoundError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def dataset_file(name: str, file: str = "edges.tsv.gz") -> str:
    """Local path of a shared data set's file (bundled sets are resolved inside the package)."""
    info = _info(name)
    if info.bundled:
        return str(resources.files("sparkgraph.datasets") / "data" / name / file)
    path = shared_data_dir() / name / file
    if not path.exists():
        raise DatasetNotFoundError(
            f"{path} not found; set SPARKGRAPH_DATA to the folder holding the {name!r} data set"
        )
    return str(path)


def _read_bundled(name: str, file: str) -> pd.DataFrame:
    raw = (resources.files("sparkgraph.datasets") / "data" / name / file).read_bytes()
    return pd.read_csv(io.BytesIO(gzip.decompress(raw)), sep="\t", header=None)


def graph_options(name: str) -> GraphOptions:
    """The options a data set is meant to be read with (its direction; its weights if any)."""
    info = _info(name)
    return GraphOptions(directed=info.directed, weight="weight" if info.weighted else None)


def load_edges(spark: SparkSession, name: str) -> DataFrame:
    """The raw edges of a named data set: ``src, dst[, weight]`` with long ids."""
    info = _info(name)
    if info.bundled:
        table = _read_bundled(name, "edges.tsv.gz")
        table.columns = ["src", "dst", "weight"][: table.shape[1]]
        schema = "src long, dst long" + (", weight double" if table.shape[1] > 2 else "")
        return spark.createDataFrame(table, schema)
    from sparkgraph.io import read_edges

    return read_edges(spark, dataset_file(name), id_type="long")


def load_graph(spark: SparkSession, name: str, options: GraphOptions | None = None) -> Graph:
    """Build the :class:`Graph` of a named data set.

    Example:
        >>> g = load_graph(spark, "karate")
        >>> g.n, g.m, g.weighted
        (34, 78, True)
    """
    return Graph.from_edges(load_edges(spark, name), options=options or graph_options(name))


def load_labels(name: str) -> pd.DataFrame:
    """Ground-truth labels ``(node, label)`` of a data set (one row per membership)."""
    info = _info(name)
    if not info.labels:
        raise DatasetNotFoundError(f"data set {name!r} has no labels; ones with labels: "
                                   f"{', '.join(n for n, d in DATASETS.items() if d.labels)}")
    table = _read_bundled(name, "labels.tsv.gz") if info.bundled else pd.read_csv(
        dataset_file(name, "labels.tsv.gz"), sep="\t", header=None)
    table.columns = ["node", "label"]
    return table


def load_local(name: str, options: GraphOptions | None = None):
    """The :class:`~sparkgraph.local.LocalGraph` of a named data set (read on this machine)."""
    from sparkgraph.local.graph import LocalGraph

    options = options or graph_options(name)
    info = _info(name)
    if info.bundled:
        table = _read_bundled(name, "edges.tsv.gz")
        table.columns = ["src", "dst", "weight"][: table.shape[1]]
        return LocalGraph.from_pandas(table, options=options)
    return LocalGraph.from_file(dataset_file(name), options=options)


# ---------------------------------------------------------------------- generators
def _generate(spark: SparkSession, slices: int, kernel, *args) -> DataFrame:
    def run(batches):
        for batch in batches:
            for part in batch["id"].to_numpy():
                src, dst = kernel(int(part), slices, *args)
                yield pd.DataFrame({"src": src, "dst": dst})

    return spark.range(slices, numPartitions=slices).mapInPandas(run, "src long, dst long")


def planted_partition(spark: SparkSession, n: int, blocks: int, p_in: float, p_out: float, seed: int = 0,
                      slices: int | None = None) -> tuple[DataFrame, DataFrame]:
    """A seeded planted-partition (stochastic block model) graph with its ground truth.

    Args:
        n: Number of vertices (ids ``0..n-1``).
        blocks: Number of equal-sized communities (contiguous id ranges).
        p_in, p_out: Edge probability inside a community and between communities.
        seed: Random seed; the same seed and ``slices`` give the same graph.
        slices: Number of executor tasks generating edges (default: Spark's parallelism).

    Returns:
        ``(edges, labels)``: undirected edges ``(src, dst)`` listed once with ``src < dst``,
        and ``(node, label)`` for every vertex.

    Example:
        >>> edges, labels = planted_partition(spark, 1000, 4, 0.05, 0.001, seed=7)
        >>> g = Graph.from_edges(edges, labels.withColumnRenamed("node", "id"), directed=False)
    """
    for value, label in ((p_in, "p_in"), (p_out, "p_out")):
        if not 0 <= value <= 1:
            raise ParameterError(f"{label}={value} is not a probability; use a value in [0, 1]")
    if n < blocks or blocks < 1:
        raise ParameterError(f"need 1 <= blocks <= n, got blocks={blocks}, n={n}")
    slices = slices or parallelism(spark)
    edges = _generate(spark, slices, planted_partition_slice, n, blocks, p_in, p_out, seed)
    bounds = block_bounds(n, blocks)

    def label_batches(batches):
        for batch in batches:
            ids = batch["id"].to_numpy()
            yield pd.DataFrame({"node": ids, "label": np.searchsorted(bounds, ids, side="right") - 1})

    labels = spark.range(n, numPartitions=slices).mapInPandas(label_batches, "node long, label long")
    return edges, labels


def chung_lu(spark: SparkSession, n: int, exponent: float = 2.5, mean_degree: float = 10.0, seed: int = 0,
             slices: int | None = None) -> DataFrame:
    """A seeded Chung–Lu graph with power-law expected degrees (undirected edges ``src < dst``, once each).

    Args:
        n: Number of vertex slots (ids ``0..n-1``; slots that drew no edge are absent).
        exponent: Power-law exponent of the degree distribution (> 2).
        mean_degree: Mean expected degree.
        seed, slices: As for :func:`planted_partition`.

    Example:
        >>> edges = chung_lu(spark, 100_000, exponent=2.3, mean_degree=20, seed=1)
    """
    if exponent <= 2:
        raise ParameterError(f"exponent={exponent} must be > 2 for a finite mean degree")
    if mean_degree <= 0 or n < 2:
        raise ParameterError("need n >= 2 and mean_degree > 0")
    slices = slices or parallelism(spark)
    return _generate(spark, slices, chung_lu_slice, n, exponent, mean_degree, seed).distinct()


def degree_corrected_partition(spark: SparkSession, n: int, blocks: int, mixing: float = 0.2,
                               exponent: float = 2.5, mean_degree: float = 20.0, seed: int = 0,
                               slices: int | None = None) -> tuple[DataFrame, DataFrame]:
    """A seeded social graph: Chung–Lu power-law degrees inside planted communities.

    The degree-corrected block model (Karrer and Newman, 2011) built like :func:`chung_lu`:
    hubs and leaves in every community, a share ``mixing`` of the edge draws leaving it. Unlike
    :func:`planted_partition` (every vertex of about the same degree, so a vertex's PageRank
    neighbourhood is flat) its hubs stand out, as in a real social network.

    Args:
        n: Number of vertex slots (ids ``0..n-1``; slots that drew no edge are absent from the edges).
        blocks: Number of communities; vertex ``i`` is in community ``i % blocks``.
        mixing: Share of edge draws whose second endpoint is drawn from the whole graph.
        exponent, mean_degree: As for :func:`chung_lu`.
        seed, slices: As for :func:`planted_partition`.

    Returns:
        ``(edges, labels)`` as for :func:`planted_partition`.

    Example:
        >>> edges, labels = degree_corrected_partition(spark, 100_000, 100, mixing=0.2, seed=1)
    """
    if not 0 <= mixing <= 1:
        raise ParameterError(f"mixing={mixing} is not a probability; use a value in [0, 1]")
    if n < blocks or blocks < 1:
        raise ParameterError(f"need 1 <= blocks <= n, got blocks={blocks}, n={n}")
    if exponent <= 2:
        raise ParameterError(f"exponent={exponent} must be > 2 for a finite mean degree")
    if mean_degree <= 0:
        raise ParameterError(f"mean_degree={mean_degree} must be > 0")
    slices = slices or parallelism(spark)
    edges = _generate(spark, slices, degree_corrected_slice, n, blocks, mixing, exponent, mean_degree,
                      seed).distinct()
    labels = spark.range(n, numPartitions=slices).selectExpr("id AS node", f"id % {int(blocks)} AS label")
    return edges, labels


def gaussian_blobs(spark: SparkSession, n: int, dimension: int, centers: int, spread: float = 1.0, seed: int = 0,
                   slices: int | None = None) -> DataFrame:
    """Seeded points around ``centers`` Gaussian centers: ``(id long, vector array<float>, blob int)``.

    A point's vector depends only on (seed, id) (:func:`sparkgraph.udfs.generators.blob_vectors`), so
    the table is the same for any ``slices``; made on the executors, never on the driver.

    Example:
        >>> points = gaussian_blobs(spark, 1_000_000, 128, centers=100, seed=1)
    """
    if n < 1 or dimension < 1 or centers < 1 or not spread >= 0:
        raise ParameterError(f"need n, dimension, centers >= 1 and spread >= 0; got n={n}, dimension={dimension}, "
                             f"centers={centers}, spread={spread}")
    slices = slices or parallelism(spark)

    def make(batches):
        for batch in batches:
            ids = batch["id"].to_numpy()
            blob, vectors = blob_vectors(ids, dimension, centers, spread, seed)
            yield pd.DataFrame({"id": ids, "vector": list(vectors), "blob": blob.astype(np.int32)})

    return spark.range(n, numPartitions=slices).mapInPandas(make, "id long, vector array<float>, blob int")
