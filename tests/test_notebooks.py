"""Every notebook runs as plain Python against the test session (as it would on Databricks)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from sparkgraph.output import read_manifest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.connect
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(spark, path, tmp_path, monkeypatch):
    text = path.read_text()
    assert text.startswith("# Databricks notebook source") and "# COMMAND ----------" in text
    monkeypatch.setenv("SPARKGRAPH_NOTEBOOK_OUT", str(tmp_path / "nb"))
    runpy.run_path(str(path), run_name="__main__")
    assert read_manifest(spark, str(tmp_path / "nb"))["outputs"]
