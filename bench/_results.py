"""A benchmark's JSON results: a partial rerun replaces the rows it repeats and keeps the others.

Every row carries the ``command`` that measured it; a row kept from an earlier run is marked
``"measured": "earlier"``, so a table built from the file says which figures are not from the
latest run.

    >>> merge_rows([{"graph": "a", "s": 1}], [{"graph": "b", "s": 2}], key=lambda row: row["graph"])
    [{'graph': 'a', 's': 1, 'measured': 'earlier'}, {'graph': 'b', 's': 2}]
"""

from __future__ import annotations

import datetime
import json
import shlex
import sys
from collections.abc import Callable, Hashable
from pathlib import Path


def this_command() -> str:
    """The command line that started this benchmark, with today's date (UTC)."""
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return f"python {shlex.join(sys.argv)} ({today})"


def merge_rows(earlier: list[dict], rows: list[dict], key: Callable[[dict], Hashable]) -> list[dict]:
    """The earlier rows whose ``key`` this run did not measure (marked as earlier), then this run's rows."""
    ran = {key(row) for row in rows}
    return [{**row, "measured": "earlier"} for row in earlier if key(row) not in ran] + rows


def read_rows(path: Path) -> list[dict]:
    """The rows a results file holds (a list, or a mapping with ``rows``); none if it does not exist."""
    if not path.exists():
        return []
    document = json.loads(path.read_text())
    return document["rows"] if isinstance(document, dict) else document
