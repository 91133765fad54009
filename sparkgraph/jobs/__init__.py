"""Job definitions run by ``sparkgraph run <name>`` and by the ``jobs/<name>.py`` scripts.

Each job module has a ``Config`` dataclass (sections of parameters), ``run(spark, config)``
returning a summary dict, and ``format_summary(summary)`` for the console.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

from sparkgraph.errors import ConfigError

JOB_NAMES = ("stats", "ppr", "walk_index", "ppr_query", "embed", "communities", "community_query", "kmedoids",
             "pipeline")


def _loader(name: str):
    return lambda: importlib.import_module(f"sparkgraph.jobs.{name}")


JOBS = {name: _loader(name) for name in JOB_NAMES}


def get_job(name: str) -> ModuleType:
    """The job module called ``name``; unknown names get the nearest known one."""
    if name not in JOBS:
        close = difflib.get_close_matches(name, JOB_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"jobs: {', '.join(JOB_NAMES)}"
        raise ConfigError(f"unknown job {name!r}; {hint}")
    return JOBS[name]()
