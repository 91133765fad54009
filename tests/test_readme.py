"""Every README example marked ``<!-- runnable -->`` runs as written, in order, against bundled data."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from sparkgraph.cli import main

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- runnable -->\n```(\w+)\n(.*?)\n```", re.DOTALL)


def runnable_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((REPO / "README.md").read_text())


def test_the_readme_marks_examples_of_both_kinds():
    kinds = [kind for kind, _ in runnable_blocks()]
    assert kinds.count("python") >= 3 and kinds.count("bash") >= 2, kinds


@pytest.mark.connect
def test_readme_examples_run_as_written(spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative output paths of the examples land here
    os.symlink(REPO / "conf", tmp_path / "conf")  # as in a checkout: --config conf/<job>.yaml
    namespace: dict = {}
    for kind, code in runnable_blocks():
        if kind == "python":
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (the README's own examples)
            continue
        for line in code.replace("\\\n", " ").splitlines():
            args = shlex.split(line, comments=True)
            assert args[0] == "sparkgraph", f"a runnable shell example runs sparkgraph only: {line}"
            assert main(args[1:]) == 0, line
    assert namespace["answers"].select("source").distinct().count() == 2
    assert (tmp_path / "out" / "top" / "manifest.json").exists()
