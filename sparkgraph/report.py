"""A short Markdown report with a degree-distribution plot, written beside a job's results."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd


def new_figure(width: float = 6, height: float = 4):
    """``(fig, ax)`` of a matplotlib figure drawn off-screen (the Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def figure_png(fig, title: str) -> bytes:
    """The figure, titled, as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    fig.axes[0].set_title(title)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def degree_plot_png(distribution: pd.DataFrame, title: str) -> bytes:
    """Log-log plot of ``(direction, degree, vertices)`` as PNG bytes.

    Degree 0 has no place on a log axis: those vertices are left out and counted in the legend.
    """
    fig, ax = new_figure()
    for direction, part in distribution.groupby("direction"):
        zero = int(part.loc[part["degree"] == 0, "vertices"].sum())
        part = part[part["degree"] > 0].sort_values("degree")
        note = f" ({zero} with degree 0 not shown)" if zero else ""
        ax.loglog(part["degree"], part["vertices"], "o", markersize=3, label=f"{direction}-degree{note}")
    ax.set_xlabel("degree")
    ax.set_ylabel("vertices")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return figure_png(fig, title)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pipeline_report(label: str, facts: dict[str, Any], stages: list[dict[str, Any]], plot_file: str,
                    sections: list[str]) -> str:
    """The pipeline's report: graph facts, the degree plot, one section per stage, timings."""
    parts = [f"# sparkgraph pipeline report: {label}\n", "## Graph\n",
             markdown_table([{"fact": k, "value": v} for k, v in facts.items()]),
             f"\n![degree distribution]({plot_file})\n"]
    parts.extend(sections)
    parts.append("\n## Stages\n")
    parts.append(markdown_table(stages))
    return "\n".join(parts)
