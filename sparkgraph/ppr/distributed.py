"""Distributed random walks over a sharded graph (Lin, WWW 2019, made to fit Spark).

For graphs whose adjacency does not fit one task. The design:

1. **Shards and replicas.** The dense ids are cut into ranges ``[lo, hi)`` holding about the same
   number of arcs (approximate quantiles of the arcs' sources), as few as keep a shard's walk graph
   within ``shard_max_bytes`` in a task (:func:`shard_bounds`: every shard boundary a walk crosses
   costs a round). The work's tasks, one per ``walks_per_batch`` walkers up to two per unit of
   parallelism (:func:`work_tasks`), come from **replicas** of the shards (:class:`Layout`):
   everything of one source at a shard goes to one replica, by a hash of the source, so more tasks
   add no crossing. Over one shard the strategy walks as broadcast does: 10,000 sources of a
   100k-vertex Chung-Lu graph took 27.2 s in one round over 5 replicas (broadcast: 16.7 s), 127.9 s
   over 5 shards in 79 rounds. Each shard's rows are packed once, in chunks (:func:`shard_table`),
   copied to its replicas, hash-partitioned so that each replica has its own task
   (:func:`shard_routes`), and cached: they stay on the executors.
2. **Compact walkers.** Walkers travel as arrays (rows of at most :data:`ROW_ENTRIES` walkers
   per destination shard and task, not a row per walker: :mod:`sparkgraph.ppr.round_rows`),
   co-grouped with their shard; a task walks them **as far as they stay in the shard**
   (:func:`~sparkgraph.udfs.shard_walks.walk_in_shard`), so on graphs with locality most walks
   end in the task that started them, and only the walkers that step out are shuffled.
3. **Pipelining.** The sources are dealt into batches of about ``walks_per_batch`` × tasks
   walkers (by a hash of the source id; a shard's share follows where the sources are); a new
   batch enters at every round while earlier ones are still walking, so the rounds number about
   batches + the longest walk's shard crossings, not their product. Cost model: a task holds its
   replica's share of the new batch, about ``walks_per_batch`` walkers, plus those of earlier
   batches that stepped into its shard (a fraction of them on graphs with locality, up to 1/α
   times as many on graphs without), 32 bytes each (source, stream key, step, position) plus one
   step's numpy temporaries. Over several shards the counts held until a source's walks end ask
   for more batches when they would outgrow ``counts_max_bytes`` per task, and for merge buckets
   small enough for a task (:mod:`sparkgraph.ppr.count_memory`); that estimate is the plan, and
   each merge resizes the batches still to deal from the counts it measured held (:class:`~sparkgraph.ppr.count_memory.Dealer`).
4. **Counts, merged rarely.** Each task counts its visits and ends per (source, target) as whole
   numbers and emits them bucketed by source; every :data:`MERGE_EVERY` rounds the counts are
   merged per bucket. Each task also counts its walkers that stopped, per source: a source whose
   ω walkers have all stopped gets no more counts, so the merge turns its counts into scores and
   keeps its top k (exactly what the end would keep; on all of cnr-2000's sources, a third of them
   were done at the first merge). The counts held between merges are those of sources still
   walking, and at the end each bucket scores what is left. A source whose push and walkers all
   started and ended in one task call is scored there and ships its top k, not its counts (over
   one shard: every source). No action per round beyond the
   lineage cut and, once every batch is in, a check that walkers or parked flow are left. With
   ``count_top`` (opt-in), a task ships, and a merge keeps, only each walking source's largest
   walker counts (:func:`~sparkgraph.udfs.shard_walks.top_counts`; the error it adds:
   ``PPRParams.count_top``).

5. **Push-then-walk.** A batch enters as flow, not walkers: every round each task pushes the flow
   standing on its shard once (:func:`~sparkgraph.udfs.shard_push.push_round`, in fixed point, so
   Spark's sums are exact in any order); what an entry keeps joins the counts, what it pushes
   travels to its next vertices' shards, and what does not push (below the per-round threshold,
   or after the last round) is **parked** at its source's shard. Once the source's push is over
   (``rounds`` + 1 rounds after it entered, whatever its flow did, so no round waits on a count)
   that shard starts its ω walkers from the residual as the broadcast kernel does
   (:func:`~sparkgraph.udfs.walks.start_walkers`), each carrying the residual's mass / ω. So
   a batch's push overlaps the walks of earlier ones: it adds about ``rounds`` rounds in all.
   A new source whose flow never leaves its shard pushes to the end in its first task call
   (:func:`~sparkgraph.udfs.shard_push.push_inside`, the same rounds' decisions) and walks at
   once: over one shard every source, with nothing held between rounds. Auto pushes over one
   shard only (:class:`ShardPush`).

Every walker draws from its source's own counter-based stream and steps exactly as the broadcast
kernel does, and counts become scores by the same formula, so without push the estimates equal
the broadcast strategy's and the local Monte Carlo twin's bit for bit, and with push they are the
same whatever the shards, batches or cluster (the push's rule differs from broadcast's, which
decides by a source's whole flow: here every entry decides alone, as a task sees only its shard).

6. **Hubs.** A row of more than :data:`~sparkgraph.udfs.hubs.HUB_ARCS` arcs is cut, in column
   order, into blocks of that many arcs, dealt over the shards (:func:`hub_blocks`; ranked by a
   range partitioning, so no task holds a hub's whole row, and left out of the shards' cuts). The
   hub's shard knows the blocks' running totals: a walker stepping on from the hub picks the block
   there and travels to the block's shard, which picks the arc with the same draw
   (:mod:`sparkgraph.udfs.hubs`; every strategy sums a hub's weights block by block, so the choice
   is the broadcast kernel's, bit for bit). A step from a hub costs one more round; flow on a hub
   parks (a push over its row would cost more than the source's walks at any usual ω).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph import progress
from sparkgraph.graph import Graph, union_all
from sparkgraph.ppr.count_memory import (
    COUNT_ENTRY_BYTES,
    SLOTS,
    Dealer,
    count_batches,
    count_buckets,
    entries_per_source,
    rounds_in_flight,
)
from sparkgraph.ppr.params import PPRParams
from sparkgraph.ppr.round_rows import (
    CARRIED,
    COUNT_COLUMNS,
    COUNTS,
    FLOW,
    PARKED,
    ROUND_SCHEMA,
    SPAWN,
    WALKER_COLUMNS,
    WALKER_SCHEMA,
    WALKING,
    count_rows,
    flat,
    flow_of,
    flow_rows,
    grouped_rows,
    merge_counts,
    score_rows,
    scored_and_counts,
    tally_of,
    walker_rows,
)
from sparkgraph.session import job_description, parallelism, release, truncate_lineage
from sparkgraph.shipping import ENTRIES_PER_CHUNK
from sparkgraph.udfs import hubs as hubs_module
from sparkgraph.udfs.hubs import Hubs
from sparkgraph.udfs.packing import decode_chunk, encode_chunk, rows_per_chunk
from sparkgraph.udfs.projection import splitmix64
from sparkgraph.udfs.push import FINISHING_POLICIES, SPARSE_PUSH_ROUNDS, push_threshold
from sparkgraph.udfs.shard_push import ONE, Flow, push_inside, push_round, residual_matrix, summed
from sparkgraph.udfs.shard_walks import (
    Tally,
    Walkers,
    complete_sources,
    mass_target,
    merge_tallies,
    resolve_pending,
    spawn,
    spawn_from_residual,
    tally_scores,
    top_counts,
    walk_in_shard,
)
from sparkgraph.udfs.walks import WalkGraph, walk_graph

log = logging.getLogger(__name__)

MERGE_EVERY = 16  # rounds between merges of the counts
# entries per row of walkers or counts: rows of a few MiB, which the JVM sorts and spills like any
# other (one row per shard and task held 35 MiB on BlogCatalog, and a 4g driver ran out of heap)
ROW_ENTRIES = 1 << 16
SCORES_SCHEMA = "source long, target long, score double"


def work_tasks(spark, walkers: int, walks_per_batch: int) -> int:
    """The tasks the walks call for: one per ``walks_per_batch`` walkers (a task's batch, as in the
    broadcast strategy), at most two per unit of the cluster's parallelism (spare tasks even out the
    walks' uneven load: on cnr-2000 one shard of four took three times another's time).

    Fewer walkers do not gain from more tasks: a round's cost is then mostly per task. 200 sources
    of a 100k-vertex Chung-Lu graph (200,000 walkers, 2 cores): 36.7 s over 4 shards in 65 rounds,
    6.2 s in one task and one round (broadcast: 6.5 s); of BlogCatalog: 26.6 s in 48 rounds, 4.9 s
    in one (broadcast: 5.2 s).

    Example:
        >>> work_tasks(spark, walkers=200 * 1000, walks_per_batch=2_000_000)
        1
    """
    return max(1, min(2 * parallelism(spark), math.ceil(walkers / walks_per_batch)))


@dataclass(frozen=True, eq=False)
class Layout:
    """Where the rounds' rows go: ``bounds`` (:func:`shard_bounds`) cut the graph into shards, each
    held by ``replicas`` tasks, slot ``shard · replicas + replica``, whose rows carry ``routes[slot]``
    (:func:`shard_routes`). Everything of one source at one shard (its walkers, flow, parked flow)
    goes to one replica, chosen by a hash of the source: the tasks share the work without adding a
    shard boundary for walks to cross."""

    bounds: np.ndarray
    routes: np.ndarray
    replicas: int

    @property
    def shards(self) -> int:
        return len(self.bounds) - 1

    def shard_of(self, vertices: np.ndarray) -> np.ndarray:
        """The shard holding each vertex; ``-(block + 1)``: the shard holding that hub block
        (block ``g`` at shard ``g mod shards``, :func:`hub_blocks`).

        Example:
            >>> Layout(np.array([0, 10, 20]), np.array([5, 9, 1, 4]), 2).shard_of(np.array([3, 15, -4]))
            array([0, 1, 1])
        """
        vertices = np.asarray(vertices, dtype=np.int64)
        out = np.searchsorted(self.bounds, vertices, side="right") - 1
        pending = vertices < 0
        out[pending] = (-vertices[pending] - 1) % self.shards
        return out

    def route(self, vertices: np.ndarray, sources: np.ndarray) -> np.ndarray:
        """The route key of the replica of ``vertices``' shards that serves ``sources`` (one
        replica per source at every shard, by a hash of the source).

        Example:
            >>> layout = Layout(np.array([0, 10, 20]), np.array([5, 9, 1, 4]), 2)
            >>> bool(np.isin(layout.route(np.array([12, 19]), np.array([7, 7])), [1, 4]).all())
            True
        """
        replica = splitmix64(np.asarray(sources, dtype=np.int64).astype(np.uint64)) % np.uint64(self.replicas)
        return self.routes[self.shard_of(vertices) * self.replicas + replica.astype(np.int64)]

    def shard_of_route(self, route: int) -> int:
        return int(np.flatnonzero(self.routes == route)[0]) // self.replicas

    def replica_routes(self) -> list[list[int]]:
        """Per shard, the route keys of its replicas."""
        return self.routes.reshape(self.shards, self.replicas).tolist()


def walk_graph_bytes(graph: Graph) -> int:
    """The whole graph's walk graph in a task: 8 bytes per arc and per vertex; 24 more per arc when
    weighted (the weights and their per-row sums)."""
    return graph.num_arcs * (32 if graph.weighted else 8) + 8 * (graph.n + 1)


def memory_shards(graph: Graph, max_bytes: int) -> int:
    """The shards that keep a shard's walk graph within ``max_bytes`` (at most one per vertex).
    :func:`shard_bounds` may merge cuts, but never down to one shard from several (its inner cuts
    stay within ``[1, n - 1]``), so one shard here is one shard in the run.

    Example:
        >>> memory_shards(graph, max_bytes=-(-walk_graph_bytes(graph) // 2))  # (half, rounded up)
        2
    """
    return min(math.ceil(walk_graph_bytes(graph) / max_bytes), max(1, graph.n))


def shard_bounds(graph: Graph, max_bytes: int, hubs: Hubs | None = None) -> np.ndarray:
    """``[0, b1, ..., n]``: shard ``k`` holds the vertices ``bounds[k] <= v < bounds[k+1]``.

    As few shards as keep a shard's walk graph within ``max_bytes`` in a task
    (:func:`walk_graph_bytes`; ``PPRParams.shard_max_bytes``): every shard boundary a walk crosses
    costs a round, and the work's tasks come from replicas (:class:`Layout`). Cut at approximate
    quantiles of the arcs' sources (but the split ``hubs``', whose blocks are dealt over the
    shards, :func:`hub_blocks`), so shards hold about equal arcs.
    """
    n = graph.n
    shards = memory_shards(graph, max_bytes)
    if n <= 1 or shards == 1:
        return np.array([0, n], dtype=np.int64)
    hub_arcs = int(hubs.degree.sum()) if hubs is not None else 0
    if graph.num_arcs == hub_arcs:
        cuts = np.linspace(0, n, shards + 1)[1:-1]
    else:
        arcs = graph.edges if not hub_arcs else graph.edges.filter(~F.col("src").isin(hubs.vertex.tolist()))
        cuts = arcs.approxQuantile("src", [k / shards for k in range(1, shards)], 1.0 / (10 * shards))
    inner = np.unique(np.clip(np.ceil(np.asarray(cuts, dtype=np.float64)).astype(np.int64), 1, n - 1))
    return np.concatenate([[0], inner, [n]]).astype(np.int64)


def shard_routes(spark, shards: int) -> np.ndarray:
    """``routes[k]``: the key that slot ``k``'s rows carry in their ``shard`` column (a replica of a
    shard, :class:`Layout`), one that Spark's hash partitioning into ``shards`` partitions sends to
    partition ``k``. Hashing the shard numbers
    themselves collides (8 numbers into 8 partitions leave about a third of the tasks without a
    shard and give others two or three), which undoes the spare shards' balancing."""
    key = F.col("id").cast("int")
    firsts = (spark.range(64 * shards).select(key.alias("key"), F.pmod(F.hash(key), F.lit(shards)).alias("part"))
              .groupBy("part").agg(F.min("key").alias("key")).collect())
    routes = np.full(shards, -1, dtype=np.int64)
    for row in firsts:
        routes[row["part"]] = row["key"]
    if (routes < 0).any():  # (64 candidates per partition: a miss has probability about shards·e^-64)
        raise RuntimeError("distributed ppr: no routing key found for a shard")
    return routes


def find_hubs(graph: Graph, block_arcs: int) -> Hubs:
    """The vertices of more than ``block_arcs`` out-arcs, whose rows are split into blocks
    (:mod:`sparkgraph.udfs.hubs`). The driver collects them: at most ``arcs / block_arcs``."""
    found = (graph.out_degrees().filter(F.col("out_degree") > block_arcs).select("id", "out_degree")
             .orderBy("id").collect())
    return Hubs.of(np.array([row[0] for row in found], dtype=np.int64),
                   np.array([row[1] for row in found], dtype=np.int64), block_arcs)


def hub_blocks(graph: Graph, hubs: Hubs, shards: int) -> tuple[Hubs, DataFrame | None]:
    """The ``hubs``' rows cut into blocks of ``hubs.block_arcs`` arcs in column order, block ``g``
    held by shard ``g mod shards``: ``(hubs, rows)``, the hubs with their blocks' total weights
    when weighted, and rows ``(shard, payload, block)`` (None without hubs). No task holds a whole hub's row: the arcs are ranked within their row by a
    range partitioning on (src, dst) and each partition's count per hub (collected: hubs times
    partitions), then packed block by block; the driver collects one total per block."""
    if not len(hubs):
        return hubs, None
    block_arcs, vertex = hubs.block_arcs, hubs.vertex
    weighted = graph.weighted
    columns = ["src", "dst"] + (["weight"] if weighted else [])
    arcs = graph.edges.filter(F.col("src").isin(vertex.tolist())).select(*columns)
    ordered = truncate_lineage(arcs.repartitionByRange(shards, "src", "dst").sortWithinPartitions("src", "dst")
                               .withColumn("part", F.spark_partition_id()))
    counts = pd.DataFrame([(r["part"], r["src"], r["count"]) for r in ordered.groupBy("part", "src").count().collect()],
                          columns=["part", "src", "count"]).sort_values(["src", "part"])
    counts["start"] = counts.groupby("src")["count"].cumsum() - counts["count"]  # (partitions follow the key order)
    start = {(int(p), int(v)): int(a) for p, v, a in zip(counts["part"], counts["src"], counts["start"], strict=True)}

    def rank(batches):
        done: dict[int, int] = {}  # per hub: its arcs seen in this partition's earlier batches
        for batch in batches:
            part, src = batch.column("part").to_numpy(), batch.column("src").to_numpy()
            if len(src) == 0:
                continue
            # sorted, so a hub's arcs are contiguous: one run per hub in the batch
            runs = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
            sizes = np.diff(np.r_[runs, len(src)])
            base = np.array([start[(int(part[i]), int(src[i]))] + done.get(int(src[i]), 0) for i in runs],
                            dtype=np.int64)
            ranked = np.repeat(base - runs, sizes) + np.arange(len(src))
            for i, size in zip(runs, sizes, strict=True):
                done[int(src[i])] = done.get(int(src[i]), 0) + int(size)
            block = hubs.first[hubs.index(src)] + ranked // block_arcs
            yield pa.RecordBatch.from_arrays([batch.column(c) for c in columns] + [pa.array(block)],
                                             names=columns + ["block"])

    def pack(table: pa.Table) -> pa.Table:
        g = int(table.column("block")[0].as_py())
        dst = table.column("dst").to_numpy()
        weights = table.column("weight").to_numpy() if weighted else None
        payload = encode_chunk(np.zeros(len(dst), np.int64), dst, weights, 0, 1)
        total = float(np.cumsum(weights[np.argsort(dst)])[-1]) if weighted else 0.0  # (a block's sum, in column order)
        return pa.table({"shard": pa.array([g % shards], pa.int32()), "payload": pa.array([payload]),
                         "block": pa.array([g], pa.int64()), "total": pa.array([total])})

    schema = ", ".join(f"{c} {'double' if c == 'weight' else 'long'}" for c in columns) + ", block long"
    blocks = truncate_lineage(ordered.mapInArrow(rank, schema).groupBy("block")
                              .applyInArrow(pack, "shard int, payload binary, block long, total double"))
    release(ordered)
    if weighted:
        totals = sorted((row["block"], row["total"]) for row in blocks.select("block", "total").collect())
        hubs = Hubs.of(hubs.vertex, hubs.degree, block_arcs, np.array([t for _, t in totals]))
    log.info("distributed ppr: %d hubs of more than %d out-arcs split into %d blocks", len(hubs), block_arcs,
             hubs.blocks)
    return hubs, blocks.select("shard", "payload", "block")


def shard_table(graph: Graph, layout: Layout, hubs: Hubs | None = None, blocks: DataFrame | None = None
                ) -> DataFrame:
    """``(shard, payload, block, first)``: each shard's CSR rows packed in chunks of
    ``chunk_rows`` rows from ``first`` (:func:`~sparkgraph.udfs.packing.encode_chunk`; the
    broadcast shipment's chunk rows, :data:`~sparkgraph.shipping.ENTRIES_PER_CHUNK` arcs at the
    average degree; rows sorted by column as the broadcast strategy's; a split hub's row empty;
    block null), and the hub ``blocks`` it holds (:func:`hub_blocks`; first null), once per replica
    under the replica's route key (:class:`Layout`), hash-partitioned by route (one replica per
    partition), cached. Chunks keep the table's rows a few MiB wherever ids are not much denser than
    average (a row is at most :data:`~sparkgraph.udfs.hubs.HUB_ARCS` arcs), which the JVM moves like
    any other: one row per shard held 56 MB on a 20M-arc graph over three shards, and a 1g executor
    ran out of heap copying it into the rounds' input."""
    weighted, bounds = graph.weighted, layout.bounds
    chunk_rows = rows_per_chunk(graph.n, graph.num_arcs, ENTRIES_PER_CHUNK)

    def tag(batches):
        for batch in batches:
            src = batch.column("src").to_numpy()
            shard = layout.shard_of(src)
            first = np.maximum(bounds[shard], src // chunk_rows * chunk_rows)  # (a chunk stays in its shard)
            yield pa.RecordBatch.from_arrays(batch.columns + [pa.array(shard.astype(np.int32)), pa.array(first)],
                                             names=batch.schema.names + ["shard", "first"])

    def pack(table: pa.Table) -> pa.Table:
        shard, first = int(table.column("shard")[0].as_py()), int(table.column("first")[0].as_py())
        end = min(int(bounds[shard + 1]), (first // chunk_rows + 1) * chunk_rows)
        payload = encode_chunk(table.column("src").to_numpy(), table.column("dst").to_numpy(),
                               table.column("weight").to_numpy() if weighted else None, first, end)
        return pa.table({"shard": pa.array([shard], pa.int32()), "payload": pa.array([payload], pa.binary()),
                         "block": pa.nulls(1, pa.int64()), "first": pa.array([first], pa.int64())})

    columns = ["src", "dst"] + (["weight"] if weighted else [])
    arcs = graph.edges.select(*columns)
    if hubs is not None and len(hubs):
        arcs = arcs.filter(~F.col("src").isin(hubs.vertex.tolist()))
    schema = ", ".join(f"{c} {'double' if c == 'weight' else 'long'}" for c in columns) + ", shard int, first long"
    packed = (arcs.mapInArrow(tag, schema).groupBy("shard", "first")
              .applyInArrow(pack, "shard int, payload binary, block long, first long"))
    if blocks is not None:
        packed = packed.unionByName(blocks.withColumn("first", F.lit(None).cast("long")))
    replicas = F.array(*[F.array(*[F.lit(int(route)) for route in routes]) for routes in layout.replica_routes()])
    packed = packed.withColumn("shard", F.explode(F.element_at(replicas, F.col("shard") + 1).cast("array<int>")))
    return packed.repartition(len(layout.routes), "shard").persist(StorageLevel.MEMORY_AND_DISK)


@dataclass(frozen=True)
class ShardPush:
    """The distributed strategy's push: ``rounds`` pushes at most per source, entries pushing while
    they hold ``threshold`` units per out-arc (:func:`~sparkgraph.udfs.shard_push.push_round`);
    ``rounds`` 0: the walks start at the sources."""

    rounds: int
    threshold: float

    @staticmethod
    def of(params: PPRParams, dangling: str, shards: int) -> ShardPush:
        """``push_rounds`` set: at most that many rounds, each entry pushing by the sparse layout's
        rule (:func:`~sparkgraph.udfs.push.push_threshold`: a round costs a source at most what
        its walks cost). 0: no push, and none under ``discard`` (the walk index).

        Auto (None) pushes as the sparse layout does (at most
        :data:`~sparkgraph.udfs.push.SPARSE_PUSH_ROUNDS`) over one shard, where each source pushes
        to the end in its first task call and nothing is held between rounds; over several shards
        it does not: flow that crosses shards is held between rounds and costs a round a step. All
        325,557 sources of cnr-2000 over eight shards at the work's batch size ran this 24 GB
        machine out of memory twice (the JVM killed by the system); with the batches sized by the
        counts and flow the merges measure (:class:`~sparkgraph.ppr.count_memory.Dealer`), ``push_rounds=8`` completes in
        747.2 s at broadcast's accuracy (precision@10 0.982, L1 0.070; its merges held up to 213M
        entries, 8.5 GB), where no push takes 421.9 s at 0.9635 and 0.112: more accuracy per ω
        for 1.77x the time. At matched accuracy it wins there: on 20,000 of those sources, 127.5 s
        at 0.982 and 0.070, where no push needs ω = 8000 for 0.9795 and 0.071, in 170.1 s
        (ω = 4000: 0.976 in 86.6 s). On a planted-partition social graph (100k vertices, 10,000
        sources over 4 shards) too: 166.3 s at 0.7585 (broadcast's), where no push gets 0.5475 at
        ω = 1000 (58.8 s) and 0.5855 at ω = 4000 (115.1 s). Auto stays off over several shards
        until the memory of such a push is measured at scale (the 1M-vertex graph).
        """
        rounds = params.push_rounds if params.push_rounds is not None else (SPARSE_PUSH_ROUNDS if shards == 1 else 0)
        if dangling not in FINISHING_POLICIES or not rounds:
            return ShardPush(0, 0.0)
        return ShardPush(rounds, ONE * push_threshold(params.walks_per_source, params.restart_prob))

    def describe(self) -> str:
        if not self.rounds:
            return "no push (the walks start at the sources)"
        return (f"at most {self.rounds} push rounds, an entry pushing at round t while it holds at least "
                f"{self.threshold / ONE:.3g}·(1-α)^t of its source's flow per out-arc")


def _walk_round(layout: Layout, params: PPRParams, dangling: str, n: int, buckets: int, row_entries: int,
                push: ShardPush, hubs: Hubs, finish, round_index: int):
    """The cogrouped function of round ``round_index``: push one shard's flow once, start the walkers
    of the sources whose push is over (their parked flow is due), walk the shard's walkers; emit what
    travels on (keyed by the route of its shard's replica for its source, :class:`Layout`), parked
    flow (keyed by its source's shard, with the round it is due there) and counts. A walker bound
    for a block of a split hub's row (position ``-(block + 1)``) goes to the block's shard, which
    takes its arc before the walks.

    A new source whose push stays in the shard pushes to the end and walks here at once
    (:func:`~sparkgraph.udfs.shard_push.push_inside`). A new source (pushed here to the end, or
    without push) whose walkers all stopped here has all its counts in this task: it emits their
    scores (``finish(tally)``, its top k), not its counts, which would otherwise be shuffled to a
    merge only to be scored there (over one shard: every source)."""
    p, bounds, route = params, layout.bounds, layout.route
    # new sources per chunk: broadcast's chunks (a batch of walkers, at most push_sources_per_batch when pushing)
    chunk_sources = max(1, p.walks_per_batch // p.walks_per_source)
    if push.rounds:
        chunk_sources = min(chunk_sources, p.push_sources_per_batch)

    def walk(carried: pa.Table, shard_rows: pa.Table) -> pa.Table:
        if carried.num_rows == 0:
            return walker_rows(np.empty(0, np.int64), Walkers.concat([]), row_entries)
        shard = layout.shard_of_route(carried.column("shard")[0].as_py())
        lo, hi = int(bounds[shard]), int(bounds[shard + 1])
        graph, held = _shard_graph(shard_rows, lo, hi)
        kind = carried.column("kind").to_numpy()

        def of(k: int) -> pa.Table | None:
            rows = carried.filter(pa.array(kind == k))
            return rows if rows.num_rows else None

        spawned, moving, flowing, parked = of(SPAWN), of(WALKING), of(FLOW), of(PARKED)
        out, pushing = [], []

        def settle(walkers: list[Walkers], tallies: list[Tally], whole: np.ndarray) -> None:
            """Walk ``walkers`` as far as they stay here; emit those that leave, the scores of the
            ``whole`` sources (all their counts made in this call) whose walkers all stopped, and
            the other counts (with ``tallies``, pushed flow and residual masses)."""
            started = resolve_pending(Walkers.concat(walkers), hubs, held, p.restart_prob)
            inside = (started.pos >= lo) & (started.pos < hi)
            tally, leaving = walk_in_shard(started.take(inside), graph, lo, hi, p.restart_prob, p.estimator,
                                           dangling, p.max_steps, n, hubs, held)
            leaving = Walkers.concat([started.take(~inside), leaving])  # (walkers that start in another shard)
            out.append(walker_rows(route(leaving.pos, leaving.source), leaving, row_entries))
            tally = merge_tallies([tally] + tallies, n)
            if len(whole):
                final = complete_sources(tally, p.walks_per_source, n) & np.isin(tally.source, whole)
                out.append(score_rows(finish(tally.take(final)), buckets, row_entries))
                tally = tally.take(~final)
            if p.count_top is not None:  # (sources still walking: their counts travel to a merge)
                tally = top_counts(tally, p.count_top, p.restart_prob, n)
            out.append(count_rows(tally, buckets, row_entries))

        # new sources a chunk at a time, as broadcast takes them (what a chunk holds grows with it):
        # each pushes to the end here when its flow never leaves the shard, and walks at once
        new_sources = flat(spawned, "source") if spawned is not None else np.empty(0, np.int64)
        for first in range(0, len(new_sources), chunk_sources):
            chunk = new_sources[first:first + chunk_sources]
            if not push.rounds:
                settle([spawn(chunk, p.walks_per_source, p.seed)], [], chunk)
                continue
            whole, kept, parked_flow = push_inside(Flow.start(chunk), graph, lo, hi, p.restart_prob, dangling,
                                                   push.rounds, push.threshold, hubs)
            tallies = [_kept_tally(kept)]
            settle([_start_walkers(parked_flow, p, n, tallies)], tallies, whole)
            pushing.append(Flow.start(np.setdiff1d(chunk, whole)))  # (their flow left: pushed round by round)
        walkers, tallies = [], []
        if push.rounds:
            flows = pushing + ([flow_of(flowing)] if flowing is not None else [])
            kept, moved, stopped = push_round(Flow.concat(flows), graph, lo, hi, p.restart_prob, dangling,
                                              push.rounds, push.threshold, hubs)
            tallies.append(_kept_tally(kept))
            moved = summed(moved)  # (one entry per source and vertex: a third of the rows on cnr-2000)
            out.append(flow_rows(FLOW, route(moved.pos, moved.source), moved, row_entries))
            # a source that entered at round b pushes at rounds b..b+rounds: its flow is all parked
            # by then, and due at its shard the round after, whatever its entries did
            due = round_index + push.rounds - stopped.step + 1
            for when in np.unique(due):
                at = stopped.take(due == when)
                out.append(flow_rows(PARKED, route(at.source, at.source), at, row_entries, int(when)))
        if parked is not None:  # the whole parked flow of sources of this shard whose push is over
            walkers.append(_start_walkers(flow_of(parked), p, n, tallies))
        if moving is not None:
            walkers.append(Walkers(flat(moving, "source"), flat(moving, "key").view(np.uint64),
                                   flat(moving, "step"), flat(moving, "pos")))
        settle(walkers, tallies, np.empty(0, np.int64))
        return pa.concat_tables(out)

    return walk


def _kept_tally(kept: Flow) -> Tally:
    return Tally(kept.source, kept.pos, *np.zeros((2, len(kept)), np.int64), kept.amount)


def _start_walkers(parked: Flow, params: PPRParams, n: int, tallies: list[Tally]) -> Walkers:
    """The walkers of sources whose push is over, from their whole ``parked`` flow (the residual),
    as the broadcast kernel starts them; their residual mass, which sets their walkers' scale,
    joins ``tallies`` (:func:`~sparkgraph.udfs.shard_walks.mass_target`)."""
    sources, residual, mass = residual_matrix(parked)
    tallies.append(Tally(sources, np.full(len(sources), mass_target(n)), *np.zeros((2, len(sources)), np.int64), mass))
    return spawn_from_residual(sources, residual, params.walks_per_source, params.seed)


def _shard_graph(shard_rows: pa.Table, lo: int, hi: int) -> tuple[WalkGraph, dict]:
    """A shard's rows as a :class:`~sparkgraph.udfs.walks.WalkGraph` (its chunks in row order; rows
    no chunk holds are empty) and the hub blocks it holds, ``{block: (columns, sums from zero or
    None)}`` (:func:`shard_table`)."""
    block, first = shard_rows.column("block").to_pylist(), shard_rows.column("first").to_pylist()
    counts = np.zeros(hi - lo, np.int64)
    cols, values, held = [], [], {}
    for i in sorted(range(len(block)), key=lambda i: -1 if first[i] is None else first[i]):
        chunk_counts, chunk_cols, chunk_values = decode_chunk(shard_rows.column("payload")[i].as_buffer())
        if block[i] is None:
            counts[first[i] - lo:first[i] - lo + len(chunk_counts)] = chunk_counts
            cols.append(chunk_cols)
            values.append(chunk_values)
        else:
            held[block[i]] = (chunk_cols.astype(np.int64),
                              None if chunk_values is None else np.cumsum(chunk_values))
    weights = np.concatenate(values) if values and values[0] is not None else None
    graph = walk_graph(np.r_[0, np.cumsum(counts)], np.concatenate(cols, dtype=np.int64) if cols
                       else np.empty(0, np.int64), weights, push=False)
    return graph, held


def _nothing_left(carried: DataFrame, outputs: list[DataFrame], next_round: int) -> bool:
    """Whether no walker or flow is carried on and no parked flow in ``outputs`` is due at
    ``next_round`` or later (one count: sources that pushed and walked in their first task call
    leave nothing, so a run need not wait out the push rounds)."""
    parked = [o.filter((F.col("kind") == PARKED) & (F.col("due") >= next_round)).select("kind") for o in outputs]
    return union_all([carried.select("kind")] + parked).isEmpty()


def _walk_rounds(shards: DataFrame, spawn_rows, walk_of, merge_of, dealer: Dealer, push_rounds: int, tasks: int,
                 tail_rounds: int, outputs: list, merged: list, finals: list, started: float) -> list[DataFrame]:
    """Run rounds until every batch is in, its push over and no walker or flow is left (after
    ``tail_rounds`` rounds at most after the last batch: pushes and steps); returns the count pieces
    not yet merged. ``spawn_rows(lo, hi)``: the batch of the slots ``dealer`` deals;
    ``walk_of(r)``: round r's function (:func:`_walk_round`); ``merge_of(pieces)``: counts and final
    scores (:func:`merge_counts`); each merge resizes the dealer's batches from the counts held.
    ``outputs``, ``merged`` and ``finals`` are the caller's lists of checkpoints to release (updated
    here)."""
    spark = shards.sparkSession
    # parked rows wait in the round output that wrote them until they are due (push_rounds + 1
    # rounds at most): the outputs of that many rounds stay held
    window = push_rounds + 2 if push_rounds else 1
    carried, pieces, rounds, split = None, [], 0, False
    while True:
        due = [o.filter((F.col("kind") == PARKED) & (F.col("due") == rounds)).select(*WALKER_COLUMNS)
               for o in outputs[-window:]] if push_rounds else []
        incoming = ([carried] if carried is not None else []) + ([] if dealer.done else [spawn_rows(*dealer.deal())]) + due
        batches = len(dealer.history)
        job_description(spark, f"sparkgraph ppr: distributed round {rounds + 1} "
                               f"(batches in {batches} of {dealer.batches})")
        # the round's output (flow, walkers that left their shard, parked flow and counts) is
        # materialised once: flow and walkers feed the next round, parked flow the round it is due,
        # counts the next merge. While sources push, flow and walkers get a checkpoint of their own,
        # released after the next round, so the outputs held until a merge keep only counts and
        # parked flow (a round of flow from eight batches of cnr-2000's sources holds ~25M entries;
        # held for 16 rounds they filled this machine's memory)
        out = (union_all(incoming).repartition(tasks, "shard").groupBy("shard")
               .cogroup(shards.groupBy("shard")).applyInArrow(walk_of(rounds), ROUND_SCHEMA))
        previous = carried if split else None  # the last round's own checkpoint of flow and walkers
        # (once every push is over, walkers only: one checkpoint; parked rows may be due until then)
        split = push_rounds > 0 and rounds <= batches + push_rounds
        if split:
            out = out.persist(StorageLevel.MEMORY_AND_DISK)
            carried = truncate_lineage(out.filter(F.col("kind").isin(*CARRIED)).select(*WALKER_COLUMNS))
            held = truncate_lineage(out.filter(~F.col("kind").isin(*CARRIED)))
            out.unpersist()
            outputs.extend([carried, held])
        else:
            held = truncate_lineage(out)
            outputs.append(held)
            carried = held.filter(F.col("kind").isin(*CARRIED)).select(*WALKER_COLUMNS)
        if previous is not None:
            release(previous)
            outputs[:] = [o for o in outputs if o is not previous]
        pieces.append(held.filter(F.col("kind") == COUNTS).select(*COUNT_COLUMNS, "score"))
        rounds += 1
        last_round = dealer.batches + tail_rounds
        progress.advance("rounds (batches + push + the longest walk, at most)", rounds, last_round)
        if dealer.done and _nothing_left(carried, outputs[-window:] if push_rounds else [], rounds):
            log.info("distributed ppr: %d rounds (%.1fs)", rounds, time.perf_counter() - started)
            return pieces
        if len(pieces) == MERGE_EVERY:
            measured = "not measured (the batches cannot grow)"
            if not dealer.done and dealer.by_work > dealer.planned:
                # the counts held, and the flow still pushing or parked (not in the plan's estimate)
                job_description(spark, f"sparkgraph ppr: counts held after round {rounds}")
                flow = [o.filter(F.col("kind").isin(FLOW, PARKED)).select("source") for o in outputs] \
                    if push_rounds else []
                entries = (union_all([frame.select("source") for frame in merged + pieces] + flow)
                           .agg(F.sum(F.size("source")).alias("entries")).first()["entries"] or 0)
                dealer.resize(entries * COUNT_ENTRY_BYTES)
                measured = f"{entries} entries held"
            compacted, final = merge_of(merged + pieces)
            finals.append(final)
            keep = outputs[-(window + 1):] if push_rounds else outputs[-1:]  # (with push: the carried frame too)
            for frame in merged + [o for o in outputs if not any(o is k for k in keep)]:
                release(frame)
            outputs[:] = keep
            merged[:] = [compacted]
            pieces = []
            log.info("distributed ppr: %d rounds, counts merged (%s), %d scores of finished sources "
                     "final, %d batches (%.0f sources each from now on) (%.1fs)", rounds, measured, final.count(),
                     dealer.batches, dealer.per_batch, time.perf_counter() - started)
        if rounds > last_round:
            raise RuntimeError("distributed ppr: walkers outlived max_steps; this is a bug")


def distributed_scores(graph: Graph, ids: DataFrame, params: PPRParams, dangling: str | None = None,
                       top_k: int | None = None) -> DataFrame:
    """Estimated PPR entries ``(source, target, score)`` (dense ids) by walks over the sharded graph.

    Args:
        graph: The graph.
        ids: Dense source ids ``(id)``.
        params: Walk parameters (α, ω, estimator, dangling, walks_per_batch, shard_max_bytes, max_steps, seed,
            push_rounds).
        dangling: The walk's dangling policy when not ``params.dangling`` (``discard``: the walk
            index's walks, whose jump share is target -1).
        top_k: Keep each source's ``top_k`` highest targets (ties: smaller id); None keeps all.

    Returns:
        The entries (push-then-walk by :class:`ShardPush`; without push equal to the broadcast
        strategy's, module docstring); cached with a short lineage.

    Example:
        >>> distributed_scores(graph, graph.vertices.select("id"), PPRParams(), top_k=10).count()
    """
    dangling = dangling or params.dangling
    spark = graph.spark
    started = time.perf_counter()
    n, omega = graph.n, params.walks_per_source
    job_description(spark, "sparkgraph ppr: shard the graph")
    row_entries, block_arcs = ROW_ENTRIES, hubs_module.HUB_ARCS  # read here: the tasks get them from the driver
    sources = ids.select(F.col("id").cast("long").alias("id")).persist(StorageLevel.MEMORY_AND_DISK)
    num_sources = sources.count()
    hubs = find_hubs(graph, block_arcs)
    bounds = shard_bounds(graph, params.shard_max_bytes, hubs)
    replicas = math.ceil(work_tasks(spark, num_sources * omega, params.walks_per_batch) / (len(bounds) - 1))
    layout = Layout(bounds, shard_routes(spark, (len(bounds) - 1) * replicas), replicas)
    tasks = len(layout.routes)
    hubs, blocks = hub_blocks(graph, hubs, layout.shards)
    shards = shard_table(graph, layout, hubs, blocks)
    shards.count()
    if blocks is not None:
        release(blocks)
    push = ShardPush.of(params, dangling, memory_shards(graph, params.shard_max_bytes))
    by_work = max(1, math.ceil(num_sources * omega / (params.walks_per_batch * tasks)))
    by_counts, counts_buckets = 1, 1  # over one shard every source is scored in its first task call: no counts held
    source_bytes = COUNT_ENTRY_BYTES * entries_per_source(omega, params.restart_prob, params.estimator)
    in_flight = MERGE_EVERY + rounds_in_flight(omega, params.restart_prob, params.max_steps, push.rounds, len(hubs) > 0)
    if layout.shards > 1:
        by_counts = count_batches(num_sources, source_bytes, in_flight, tasks * params.counts_max_bytes)
        counts_buckets = count_buckets(num_sources, max(by_work, by_counts), source_bytes, in_flight)
    batches = max(by_work, by_counts)
    buckets = max(4 * parallelism(spark), batches, counts_buckets)
    dealer = Dealer(num_sources, num_sources / batches, num_sources / by_work, in_flight, source_bytes)
    log.info("distributed ppr: %d sources in %d batches, %d shards, %d replicas, %d count buckets (batches by the "
             "walks per batch: %d, by the counts held, counts_max_bytes: %d; resized at merges by the counts "
             "measured held)", num_sources, batches, layout.shards, replicas, buckets, by_work, by_counts)

    def spawn_rows(lo: int, hi: int) -> DataFrame:
        def rows(arrow_batches):
            for b in arrow_batches:
                source = b.column("id").to_numpy()
                route = layout.route(source, source)
                yield from grouped_rows(SPAWN, route, {"source": source}, row_entries).select(WALKER_COLUMNS).to_batches()

        slot = F.pmod(F.xxhash64("id"), F.lit(SLOTS))
        chosen = sources.filter((slot >= F.lit(lo)) & (slot < F.lit(hi)))
        return chosen.mapInArrow(rows, WALKER_SCHEMA)

    def walk_of(round_index: int):
        return _walk_round(layout, params, dangling, n, buckets, row_entries, push, hubs, finish, round_index)

    def finish(tally: Tally) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores from the whole counts of some sources (the jump share's target: -1)."""
        source, target, score = tally_scores(tally, omega, params.restart_prob, n, top_k)
        return source, np.where(target == n, -1, target), score

    def trim(tally: Tally) -> Tally:
        """Counts of sources still walking as they travel on (:data:`PPRParams.count_top`)."""
        return tally if params.count_top is None else top_counts(tally, params.count_top, params.restart_prob, n)

    def merge_of(pieces: list[DataFrame]) -> tuple[DataFrame, DataFrame]:
        return merge_counts(pieces, buckets, n, row_entries, omega, finish, trim)

    outputs: list[DataFrame] = []  # every round's checkpoint still held; released at the end, or on failure
    merged: list[DataFrame] = []  # the counts merged so far
    finals: list[DataFrame] = []  # the scores of sources whose walkers had all stopped at a merge
    try:
        # a step from a split hub crosses twice: to the block's shard, then on
        hops = params.max_steps * (2 if len(hubs) else 1)
        tail_rounds = (push.rounds + 2 if push.rounds else 0) + hops + 1
        pieces = _walk_rounds(shards, spawn_rows, walk_of, merge_of, dealer, push.rounds, tasks, tail_rounds,
                              outputs, merged, finals, started)

        def scores(table: pa.Table) -> pa.Table:
            scored, table = scored_and_counts(table)
            source, target, score = finish(merge_tallies([tally_of(table)], n))
            return pa.table({"source": np.r_[source, flat(scored, "source")], "target": np.r_[target, flat(scored, "pos")],
                             "score": np.r_[score, flat(scored, "score")]})

        job_description(spark, "sparkgraph ppr: scores from the counts")
        last = union_all(merged + pieces).groupBy("shard").applyInArrow(scores, SCORES_SCHEMA)
        result = truncate_lineage(union_all(finals + [last]))
    finally:
        for frame in outputs + merged + finals:
            release(frame)
        shards.unpersist()
        sources.unpersist()
        job_description(spark, None)
    log.info("distributed ppr: done in %.1fs", time.perf_counter() - started)
    return result
