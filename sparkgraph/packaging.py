"""Build the zip that ``spark-submit --py-files`` ships to executors.

The zip holds the ``sparkgraph`` package (bundled data sets included) and nothing else;
its dependencies (numpy, scipy, pandas, pyarrow, ...) must be installed on the cluster's
Python, as they are on Databricks runtimes.

    python -m sparkgraph.packaging dist/sparkgraph.zip
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path


def build_zip(target: str) -> str:
    """Write the package into ``target`` (a .zip) and return its path."""
    root = Path(__file__).resolve().parent
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{target}.tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if "__pycache__" in path.parts or path.is_dir():
                continue
            zf.write(path, Path("sparkgraph") / path.relative_to(root))
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    print(build_zip(sys.argv[1] if len(sys.argv) > 1 else "dist/sparkgraph.zip"))
