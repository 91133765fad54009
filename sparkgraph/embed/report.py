"""The embedding section of the pipeline's report: F1 on the labels, and a 2-D picture."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparkgraph.embed.evaluate import label_matrix, node_classification
from sparkgraph.embed.params import FastRPParams
from sparkgraph.report import figure_png, markdown_table, new_figure


def projection_png(embedding: np.ndarray, labels: np.ndarray | None, title: str) -> bytes:
    """The embedding's first two principal components as a scatter plot (PNG), coloured by each
    vertex's first label when there are labels."""
    centred = embedding - embedding.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, ax = new_figure(6, 5)
    colour = labels.argmax(axis=1) if labels is not None else None
    ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=4, cmap="tab10" if colour is not None else None, alpha=0.7)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    return figure_png(fig, title)


def embedding_section(embedding: np.ndarray, names: np.ndarray, labels: pd.DataFrame | None, params: FastRPParams,
                      plot_file: str, C: float = 0.1) -> str:
    """Markdown: the parameters, node-classification F1 at 10 % and 50 % labelled (5 shuffles) when
    there are labels, and the 2-D plot ``plot_file``."""
    lines = [f"\n## FastRP embedding (d={params.dimension}, iteration weights {list(params.iteration_weights)}, "
             f"β={params.normalization_strength}, sparsity {params.sparsity}, seed {params.seed})\n"]
    if labels is None:
        lines.append("No labels for this input: no classification score.\n")
    else:
        y = label_matrix(labels, names)
        rows = []
        for fraction in (0.1, 0.5):
            score = node_classification(embedding, y, train_fraction=fraction, repeats=5, C=C)
            rows.append({"labelled": f"{fraction:.0%}", "micro-F1": score["micro_f1"], "macro-F1": score["macro_f1"],
                         "micro-F1 std": score["micro_f1_std"]})
        lines.append(f"Node classification (one-vs-rest logistic regression, C={C}, standardised columns, "
                     "5 seeded shuffles):\n")
        lines.append(markdown_table(rows))
    lines.append(f"\n![embedding, first two principal components]({plot_file})\n")
    return "\n".join(lines)
