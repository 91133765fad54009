"""Sparse matrices cut into row-range chunks of bytes, and put back together in a task (numpy only).

A chunk holds rows ``[lo, hi)`` of a matrix in CSR form: the row lengths, the column of every
entry in row order (columns ascending inside a row) and, optionally, the values. Chunks travel
as binary cells of a DataFrame (:mod:`sparkgraph.shipping`); a task that received all of them
rebuilds the matrix once and keeps it in a per-process cache, because Spark reuses its Python
workers across tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

_HEADER = np.dtype([("rows", "<i8"), ("entries", "<i8"), ("col_bytes", "<i8"), ("value_bytes", "<i8")])


def encode_chunk(rows: np.ndarray, cols: np.ndarray, values: np.ndarray | None, lo: int, hi: int,
                 value_dtype: str = "float64") -> bytes:
    """Rows ``lo..hi-1`` of a sparse matrix, from its entries ``(rows, cols, values)``, as bytes.

    Entries may come in any order; they are sorted by row, then column. The bytes are a small
    header, then the row lengths (int32), the columns (int32 when they fit, else int64) and the
    values in ``value_dtype`` (absent when ``values`` is None): plain arrays that
    :func:`decode_chunk` reads in place, without a copy.
    """
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows - lo, minlength=hi - lo).astype("<i4")
    cols = cols.astype("<i4" if (len(cols) == 0 or cols.max() < 2**31) else "<i8")
    vals = np.asarray(values)[order].astype(np.dtype(value_dtype).newbyteorder("<")) if values is not None else None
    header = np.array([(hi - lo, len(cols), cols.itemsize, vals.itemsize if vals is not None else 0)], _HEADER)
    parts = [header.tobytes(), counts.tobytes(), cols.tobytes()] + ([vals.tobytes()] if vals is not None else [])
    return b"".join(parts)


def rows_per_chunk(n_rows: int, num_entries: int, entries_per_chunk: int) -> int:
    """Rows per chunk so that a chunk holds about ``entries_per_chunk`` entries at the average row length.

    Example:
        >>> rows_per_chunk(1000, 20_000, 4_000)
        200
    """
    return max(1, -(-n_rows * entries_per_chunk // max(num_entries, 1)))


def decode_chunk(payload) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(row lengths, columns, values or None)`` of a chunk: views into ``payload`` (any buffer)."""
    header = np.frombuffer(payload, _HEADER, count=1)[0]
    rows, entries, col_bytes, value_bytes = (int(x) for x in header)
    offset = _HEADER.itemsize
    counts = np.frombuffer(payload, "<i4", rows, offset)
    offset += 4 * rows
    cols = np.frombuffer(payload, f"<i{col_bytes}", entries, offset)
    offset += col_bytes * entries
    values = np.frombuffer(payload, f"<f{value_bytes}", entries, offset) if value_bytes else None
    return counts, cols, values


def assemble_csr(n_rows: int, rows_per_chunk: int, payloads: dict[int, Any]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(indptr int64, cols int64, values or None)`` of the whole matrix from its chunks.

    ``payloads`` maps chunk number to bytes (or any buffer) from :func:`encode_chunk`; a missing
    or None chunk has no entries.
    """
    counts, cols, values = [], [], []
    for chunk in range(-(-n_rows // rows_per_chunk) if n_rows else 0):
        width = min(rows_per_chunk, n_rows - chunk * rows_per_chunk)
        payload = payloads.get(chunk)
        if payload is None or len(payload) == 0:
            counts.append(np.zeros(width, np.int64))
            continue
        chunk_counts, chunk_cols, chunk_values = decode_chunk(payload)
        counts.append(chunk_counts)
        cols.append(chunk_cols)
        if chunk_values is not None:
            values.append(chunk_values)
    indptr = np.zeros(n_rows + 1, np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    all_cols = np.concatenate(cols).astype(np.int64) if cols else np.empty(0, np.int64)
    all_values = np.concatenate(values) if values else None
    return indptr, all_cols, all_values


_CACHE: dict[str, Any] = {}


def cached(token: str, build: Callable[[], Any]) -> Any:
    """The object built for ``token`` in this Python process (only the latest token is kept)."""
    if token not in _CACHE:
        _CACHE.clear()
        _CACHE[token] = build()
    return _CACHE[token]


def is_cached(token: str) -> bool:
    return token in _CACHE


def gather(rows: Iterable[tuple[Any, str, int, bytes | None]], expected: dict[str, int],
           keep_payloads: Callable[[], bool]) -> Iterable[tuple[Any, dict[str, dict[int, bytes | None]]]]:
    """Group streamed ``(pack, shipment, chunk, payload)`` rows into complete packs.

    Yields ``(pack, {shipment: {chunk: payload}})`` once a pack has every chunk of every
    shipment (``expected`` = number of chunks per shipment). When ``keep_payloads()`` is False
    (the matrices are already cached) payloads are counted, not kept.
    """
    total = sum(expected.values())
    pending: dict[Any, dict[str, dict[int, bytes | None]]] = {}
    seen: dict[Any, int] = {}
    for pack, shipment, chunk, payload in rows:
        parts = pending.setdefault(pack, {name: {} for name in expected})
        if keep_payloads():
            parts[shipment][int(chunk)] = payload
        seen[pack] = seen.get(pack, 0) + 1
        if seen[pack] == total:
            yield pack, pending.pop(pack)
            del seen[pack]
