# One command to run, one to test. Each target creates .venv and installs into it when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench dist lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)  ## the main job on the bundled Cora graph, local mode
	$(PY) -m sparkgraph.cli run pipeline --config conf/pipeline.yaml

test: $(STAMP)  ## the whole suite: classic lane, then the Spark Connect lane (one session per lane)
	$(PY) -m pytest -q
	SPARKGRAPH_TEST_LANE=connect $(PY) -m pytest -q -m connect

PEERS := .venv-peers/.installed

$(PEERS):  # the embedding peers' own environment (pecanpy needs numpy < 2)
	@test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install --quiet "numpy<2" gensim pecanpy scipy
	@touch $(PEERS)

bench: $(STAMP) $(PEERS)  ## benchmarks against the peers; tables on stdout, JSON in bench/results/
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

dist: $(STAMP)  ## wheel in dist/; dist/sparkgraph.zip and dist/run_job.py for spark-submit --py-files
	rm -rf dist build
	$(PY) -m build --wheel --outdir dist . >/dev/null
	$(PY) -m sparkgraph.packaging dist/sparkgraph.zip
	@ls -l dist

lint: $(STAMP)
	$(VENV)/bin/ruff check sparkgraph jobs tests bench notebooks

clean:
	rm -rf dist build output bench/results .pytest_cache .venv-peers
