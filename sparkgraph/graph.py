"""The one graph type every distributed algorithm takes.

A :class:`Graph` holds

* ``edges``: a DataFrame of arcs ``(src long, dst long, weight double)`` over dense
  vertex ids ``0..n-1``. An undirected graph stores both directions of every edge
  (a self-loop once), so algorithms always walk out-edges;
* ``vertices``: the id map ``(id long, name <caller's id type>)``;
* the facts algorithms need: ``n``, ``m``, ``directed``, ``weighted``, degrees.

It is built once (validated once, cached) and reused by every algorithm; results are
translated back to the caller's ids with :meth:`Graph.to_names`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkgraph.errors import (
    EmptyGraphError,
    InvalidWeightError,
    MissingColumnError,
    NullIdError,
    ParameterError,
    UnknownVertexError,
)
from sparkgraph.fs import is_connect
from sparkgraph.params import one_of, param, validate
from sparkgraph.session import truncate_lineage

log = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("sum", "max", "first")
BROADCAST_ID_MAP = 2_000_000  # vertices up to which results are translated by a broadcast join (about 50 MB)
SELF_LOOP_POLICIES = ("keep", "drop")


@dataclass(frozen=True)
class GraphOptions:
    """How raw edges become a :class:`Graph`.

    Attributes:
        directed: False stores every edge in both directions.
        weight: Name of the weight column; None gives every edge weight 1.0.
        src, dst: Names of the endpoint columns of the edges table.
        vertex_id: Name of the id column of an optional vertices table.
        duplicates: Repeated edges (same endpoints; either order when undirected) are merged
            by ``sum`` of weights, ``max`` weight, or ``first`` (the first in input order).
        self_loops: ``keep`` or ``drop`` edges from a vertex to itself.
    """

    directed: bool = True
    weight: str | None = None
    src: str = "src"
    dst: str = "dst"
    vertex_id: str = "id"
    duplicates: str = param("sum", one_of(*DUPLICATE_POLICIES))
    self_loops: str = param("keep", one_of(*SELF_LOOP_POLICIES))

    def __post_init__(self) -> None:
        validate(self)


class Graph:
    """A validated, cached graph over dense ids. Build it with :meth:`from_edges`.

    Attributes:
        edges: ``(src long, dst long, weight double)`` arcs, partitioned by ``src``.
        vertices: ``(id long, name)`` id map; ``name`` keeps the caller's id type.
        n: Number of vertices (isolated vertices from a vertices table included).
        m: Number of edges as the caller sees them (an undirected edge counts once).
        num_arcs: Rows of ``edges`` (2m minus self-loops when undirected).
        directed, weighted: As built.
        options: The :class:`GraphOptions` used.

    Example:
        >>> edges = spark.createDataFrame([("a", "b"), ("b", "c")], ["src", "dst"])
        >>> g = Graph.from_edges(edges, directed=False)
        >>> g.n, g.m, g.num_arcs
        (3, 2, 4)
    """

    def __init__(self, edges: DataFrame, vertices: DataFrame, n: int, m: int, num_arcs: int,
                 options: GraphOptions, id_type: T.DataType):
        self.edges = edges
        self.vertices = vertices
        self.n = n
        self.m = m
        self.num_arcs = num_arcs
        self.options = options
        self.directed = options.directed
        self.weighted = options.weight is not None
        self.id_type = id_type
        self._degrees: DataFrame | None = None

    @property
    def spark(self) -> SparkSession:
        return self.edges.sparkSession

    def __repr__(self) -> str:
        kind = "directed" if self.directed else "undirected"
        w = "weighted" if self.weighted else "unweighted"
        return f"Graph(n={self.n}, m={self.m}, {kind}, {w})"

    # ------------------------------------------------------------------ building
    @classmethod
    def from_edges(cls, edges: DataFrame, vertices: DataFrame | None = None,
                   options: GraphOptions | None = None, **kwargs: Any) -> Graph:
        """Build a graph from an edges DataFrame and, optionally, a vertices DataFrame.

        Args:
            edges: One row per edge with endpoint columns (``src``/``dst`` by default)
                of string or integer type, and optionally a numeric weight column.
            vertices: Optional table of vertices (column ``id`` by default); its vertices
                are kept even without edges, and every edge endpoint must appear in it.
            options: A :class:`GraphOptions`; or give its fields as keyword arguments.

        Returns:
            The cached :class:`Graph`.

        Raises:
            ParameterError, MissingColumnError, NullIdError, InvalidWeightError, EmptyGraphError,
            UnknownVertexError: with the problem and the fix in the message.

        Example:
            >>> g = Graph.from_edges(df, weight="w", directed=False, duplicates="max")
        """
        if options is None:
            options = GraphOptions(**kwargs)
        elif kwargs:
            raise ParameterError("give either options= or keyword options, not both")
        for name, frame in (("edges", edges), ("vertices", vertices)):
            if frame is not None and not isinstance(frame, DataFrame):
                fix = (f"spark.createDataFrame({name})" if name == "edges" or not isinstance(frame, (list, tuple))
                       else "spark.createDataFrame([(v,) for v in vertices], 'id long')")
                raise ParameterError(f"{name} must be a Spark DataFrame, not {type(frame).__module__}."
                                     f"{type(frame).__qualname__}: convert it with {fix}")
        started = time.perf_counter()
        edges = _detached(edges)
        raw, id_type = _select_edges(edges, options)
        _validate_edges(raw, options)
        vertex_names = None
        if vertices is not None:
            vertex_names = _select_vertices(_detached(vertices), options, id_type)
            _check_endpoints_known(raw, vertex_names, options)
        if options.self_loops == "drop":
            raw = raw.filter(F.col("s") != F.col("d"))
        merged = _merge_duplicates(raw, options)
        id_map = _dense_id_map(merged, vertex_names)
        arcs = _to_dense_arcs(merged, id_map, options.directed)
        arcs = arcs.repartition("src").persist(StorageLevel.MEMORY_AND_DISK)
        num_arcs = arcs.count()
        n = id_map.count()
        loops = arcs.filter(F.col("src") == F.col("dst")).count() if not options.directed else 0
        m = num_arcs if options.directed else (num_arcs - loops) // 2 + loops
        graph = cls(arcs, id_map, n=n, m=m, num_arcs=num_arcs, options=options, id_type=id_type)
        log.info("built %r in %.1fs", graph, time.perf_counter() - started)
        return graph

    @classmethod
    def from_graphframe(cls, graphframe: Any, options: GraphOptions | None = None, **kwargs: Any) -> Graph:
        """Build from a GraphFrame (or any object with ``.vertices`` and ``.edges`` DataFrames).

        Only the two DataFrames are read, so this works without the GraphFrames jar.
        """
        for attr in ("vertices", "edges"):
            if not isinstance(getattr(graphframe, attr, None), DataFrame):
                raise ParameterError(
                    f"expected a GraphFrame-like object with a .{attr} DataFrame; "
                    "pass Graph.from_edges(edges_df, vertices_df) instead"
                )
        return cls.from_edges(graphframe.edges, graphframe.vertices, options, **kwargs)

    # ------------------------------------------------------------------ facts
    def out_degrees(self) -> DataFrame:
        """``(id, out_degree long, weighted_out_degree double)`` for every vertex (0 for sinks), cached."""
        if self._degrees is None:
            per_src = self.edges.groupBy("src").agg(
                F.count("*").alias("out_degree"), F.sum("weight").alias("weighted_out_degree")
            )
            self._degrees = (
                self.vertices.select("id")
                .join(per_src.withColumnRenamed("src", "id"), "id", "left")
                .fillna({"out_degree": 0, "weighted_out_degree": 0.0})
                .persist(StorageLevel.MEMORY_AND_DISK)
            )
        return self._degrees

    def in_degrees(self) -> DataFrame:
        """``(id, in_degree long)`` for every vertex (0 when nothing points to it)."""
        per_dst = self.edges.groupBy("dst").agg(F.count("*").alias("in_degree"))
        return (self.vertices.select("id").join(per_dst.withColumnRenamed("dst", "id"), "id", "left")
                .fillna({"in_degree": 0}))

    def stats(self) -> dict[str, Any]:
        """The graph's facts in one dict (one Spark job over the degrees)."""
        row = self.out_degrees().agg(
            F.max("out_degree").alias("max_out_degree"),
            F.sum(F.when(F.col("out_degree") == 0, 1).otherwise(0)).alias("sinks"),
            F.sum("weighted_out_degree").alias("total_weight"),
        ).first()
        max_in = self.in_degrees().agg(F.max("in_degree")).first()[0]
        loops = self.edges.filter(F.col("src") == F.col("dst")).count()
        return {
            "vertices": self.n,
            "edges": self.m,
            "arcs": self.num_arcs,
            "directed": self.directed,
            "weighted": self.weighted,
            "self_loops": loops,
            "max_out_degree": int(row["max_out_degree"] or 0),
            "max_in_degree": int(max_in or 0),
            "mean_out_degree": self.num_arcs / self.n if self.n else 0.0,
            "vertices_without_out_edges": int(row["sinks"] or 0),
            "total_arc_weight": float(row["total_weight"] or 0.0),
        }

    # ------------------------------------------------------------------ ids
    def to_names(self, df: DataFrame, *columns: str) -> DataFrame:
        """Replace dense ids in ``columns`` of ``df`` by the caller's ids (a join per column; the id
        map is broadcast while it has at most ``BROADCAST_ID_MAP`` vertices, so ``df`` is not shuffled)."""
        return names_of(self.vertices, df, *columns, broadcast=self.n <= BROADCAST_ID_MAP)

    def to_ids(self, names: DataFrame | list | tuple, column: str | None = None, what: str = "vertex") -> DataFrame:
        """Dense ids ``(id)`` of the given caller ids; every one must be a vertex (see :func:`ids_of`)."""
        return ids_of(self.vertices, self.id_type, names, column, what)

    def unpersist(self) -> None:
        """Release the cached edges, id map and degrees."""
        for df in (self.edges, self.vertices, self._degrees):
            if df is not None:
                df.unpersist()


def _detached(df: DataFrame) -> DataFrame:
    """``df``, or a copy with a short lineage when its plan holds rows of driver memory (a
    DataFrame made from pandas or a list: a ``LocalRelation``).

    Why: such a plan carries every row, and Spark compares plans with it at every query that
    reads the graph's cached tables. A graph built from 2M arcs made with
    ``spark.createDataFrame(pandas)`` took 2.4 s to count its cached edges (0.12 s from Parquet)
    and 35 s for a 10-source ``fully_ppr`` (3.3 s); over Spark Connect, where the rows are an
    uploaded ``ChunkedCachedLocalRelation``, 10.7 s to count them (0.25 s from Parquet).
    """
    if is_connect(df.sparkSession):
        local = _holds_local_rows(df._plan)
    else:
        local = "LocalRelation" in df._jdf.queryExecution().analyzed().toString()
    return truncate_lineage(df) if local else df


def _holds_local_rows(plan: Any) -> bool:
    """Whether a Spark Connect plan tree has a leaf of client rows (``LocalRelation``,
    ``CachedLocalRelation``, ``ChunkedCachedLocalRelation``)."""
    return any(type(node).__name__.endswith("LocalRelation") for node in connect_plan_nodes(plan))


def connect_plan_nodes(plan: Any):
    """Every node of a Spark Connect plan tree (``DataFrame._plan``), each once."""
    seen, todo = set(), [plan]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        for value in vars(node).values() if hasattr(node, "__dict__") else ():
            children = value if isinstance(value, list | tuple) else [value]
            todo.extend(c for c in children if type(c).__module__.startswith("pyspark.sql.connect.plan"))


def union_all(frames: list[DataFrame]) -> DataFrame:
    """``unionByName`` of a non-empty list of DataFrames."""
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


# ---------------------------------------------------------------------- id translation
def names_of(id_map: DataFrame, df: DataFrame, *columns: str, broadcast: bool = False) -> DataFrame:
    """Replace dense ids in ``columns`` of ``df`` by names from an ``(id, name)`` map (a join per column;
    ``broadcast`` ships the map to every task instead of shuffling ``df``)."""
    out = df
    for col in columns:
        names = id_map.select(F.col("id").alias(col), F.col("name").alias("_name"))
        out = out.join(F.broadcast(names) if broadcast else names, col, "left").drop(col).withColumnRenamed(
            "_name", col)
    return out.select(*df.columns)


def ids_of(id_map: DataFrame, id_type: T.DataType, names: DataFrame | list | tuple, column: str | None = None,
           what: str = "vertex") -> DataFrame:
    """Dense ids ``(id)`` of caller ids, looked up in an ``(id, name)`` map.

    Args:
        id_map: The ``(id, name)`` map.
        id_type: Spark type of ``name``.
        names: A list of caller ids, or a DataFrame whose ``column`` holds them.
        column: The column to read from a DataFrame (default: its only column).
        what: The role of these ids in error messages (``"source"``, ``"seed"`` ...).

    Raises:
        UnknownVertexError: naming up to five ids that are not in the map.
    """
    spark = id_map.sparkSession
    kind = _id_kind(id_type)
    if isinstance(names, DataFrame):
        column = column or names.columns[0]
        if column not in names.columns:
            raise MissingColumnError(f"the {what} table has no column {column!r}; it has {names.columns}")
        wanted = names.select(F.col(column).alias("given"), F.col(column).try_cast(id_type).alias("name"))
        bad = wanted.filter(F.col("given").isNotNull() & F.col("name").isNull()).limit(5).collect()
        if bad:
            raise ParameterError(f"{what} ids {[r['given'] for r in bad]} are not {kind}s like the graph's ids; "
                                 f"give {kind} ids")
        wanted = wanted.select("name").distinct()
    else:
        if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
            raise ParameterError(f"{what}s={names!r} is not a list of ids or a one-column DataFrame; "
                                 f"pass e.g. {what}s=[{names!r}]")
        values = list(dict.fromkeys(v.item() if hasattr(v, "item") else v for v in names))  # numpy scalars
        if not values:
            raise ParameterError(f"the {what} list is empty; give at least one id")
        if any(v is None for v in values):
            raise NullIdError(f"a {what} id is None; remove it from the {what} list")
        fits = (lambda v: isinstance(v, int) and not isinstance(v, bool)) if kind == "integer" else (
            lambda v: isinstance(v, str))
        bad = [v for v in values if not fits(v)]
        if bad:
            example = "1" if kind == "integer" else "'1'"
            raise ParameterError(f"{what} ids {bad[:5]} are not {kind}s, but the graph's ids are; give {kind} ids "
                                 f"(e.g. {example})")
        schema = T.StructType([T.StructField("name", id_type, False)])
        wanted = spark.createDataFrame([(v,) for v in values], schema)
    found = wanted.join(id_map, "name", "left")
    missing = [r["name"] for r in found.filter(F.col("id").isNull()).limit(5).collect()]
    if missing:
        raise UnknownVertexError(
            f"{what} ids not in the graph: {missing}; use ids that appear in the edges or vertices table"
        )
    return found.select("id")


# ---------------------------------------------------------------------- steps
def _id_kind(dtype: T.DataType) -> str | None:
    if isinstance(dtype, T.StringType):
        return "string"
    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return "integer"
    return None


def _require_columns(df: DataFrame, columns: list[str], table: str, hint: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MissingColumnError(
            f"{table} table has no column {', '.join(repr(c) for c in missing)} (columns: {df.columns}); {hint}"
        )


def _select_edges(edges: DataFrame, o: GraphOptions) -> tuple[DataFrame, T.DataType]:
    """Select endpoints (as ``s``, ``d``) and weight ``w``; settle the id type."""
    wanted = [o.src, o.dst] + ([o.weight] if o.weight else [])
    _require_columns(edges, wanted, "edges", "rename it, or name your columns with src=/dst=/weight=")
    types = {f.name: f.dataType for f in edges.schema.fields}
    kinds = {_id_kind(types[o.src]), _id_kind(types[o.dst])}
    if None in kinds:
        raise ParameterError(
            f"edge endpoint columns must be string or integer, got {types[o.src].simpleString()}/"
            f"{types[o.dst].simpleString()}; cast them first"
        )
    if len(kinds) > 1:
        raise ParameterError(
            f"{o.src!r} and {o.dst!r} have different id types ({types[o.src].simpleString()} vs "
            f"{types[o.dst].simpleString()}); cast both to one type"
        )
    id_type: T.DataType = T.StringType() if kinds == {"string"} else T.LongType()
    if o.weight:
        if not isinstance(types[o.weight], T.NumericType):
            raise InvalidWeightError(
                f"weight column {o.weight!r} is {types[o.weight].simpleString()}, not numeric; cast it to double"
            )
        weight = F.col(o.weight).cast("double")
    else:
        weight = F.lit(1.0)
    raw = edges.select(
        F.col(o.src).cast(id_type).alias("s"), F.col(o.dst).cast(id_type).alias("d"), weight.alias("w"),
        F.monotonically_increasing_id().alias("order"),
    )
    return raw, id_type


def _validate_edges(raw: DataFrame, o: GraphOptions) -> None:
    """One pass over the edges counting every kind of bad value."""
    w = F.col("w")

    def count_if(cond):
        return F.sum(F.when(cond, 1).otherwise(0))

    row = raw.agg(
        F.count("*").alias("rows"),
        count_if(F.col("s").isNull()).alias("null_src"),
        count_if(F.col("d").isNull()).alias("null_dst"),
        count_if(w.isNull()).alias("null_w"),
        count_if(F.isnan(w)).alias("nan_w"),
        count_if(w.isin(float("inf"), float("-inf"))).alias("inf_w"),
        count_if(w < 0).alias("neg_w"),
        count_if(w == 0).alias("zero_w"),
    ).first()
    if row["rows"] == 0:
        raise EmptyGraphError("the edge set is empty; check the input path or filter, a graph needs at least one edge")
    for col, name in (("null_src", o.src), ("null_dst", o.dst)):
        if row[col]:
            raise NullIdError(
                f"{row[col]} edges have a null {name!r}; drop them first (edges.dropna(subset=[{name!r}]))"
            )
    problems = {
        "null_w": "null", "nan_w": "NaN", "inf_w": "infinite", "neg_w": "negative", "zero_w": "zero",
    }
    for col, what in problems.items():
        if row[col]:
            raise InvalidWeightError(
                f"{row[col]} edges have a {what} weight in {o.weight!r}; weights must be finite and > 0: "
                "drop or fix those edges"
            )


def _select_vertices(vertices: DataFrame, o: GraphOptions, id_type: T.DataType) -> DataFrame:
    _require_columns(vertices, [o.vertex_id], "vertices", "rename it, or pass vertex_id=")
    vtype = vertices.schema[o.vertex_id].dataType
    expected = "string" if isinstance(id_type, T.StringType) else "integer"
    if _id_kind(vtype) != expected:
        raise ParameterError(
            f"vertex id column {o.vertex_id!r} is {vtype.simpleString()} but edge ids are {expected}; "
            "cast them to one type"
        )
    names = vertices.select(F.col(o.vertex_id).cast(id_type).alias("name"))
    nulls = names.filter(F.col("name").isNull()).count()
    if nulls:
        raise NullIdError(f"{nulls} vertices have a null {o.vertex_id!r}; drop them first")
    return names.distinct()


def _check_endpoints_known(raw: DataFrame, names: DataFrame, o: GraphOptions) -> None:
    endpoints = raw.select(F.col("s").alias("name")).union(raw.select(F.col("d").alias("name"))).distinct()
    unknown = endpoints.join(names, "name", "left_anti")
    sample = [r["name"] for r in unknown.limit(5).collect()]
    if sample:
        raise UnknownVertexError(
            f"edges refer to vertices missing from the vertices table, e.g. {sample}; "
            "add them to the vertices table or drop those edges"
        )


def _merge_duplicates(raw: DataFrame, o: GraphOptions) -> DataFrame:
    """One row per distinct edge (canonical order ``s <= d`` when undirected)."""
    if not o.directed:
        raw = raw.select(F.least("s", "d").alias("s"), F.greatest("s", "d").alias("d"), "w", "order")
    if o.duplicates == "sum":
        agg = F.sum("w")
    elif o.duplicates == "max":
        agg = F.max("w")
    else:
        agg = F.min_by("w", "order")
    return raw.groupBy("s", "d").agg(agg.alias("w"))


def _dense_id_map(edges: DataFrame, vertex_names: DataFrame | None) -> DataFrame:
    """``(id, name)``: dense ids 0..n-1 in the sorted order of the caller's ids.

    Sorting makes the ids deterministic (and equal to the local twin's). Positions
    come from a range-partitioned sort plus per-partition offsets, so no single
    partition ever holds all vertices; only one count per partition reaches the driver.
    """
    names = edges.select(F.col("s").alias("name")).union(edges.select(F.col("d").alias("name")))
    if vertex_names is not None:
        names = names.union(vertex_names)
    ordered = (
        names.distinct().orderBy("name")
        .withColumn("part", F.spark_partition_id())
        .withColumn("pos", F.monotonically_increasing_id())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = sorted((r["part"], r["count"]) for r in ordered.groupBy("part").count().collect())
    offsets, total = [], 0
    for part, count in counts:
        # monotonically_increasing_id is (partition << 33) + row within the partition
        offsets.append((part, total - (part << 33)))
        total += count
    shift = edges.sparkSession.createDataFrame(offsets, "part int, shift long")
    id_map = (
        ordered.join(F.broadcast(shift), "part")
        .select((F.col("pos") + F.col("shift")).alias("id"), "name")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    id_map.count()
    ordered.unpersist()
    return id_map


def _to_dense_arcs(edges: DataFrame, id_map: DataFrame, directed: bool) -> DataFrame:
    src_ids = id_map.select(F.col("name").alias("s"), F.col("id").alias("src"))
    dst_ids = id_map.select(F.col("name").alias("d"), F.col("id").alias("dst"))
    arcs = edges.join(src_ids, "s").join(dst_ids, "d").select("src", "dst", F.col("w").alias("weight"))
    if directed:
        return arcs
    reverse = arcs.filter(F.col("src") != F.col("dst")).select(
        F.col("dst").alias("src"), F.col("src").alias("dst"), "weight"
    )
    return arcs.unionByName(reverse)
