"""Build what ``spark-submit`` needs: the package zip and a one-line entry script beside it.

The zip holds the ``sparkgraph`` package (bundled data sets included) and nothing else;
its dependencies (numpy, scipy, pandas, pyarrow, ...) must be installed on the cluster's
Python, as they are on Databricks runtimes. ``run_job.py`` runs any job from the zip:

    python -m sparkgraph.packaging dist/sparkgraph.zip      # writes dist/sparkgraph.zip and dist/run_job.py
    spark-submit --master yarn --py-files dist/sparkgraph.zip dist/run_job.py stats --input.path ...
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


SUBMIT_SCRIPT = """\
# spark-submit entry for sparkgraph jobs: spark-submit --py-files sparkgraph.zip run_job.py <job> [options]
import sys

from sparkgraph.cli import main

sys.exit(main(["run", *sys.argv[1:]]))
"""


def write_submit_script(target: str) -> str:
    """Write ``run_job.py``, which runs ``sparkgraph run <job> ...`` from the zip on ``--py-files``."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(SUBMIT_SCRIPT)
    return target


if __name__ == "__main__":
    zip_path = build_zip(sys.argv[1] if len(sys.argv) > 1 else "dist/sparkgraph.zip")
    print(zip_path)
    print(write_submit_script(str(Path(zip_path).parent / "run_job.py")))
