"""The rows a distributed walk round reads and writes, and the merge of counts rows per source bucket.

The distributed strategy (:mod:`sparkgraph.ppr.distributed`) moves everything between rounds as rows
of one schema: a row holds, for one destination (a shard, or a source bucket for counts), list columns
of at most ``row_entries`` entries (walkers, flow, counts or final scores), so the JVM shuffles and
spills a few MiB per row instead of a row per walker. This module packs numpy arrays into such rows
(:func:`grouped_rows` and its named forms), reads them back (:func:`flat`, :func:`tally_of`,
:func:`flow_of`) and merges count pieces per bucket (:func:`merge_counts`), turning the counts of
sources whose walkers have all stopped into scores.

    >>> import numpy as np
    >>> rows = grouped_rows(COUNTS, np.array([1, 0, 1]), {"source": np.array([5, 4, 7])}, row_entries=1)
    >>> rows.column("shard").to_pylist(), flat(rows, "source").tolist()
    ([0, 1, 1], [4, 5, 7])
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkgraph.graph import union_all
from sparkgraph.session import truncate_lineage
from sparkgraph.udfs.shard_push import Flow
from sparkgraph.udfs.shard_walks import Tally, Walkers, complete_sources, merge_tallies

# kinds of rows a round reads and writes: new sources; walkers; counts; flow still pushing; parked
# flow, bound for its source's shard, due there (``due``) the round after the source's push is over
SPAWN, WALKING, COUNTS, FLOW, PARKED = 2, 0, 1, 3, 4
CARRIED = (WALKING, FLOW)  # the kinds that go on to the next round (parked rows wait for theirs)

LIST_COLUMNS = ("source", "key", "step", "pos", "flow", "visits", "ends")  # in the schemas' order
WALKER_COLUMNS = ["kind", "shard", "due", "source", "key", "step", "pos", "flow"]  # spawn rows hold only sources
COUNT_COLUMNS = ["shard", "source", "pos", "visits", "ends", "flow"]  # shard: the sources' bucket; pos: the targets
WALKER_SCHEMA = ("kind int, shard int, due int, source array<long>, key array<long>, step array<long>, "
                 "pos array<long>, flow array<long>")
# counts rows may carry scores instead (``score`` not null: a source's final top k, :func:`sparkgraph.ppr.distributed._walk_round`)
ROUND_SCHEMA = WALKER_SCHEMA + ", visits array<long>, ends array<long>, score array<double>"
COUNTS_SCHEMA = ("shard int, source array<long>, pos array<long>, visits array<long>, ends array<long>, "
                 "flow array<long>")


def grouped_rows(kind: int, key: np.ndarray, columns: dict[str, np.ndarray], row_entries: int,
                 due: int | None = None) -> pa.Table:
    """Rows of the round schema: per distinct ``key`` (its ``shard`` column: a shard, or a source
    bucket for counts), rows of at most ``row_entries`` (:data:`sparkgraph.ppr.distributed.ROW_ENTRIES`) of its values in each
    given column's array (``score``: float64, the others int64); the other columns null, ``due`` too
    unless given."""
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.empty(0, bool)
    position = np.arange(len(key))
    within = position - np.maximum.accumulate(np.where(first, position, 0))
    starts = np.flatnonzero(within % row_entries == 0)
    if len(key) >= 2**31:  # list offsets are int32
        raise ValueError(f"{len(key)} entries in one Arrow table; more count buckets are needed")
    offsets = pa.array(np.r_[starts, len(key)].astype(np.int32))
    rows = len(starts)
    table = {"kind": pa.array(np.full(rows, kind, np.int32)), "shard": pa.array(key[starts].astype(np.int32)),
             "due": pa.nulls(rows, pa.int32()) if due is None else pa.array(np.full(rows, due, np.int32))}
    for name in LIST_COLUMNS:
        table[name] = (pa.ListArray.from_arrays(offsets, pa.array(columns[name][order].astype(np.int64)))
                       if name in columns else pa.nulls(rows, pa.list_(pa.int64())))
    table["score"] = (pa.ListArray.from_arrays(offsets, pa.array(columns["score"][order].astype(np.float64)))
                      if "score" in columns else pa.nulls(rows, pa.list_(pa.float64())))
    return pa.table(table)


def walker_rows(shard: np.ndarray, w: Walkers, row_entries: int) -> pa.Table:
    return grouped_rows(WALKING, shard, {"source": w.source, "key": w.key.view(np.int64), "step": w.step, "pos": w.pos},
                    row_entries)


def count_rows(tally: Tally, buckets: int, row_entries: int) -> pa.Table:
    """Counts as rows per source bucket (``source mod buckets``); ``pos`` holds the targets."""
    return grouped_rows(COUNTS, tally.source % buckets,
                    {"source": tally.source, "pos": tally.target, "visits": tally.visits, "ends": tally.ends,
                     "flow": tally.flow}, row_entries)


def score_rows(scores: tuple[np.ndarray, np.ndarray, np.ndarray], buckets: int, row_entries: int) -> pa.Table:
    """Final scores ``(source, target, score)`` as counts rows per source bucket, ``score`` not null."""
    source, target, score = scores
    return grouped_rows(COUNTS, source % buckets, {"source": source, "pos": target, "score": score}, row_entries)


def flow_rows(kind: int, route: np.ndarray, flow: Flow, row_entries: int, due: int | None = None) -> pa.Table:
    return grouped_rows(kind, route, {"source": flow.source, "pos": flow.pos, "flow": flow.amount, "step": flow.step},
                    row_entries, due)


def flow_of(table: pa.Table) -> Flow:
    return Flow(flat(table, "source"), flat(table, "pos"), flat(table, "flow"), flat(table, "step"))


def flat(table: pa.Table, column: str) -> np.ndarray:
    """A list column's values, chunk by chunk (one combined chunk could pass the 2³¹ offsets of a list)."""
    chunks = [chunk.flatten().to_numpy(zero_copy_only=False) for chunk in table.column(column).chunks]
    return np.concatenate(chunks) if chunks else np.empty(0, np.int64)


def tally_of(table: pa.Table) -> Tally:
    return Tally(flat(table, "source"), flat(table, "pos"), flat(table, "visits"), flat(table, "ends"),
                 flat(table, "flow"))


def merge_counts(pieces: list[DataFrame], buckets: int, n: int, row_entries: int, walks: int, finish, trim
           ) -> tuple[DataFrame, DataFrame]:
    """The count pieces merged per source bucket: ``(counts, finals)``, each with a short lineage.
    ``counts``: the merged counts of sources still walking (``trim(tally)``: with ``count_top``, each
    source's largest); ``finals``: the scores (``finish(tally)``: source, target, score, as lists per
    bucket) of sources whose ``walks`` walkers have all stopped
    (:func:`~sparkgraph.udfs.shard_walks.complete_sources`), so that their counts stop taking memory
    and no later merge reads them."""
    def merge(table: pa.Table) -> pa.Table:
        return merge_bucket(table, buckets, n, row_entries, walks, finish, trim)

    out = (union_all(pieces).groupBy("shard").applyInArrow(merge, COUNTS_SCHEMA + ", score array<double>")
           .persist(StorageLevel.MEMORY_AND_DISK))
    counts = truncate_lineage(out.filter(F.col("score").isNull()).select(*COUNT_COLUMNS, "score"))
    finals = truncate_lineage(out.filter(F.col("score").isNotNull()).select(
        F.explode(F.arrays_zip(F.col("source").alias("source"), F.col("pos").alias("target"),
                               F.col("score").alias("score"))).alias("entry")).select("entry.*"))
    out.unpersist()
    return counts, finals


def merge_bucket(table: pa.Table, buckets: int, n: int, row_entries: int, walks: int, finish, trim) -> pa.Table:
    """One source bucket's counts rows merged (:func:`merge_counts`): the summed counts of sources still
    walking, ``trim``-med; the scores of sources whose ``walks`` walkers have all stopped; the
    scores that came in, as they were."""
    scored, table = scored_and_counts(table)
    tally = merge_tallies([tally_of(table)], n)
    done = complete_sources(tally, walks, n)
    counts = count_rows(trim(tally.take(~done)), buckets, row_entries)
    scores = score_rows(finish(tally.take(done)), buckets, row_entries)
    return pa.concat_tables([t.select(COUNT_COLUMNS + ["score"]) for t in (counts, scores)] + [scored])


def scored_and_counts(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Counts rows split into those that hold final scores (:func:`score_rows`) and true counts."""
    scored = pc.is_valid(table.column("score"))
    return table.filter(scored), table.filter(pc.invert(scored))
