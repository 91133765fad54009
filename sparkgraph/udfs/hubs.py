"""Hub rows cut into blocks: how a walker at a vertex of huge out-degree picks its arc in two steps
(numpy only).

A row of more than :data:`HUB_ARCS` arcs is cut, in column order, into blocks of ``HUB_ARCS`` arcs
(the last one shorter). Its weights are summed **block by block**: within a block from zero, and
the block's sums then offset by the running total of the blocks before it (``C[k-1]``, where
``C = np.cumsum`` of the block totals). A walker that draws the point ``x = u · total`` of the row
takes the first arc whose offset sum exceeds ``x`` (unweighted: arc ``floor(u · degree)``).

Every strategy samples rows this way (:func:`~sparkgraph.udfs.walks.row_cumweights`; a row of at
most ``HUB_ARCS`` arcs is one block, summed from zero, as before), and the blocks let the
distributed strategy hold a hub's arcs in several shards: the hub's own shard knows only the block
totals (:class:`Hubs`), picks the block (:meth:`Hubs.choose_blocks`) and sends the walker there,
where the block's arcs finish the choice (:meth:`Hubs.resolve`) with the same floating-point
operations: the same arc, bit for bit, whatever the shards.

Example:
    >>> hubs = Hubs.of(np.array([7]), np.array([5]), block_arcs=2)          # unweighted: blocks 2, 2, 1
    >>> g = hubs.choose_blocks(np.array([0, 0]), np.array([0.1, 0.9]))      # arcs 0 and 4
    >>> g.tolist(), hubs.resolve(g, np.array([0.1, 0.9]), {0: (np.array([3, 4]), None),
    ...                                                    2: (np.array([9]), None)}).tolist()
    ([0, 2], [3, 9])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# arcs per block of a hub's row: 8 MiB of columns (32 MiB weighted with their sums), an eighth of a
# shard's walk graph at the default ``PPRParams.shard_max_bytes``; read by the driver, which
# hands it to the tasks
HUB_ARCS = 1 << 20


def block_cumsums(indptr: np.ndarray, weights: np.ndarray, block_arcs: int) -> np.ndarray:
    """Per-arc running sums of ``weights``, every row of a CSR matrix from zero on its own, a row of
    more than ``block_arcs`` arcs block by block (module docstring).

    Example:
        >>> block_cumsums(np.array([0, 3]), np.array([1.0, 2.0, 4.0]), 2).tolist()
        [1.0, 3.0, 7.0]
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    degree = np.diff(indptr)
    pieces = np.maximum(1, -(-degree // block_arcs))
    row = np.repeat(np.arange(len(degree)), pieces)
    k = np.arange(len(row)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    start = indptr[row] + k * block_arcs
    length = np.minimum(block_arcs, indptr[row + 1] - start)
    sums = np.empty(len(weights))
    order = np.argsort(length, kind="stable")  # segments of equal length are summed together
    for group in np.split(order, np.flatnonzero(np.diff(length[order])) + 1):
        d = length[group[0]] if len(group) else 0
        if d > 0:
            arcs = start[group][:, None] + np.arange(d)
            sums[arcs] = np.cumsum(weights[arcs], axis=1)
    for r in np.flatnonzero(pieces > 1):  # hubs: few, their blocks offset by the blocks before them
        first = np.searchsorted(row, r)
        ends = start[first:first + pieces[r]] + length[first:first + pieces[r]]
        offsets = np.cumsum(sums[ends - 1])
        for j in range(1, pieces[r]):
            sums[ends[j - 1]:ends[j]] = offsets[j - 1] + sums[ends[j - 1]:ends[j]]
    return sums


@dataclass(frozen=True)
class Hubs:
    """The rows split into blocks (more than ``block_arcs`` arcs), numbered globally: hub ``i``'s
    blocks are ``first[i] .. first[i+1]-1``, in column order.

    Attributes:
        vertex: The hubs' ids, ascending.
        degree: Their out-degrees.
        first: ``first[i]``: hub ``i``'s first block (one entry more than the hubs).
        running: Weighted: per block, the running total of its hub's block totals up to it
            (``C[k]``, module docstring); None when unweighted.
        block_arcs: Arcs per block.
    """

    vertex: np.ndarray
    degree: np.ndarray
    first: np.ndarray
    running: np.ndarray | None
    block_arcs: int

    @staticmethod
    def of(vertex: np.ndarray, degree: np.ndarray, block_arcs: int, totals: np.ndarray | None = None) -> Hubs:
        """The hubs ``vertex`` (ascending) of out-degrees ``degree`` (each over ``block_arcs``), and
        weighted, ``totals``: every block's sum of weights (its last running sum, in block order)."""
        degree = np.asarray(degree, dtype=np.int64)
        first = np.r_[0, np.cumsum(-(-degree // block_arcs))].astype(np.int64)
        running = None
        if totals is not None:
            totals = np.asarray(totals, dtype=np.float64)
            running = np.concatenate([np.cumsum(totals[a:b]) for a, b in zip(first[:-1], first[1:], strict=True)]
                                     or [np.empty(0)])
        return Hubs(np.asarray(vertex, dtype=np.int64), degree, first, running, int(block_arcs))

    @staticmethod
    def none(block_arcs: int = HUB_ARCS) -> Hubs:
        return Hubs.of(np.empty(0, np.int64), np.empty(0, np.int64), block_arcs)

    @property
    def blocks(self) -> int:
        return int(self.first[-1])

    def __len__(self) -> int:
        return len(self.vertex)

    def of_block(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(hub index, k)``: whose block ``block`` is and its place in the hub's row."""
        hub = np.searchsorted(self.first, block, side="right") - 1
        return hub, block - self.first[hub]

    def index(self, vertices: np.ndarray) -> np.ndarray:
        """Each vertex's hub index, -1 for a vertex that is not a hub."""
        at = np.minimum(np.searchsorted(self.vertex, vertices), max(len(self.vertex) - 1, 0))
        found = (self.vertex[at] == vertices) if len(self.vertex) else np.zeros(len(vertices), bool)
        return np.where(found, at, -1)

    def in_shard(self, lo: int, hi: int, degree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(degree, hub)`` of the shard ``[lo, hi)`` whose rows have out-degrees ``degree`` (a
        hub's row empty: its arcs are in blocks): the out-degrees with the hubs' whole ones, and
        each vertex's hub index (-1: not a hub)."""
        a, b = np.searchsorted(self.vertex, [lo, hi])
        degree, hub = degree.copy(), np.full(hi - lo, -1, dtype=np.int64)
        degree[self.vertex[a:b] - lo] = self.degree[a:b]
        hub[self.vertex[a:b] - lo] = np.arange(a, b)
        return degree, hub

    def _point(self, hub: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """Weighted: the point ``u · total`` of the hub's row a walker drew (total: its last running sum)."""
        return uniform * self.running[self.first[hub + 1] - 1]

    def choose_blocks(self, hub: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """The block (global number) holding the arc each walker at hub ``hub`` (indices) takes with
        its uniform: unweighted, arc ``floor(u · degree)``'s; weighted, the first block whose running
        total exceeds ``u · total`` (the last block when rounding puts the point at the end)."""
        if self.running is None:
            arc = np.minimum((uniform * self.degree[hub]).astype(np.int64), self.degree[hub] - 1)
            return self.first[hub] + arc // self.block_arcs
        keys = np.empty(self.blocks, dtype=np.complex128)  # (hub, running total): one search for all hubs
        keys.real = np.repeat(np.arange(len(self)), np.diff(self.first))
        keys.imag = self.running
        point = np.empty(len(hub), dtype=np.complex128)
        point.real = hub
        point.imag = self._point(hub, uniform)
        return np.minimum(np.searchsorted(keys, point, side="right"), self.first[hub + 1] - 1)

    def resolve(self, block: np.ndarray, uniform: np.ndarray, held: dict[int, tuple[np.ndarray, np.ndarray | None]]
                ) -> np.ndarray:
        """The arc's head for each walker sent to ``block`` (global numbers) with its ``uniform``,
        from the blocks ``held`` here: ``{block: (columns, sums from zero within the block, or None
        unweighted)}``."""
        out = np.empty(len(block), dtype=np.int64)
        hub, k = self.of_block(block)
        for b in np.unique(block):
            at = block == b
            columns, sums = held[int(b)]
            h, u = hub[at], uniform[at]
            if self.running is None:
                arc = np.minimum((u * self.degree[h]).astype(np.int64), self.degree[h] - 1) - k[at] * self.block_arcs
            else:
                offsets = sums if k[at][0] == 0 else self.running[b - 1] + sums  # as block_cumsums sums them
                arc = np.searchsorted(offsets, self._point(h, u), side="right")
            out[at] = columns[np.minimum(arc, len(columns) - 1)]
        return out
