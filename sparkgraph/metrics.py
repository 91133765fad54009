"""Evaluation metrics, computed on the driver with numpy over result samples.

Ranking (PPR): :func:`precision_at_k`, :func:`ndcg_at_k`, :func:`l1_error` between sparse vectors
given as ``{target: score}`` dicts or dense arrays.
Communities: :func:`nmi`, :func:`ari`, :func:`f1_communities`, :func:`modularity`.
Embeddings: :func:`node_classification_f1` (needs scikit-learn: ``pip install sparkgraph[eval]``)
and :func:`link_prediction_auc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

Vector = Mapping[Any, float] | np.ndarray


def _as_dict(v: Vector) -> dict[Any, float]:
    if isinstance(v, np.ndarray):
        nz = np.flatnonzero(v)
        return dict(zip(nz.tolist(), v[nz].tolist(), strict=True))
    return dict(v)


def top_k(v: Vector, k: int) -> list[Any]:
    """The ``k`` keys with the largest values (ties broken by key, for determinism)."""
    d = _as_dict(v)
    return [key for key, _ in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def precision_at_k(estimate: Vector, exact: Vector, k: int = 10, tie_tol: float = 1e-12) -> float:
    """Share of the estimate's top k that belong to the exact top k, ties included.

    An estimated item counts when its exact score reaches the k-th largest exact score
    (within ``tie_tol``), so among tied vertices any choice is right.

    Example:
        >>> precision_at_k({1: .5, 2: .3, 3: .1}, {1: .4, 3: .35, 2: .1}, k=2)
        0.5
    """
    truth = _as_dict(exact)
    if not truth:
        return 1.0
    k = min(k, len(truth))
    threshold = sorted(truth.values(), reverse=True)[k - 1] - tie_tol
    picked = top_k(estimate, k)
    return sum(1 for key in picked if truth.get(key, 0.0) >= threshold) / k


def ndcg_at_k(estimate: Vector, exact: Vector, k: int = 10) -> float:
    """NDCG@k of the estimate's ranking, with the exact scores as graded relevance."""
    rel = _as_dict(exact)
    gains = np.array([rel.get(key, 0.0) for key in top_k(estimate, k)])
    ideal = np.array(sorted(rel.values(), reverse=True)[:k])
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    best = float((ideal * discount[: len(ideal)]).sum())
    return float((gains * discount[: len(gains)]).sum()) / best if best > 0 else 1.0


def l1_error(estimate: Vector, exact: Vector) -> float:
    """Σ |estimate - exact| over the union of both supports."""
    a, b = _as_dict(estimate), _as_dict(exact)
    return float(sum(abs(a.get(key, 0.0) - b.get(key, 0.0)) for key in set(a) | set(b)))


# ---------------------------------------------------------------------- communities
def _contingency(labels_true: np.ndarray, labels_pred: np.ndarray) -> np.ndarray:
    _, t = np.unique(np.asarray(labels_true), return_inverse=True)
    _, p = np.unique(np.asarray(labels_pred), return_inverse=True)
    table = sp.coo_matrix((np.ones(len(t)), (t, p)), shape=(t.max() + 1, p.max() + 1))
    return table.toarray()


def nmi(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Normalized mutual information (arithmetic-mean normalization, as scikit-learn's default)."""
    c = _contingency(labels_true, labels_pred)
    n = c.sum()
    pt, pp = c.sum(1) / n, c.sum(0) / n
    nz = c > 0
    pij = c[nz] / n
    mi = float((pij * np.log(pij / np.outer(pt, pp)[nz])).sum())
    ht = -float((pt[pt > 0] * np.log(pt[pt > 0])).sum())
    hp = -float((pp[pp > 0] * np.log(pp[pp > 0])).sum())
    if ht == 0 and hp == 0:
        return 1.0
    return mi / ((ht + hp) / 2) if (ht + hp) > 0 else 0.0


def ari(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Adjusted Rand index."""
    c = _contingency(labels_true, labels_pred)

    def pairs(x):
        return float((x * (x - 1) / 2).sum())

    n = c.sum()
    sum_ij, sum_a, sum_b = pairs(c), pairs(c.sum(1)), pairs(c.sum(0))
    expected = sum_a * sum_b / (n * (n - 1) / 2) if n > 1 else 0.0
    top = (sum_a + sum_b) / 2
    return 1.0 if top == expected else (sum_ij - expected) / (top - expected)


def f1_communities(found: list[set], truth: list[set]) -> float:
    """Average best-match F1 in both directions (found→truth and truth→found), halved."""
    def best_mean(a: list[set], b: list[set]) -> float:
        scores = []
        for x in a:
            best = 0.0
            for y in b:
                inter = len(x & y)
                if inter:
                    best = max(best, 2 * inter / (len(x) + len(y)))
            scores.append(best)
        return float(np.mean(scores)) if scores else 0.0

    return (best_mean(found, truth) + best_mean(truth, found)) / 2


def modularity(adjacency: sp.spmatrix, labels: np.ndarray) -> float:
    """Newman modularity Q of a partition of an undirected (symmetric) weighted graph."""
    a = sp.csr_matrix(adjacency)
    labels = np.asarray(labels)
    two_m = a.sum()
    k = np.asarray(a.sum(axis=1)).ravel()
    coo = a.tocoo()
    inside = coo.data[labels[coo.row] == labels[coo.col]].sum()
    _, comm = np.unique(labels, return_inverse=True)
    k_comm = np.bincount(comm, weights=k)
    return float(inside / two_m - (k_comm**2).sum() / two_m**2)


# ---------------------------------------------------------------------- embeddings
def node_classification_f1(embedding: np.ndarray, labels: np.ndarray, train_fraction: float = 0.1,
                            seed: int = 0, C: float = 1.0) -> tuple[float, float]:
    """Micro- and macro-F1 of one-vs-rest logistic regression trained on a fraction of nodes.

    Args:
        embedding: ``n x d`` array.
        labels: ``n x c`` 0/1 indicator matrix (multi-label) or a length-n label vector.
        train_fraction: Share of nodes used for training (10 % in the FastRP paper).
        seed: Split seed.
        C: Inverse regularisation strength of the logistic regression (the FastRP notebook uses 0.1).

    Returns:
        ``(micro_f1, macro_f1)`` on the held-out nodes; multi-label predictions keep, per
        node, as many top-scored labels as it truly has (the DeepWalk protocol).
    """
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score
        from sklearn.multiclass import OneVsRestClassifier
    except ImportError as exc:  # pragma: no cover
        raise ImportError("node_classification_f1 needs scikit-learn: pip install 'sparkgraph[eval]'") from exc
    y = np.asarray(labels)
    multi = y.ndim == 2
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(embedding))
    cut = max(1, int(train_fraction * len(order)))
    train, test = order[:cut], order[cut:]
    model = OneVsRestClassifier(LogisticRegression(C=C, max_iter=1000))
    model.fit(embedding[train], y[train])
    if multi:
        scores = model.predict_proba(embedding[test])
        pred = np.zeros_like(y[test])
        for i, count in enumerate(y[test].sum(1).astype(int)):
            pred[i, np.argsort(-scores[i])[:count]] = 1
    else:
        pred = model.predict(embedding[test])
    return (float(f1_score(y[test], pred, average="micro")), float(f1_score(y[test], pred, average="macro")))


def link_prediction_auc(embedding: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    """AUC of dot-product scores: positives ``(k, 2)`` index pairs against negatives ``(j, 2)``.

    Computed as the Mann–Whitney statistic (ties count one half).
    """
    def score(pairs):
        return np.einsum("ij,ij->i", embedding[pairs[:, 0]], embedding[pairs[:, 1]])

    return auc(score(np.asarray(positive)), score(np.asarray(negative)))


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of scores of positives against negatives (ties count one half)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    values = np.concatenate([pos, neg])
    ranks = _average_ranks(values)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values))
    _, start, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return ranks
