"""How good an embedding is: node classification and link prediction, with the papers' protocols.

* **Node classification** (DeepWalk / FastRP protocol): one-vs-rest logistic regression on a
  random ``train_fraction`` of the labelled vertices, scored on the rest; a multi-label test
  vertex gets its ``|y|`` best-scored labels. Micro- and macro-F1, mean and standard deviation
  over ``repeats`` seeded shuffles. Embedding columns are standardised first (zero mean, unit
  variance over all vertices), as the FastRP reference code does before its classifier, and
  the regularisation ``C`` is exposed (the FastRP reference notebook uses 0.1; scikit-learn's
  default is 1.0).
* **Link prediction**: :func:`split_edges` holds out a share of the edges (the embedding is then
  computed on the rest) and samples as many non-edges; :func:`link_prediction` scores held-out
  pairs by cosine similarity, and by a logistic regression on Hadamard (element-wise product)
  features trained on the remaining edges against other sampled non-edges; the AUC of each.

Embeddings reach the driver (``n x d`` floats) only through :func:`collect_embedding`, which
checks the size first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame

from sparkgraph import metrics
from sparkgraph.errors import GraphTooLargeError, InputError
from sparkgraph.local.graph import LocalGraph


def collect_embedding(embedding: DataFrame, names: np.ndarray, max_bytes: int = 2 * 1024**3) -> np.ndarray:
    """An ``(id, embedding)`` DataFrame as an ``n x d`` float32 array in the order of ``names``.

    Raises:
        GraphTooLargeError: The array would take more than ``max_bytes`` on the driver.
    """
    first = embedding.select("embedding").first()
    d = len(first[0]) if first else 0
    if len(names) * d * 4 > max_bytes:
        raise GraphTooLargeError(f"collecting {len(names)} x {d} embeddings needs {len(names) * d * 4 / 2**30:.1f} "
                                 f"GiB on the driver, over {max_bytes / 2**30:.1f} GiB; evaluate a sample instead")
    frame = embedding.toPandas()
    order = pd.Index(names).get_indexer(frame["id"].to_numpy())
    if (order < 0).any():
        raise InputError("the embedding has ids that are not in the graph; embed the same graph you evaluate on")
    out = np.zeros((len(names), d), dtype=np.float32)
    out[order] = np.vstack(frame["embedding"].to_numpy())
    return out


def label_matrix(labels: pd.DataFrame, names: np.ndarray) -> np.ndarray:
    """``n x c`` 0/1 indicators from ``(node, label)`` rows (several rows per node when multi-label)."""
    position = pd.Index(names).get_indexer(labels.iloc[:, 0].to_numpy())
    keep = position >= 0
    classes, column = np.unique(labels.iloc[:, 1].to_numpy()[keep], return_inverse=True)
    y = np.zeros((len(names), len(classes)), dtype=np.int8)
    y[position[keep], column] = 1
    return y


def node_classification(embedding: np.ndarray, labels: np.ndarray, train_fraction: float = 0.1, repeats: int = 5,
                        C: float = 1.0, standardize: bool = True, seed: int = 0) -> dict[str, float]:
    """Micro/macro-F1 of one-vs-rest logistic regression (see the module docstring).

    Args:
        embedding: ``n x d``.
        labels: ``n x c`` indicators (vertices without any label are left out) or n class ids.
        train_fraction: Share of labelled vertices used for training.
        repeats: Seeded shuffles averaged.
        C: Inverse regularisation strength of the logistic regression.
        standardize: Scale columns to zero mean and unit variance first.
        seed: First shuffle seed.

    Returns:
        ``{"micro_f1", "macro_f1", "micro_f1_std", "macro_f1_std"}``.

    Example:
        >>> scores = node_classification(emb, label_matrix(load_labels("cora"), local.names), C=0.1)
    """
    x = np.asarray(embedding, dtype=np.float64)
    y = np.asarray(labels)
    if y.ndim == 2:
        labelled = y.sum(axis=1) > 0
        x, y = x[labelled], y[labelled]
    if standardize:
        x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    runs = np.array([metrics.node_classification_f1(x, y, train_fraction, seed + r, C=C) for r in range(repeats)])
    return {"micro_f1": float(runs[:, 0].mean()), "macro_f1": float(runs[:, 1].mean()),
            "micro_f1_std": float(runs[:, 0].std()), "macro_f1_std": float(runs[:, 1].std())}


def split_edges(graph: LocalGraph, held_out: float = 0.1, seed: int = 0
                ) -> tuple[LocalGraph, np.ndarray, np.ndarray]:
    """Hold out a share of an undirected graph's edges for link prediction.

    Returns:
        ``(remaining graph, held-out edges (k, 2), sampled non-edges (k, 2))`` over dense ids;
        the remaining graph keeps every vertex (some may lose all their edges).
    """
    upper = sp.triu(graph.adjacency, k=1).tocoo()
    rng = np.random.default_rng(seed)
    order = rng.permutation(upper.nnz)
    cut = max(1, int(held_out * upper.nnz))
    test, train = order[:cut], order[cut:]
    kept = sp.coo_matrix((upper.data[train], (upper.row[train], upper.col[train])), shape=graph.adjacency.shape)
    remaining = LocalGraph((kept + kept.T).tocsr(), graph.names, graph.directed, graph.weighted)
    positive = np.column_stack([upper.row[test], upper.col[test]])
    return remaining, positive, sample_non_edges(graph, len(positive), rng)


def sample_non_edges(graph: LocalGraph, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct vertex pairs that are not edges of ``graph`` (uniformly sampled)."""
    found: set[tuple[int, int]] = set()
    adjacency = graph.adjacency.tocsr()
    while len(found) < count:
        pairs = rng.integers(0, graph.n, size=(2 * (count - len(found)) + 16, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        linked = np.asarray(adjacency[pairs[:, 0], pairs[:, 1]]).ravel() != 0
        for u, v in pairs[~linked]:
            found.add((int(min(u, v)), int(max(u, v))))
            if len(found) == count:
                break
    return np.array(sorted(found))


def link_prediction(embedding: np.ndarray, train_graph: LocalGraph, positive: np.ndarray, negative: np.ndarray,
                    C: float = 1.0, seed: int = 0) -> dict[str, float]:
    """AUC of held-out edges against non-edges, by cosine similarity and by Hadamard features.

    Args:
        embedding: ``n x d``, computed on ``train_graph`` (not on the held-out edges).
        train_graph: The graph without the held-out edges (its edges train the Hadamard classifier).
        positive, negative: Held-out edges and non-edges ``(k, 2)`` (from :func:`split_edges`).
        C: Regularisation of the Hadamard classifier.
        seed: Sampling seed of its training non-edges.

    Returns:
        ``{"auc_cosine", "auc_hadamard"}``.
    """
    from sklearn.linear_model import LogisticRegression

    unit = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
    result = {"auc_cosine": metrics.link_prediction_auc(unit, positive, negative)}
    rng = np.random.default_rng(seed + 1)
    upper = sp.triu(train_graph.adjacency, k=1).tocoo()
    take = rng.choice(upper.nnz, size=min(upper.nnz, 20 * len(positive)), replace=False)
    train_pos = np.column_stack([upper.row[take], upper.col[take]])
    train_neg = sample_non_edges(train_graph, len(train_pos), rng)
    features = np.vstack([unit[train_pos[:, 0]] * unit[train_pos[:, 1]], unit[train_neg[:, 0]] * unit[train_neg[:, 1]]])
    target = np.r_[np.ones(len(train_pos)), np.zeros(len(train_neg))]
    model = LogisticRegression(C=C, max_iter=1000).fit(features, target)
    pos = model.decision_function(unit[positive[:, 0]] * unit[positive[:, 1]])
    neg = model.decision_function(unit[negative[:, 0]] * unit[negative[:, 1]])
    result["auc_hadamard"] = metrics.auc(pos, neg)
    return result
