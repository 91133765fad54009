"""Matrices shipped to every task as chunks (no broadcast variables): the task sees the exact matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sparkgraph.shipping import map_with_matrices, ship_matrix
from sparkgraph.udfs.packing import assemble_csr, encode_chunk


def random_matrix(n_rows: int, n_cols: int, density: float, seed: int) -> sp.csr_matrix:
    matrix = sp.random(n_rows, n_cols, density=density, format="csr", random_state=seed)
    matrix[n_rows // 3:n_rows // 2] = 0  # a run of empty rows: whole chunks without entries
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def test_chunks_round_trip_in_numpy():
    matrix = random_matrix(50, 70, 0.1, seed=1)
    coo = matrix.tocoo()
    rows_per_chunk = 8
    shuffled = np.random.default_rng(0).permutation(matrix.nnz)  # entries may arrive in any order
    r, c, v = coo.row[shuffled].astype(np.int64), coo.col[shuffled].astype(np.int64), coo.data[shuffled]
    payloads = {}
    for chunk in range(7):
        lo, hi = chunk * rows_per_chunk, min((chunk + 1) * rows_per_chunk, 50)
        inside = (r >= lo) & (r < hi)
        if inside.any():  # chunks without entries are simply absent
            payloads[chunk] = encode_chunk(r[inside], c[inside], v[inside], lo, hi)
    indptr, cols, values = assemble_csr(50, rows_per_chunk, payloads)
    assert np.array_equal(indptr, matrix.indptr) and np.array_equal(cols, matrix.indices)
    assert np.array_equal(values, matrix.data)  # float64 kept exactly
    indptr, cols, values = assemble_csr(50, rows_per_chunk, {k: encode_chunk(r[(r >= k * 8) & (r < k * 8 + 8)],
                                        c[(r >= k * 8) & (r < k * 8 + 8)], None, k * 8, min(k * 8 + 8, 50))
                                        for k in range(7)})
    assert values is None and np.array_equal(cols, matrix.indices)


@pytest.mark.connect
def test_every_task_gets_the_whole_matrix(spark):
    first, second = random_matrix(300, 300, 0.05, seed=2), random_matrix(300, 301, 0.02, seed=3)
    shipped = []
    for name, matrix, dtype in (("first", first, "float64"), ("second", second, "float32")):
        coo = matrix.tocoo()
        entries = spark.createDataFrame(pd.DataFrame({"row": coo.row.astype(np.int64), "col": coo.col.astype(np.int64),
                                                      "value": coo.data}))
        shipped.append(ship_matrix(entries, name, matrix.shape[0], matrix.shape[1], matrix.nnz, value_dtype=dtype,
                                   entries_per_chunk=500))  # many small chunks, some empty
    assert shipped[0].num_chunks > 5

    def build(matrices):
        return {name: sp.csr_matrix((values, cols, indptr), shape=(300, 300 if name == "first" else 301))
                for name, (indptr, cols, values) in matrices.items()}

    def answer(items, built):
        yield pd.DataFrame({"item": items, "first": np.asarray(built["first"][items].sum(axis=1)).ravel(),
                            "second": np.asarray(built["second"][items].sum(axis=1)).ravel()})

    work = spark.range(300).withColumnRenamed("id", "item")
    got = (map_with_matrices(work, "item", shipped, 7, build, answer, "item long, first double, second double")
           .toPandas().sort_values("item"))
    assert got["item"].tolist() == list(range(300))  # every item answered once, by one of 7 tasks
    assert np.allclose(got["first"], np.asarray(first.sum(axis=1)).ravel(), rtol=1e-12)
    assert np.allclose(got["second"], np.asarray(second.sum(axis=1)).ravel(), rtol=1e-6)  # stored as float32
