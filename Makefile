# Set-up and everyday commands. `make demo` and `make test` work from a fresh
# clone: they create .venv, install torch first (so that a CPU machine does not
# pull several GB of CUDA packages), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skspecrep-installed

.PHONY: install demo test test-fast lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,plot]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/skspecrep demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/bench_sedaghat2021.py
	$(PY) benchmarks/bench_mutual_info.py
	$(PY) benchmarks/bench_synthetic.py
	$(PY) benchmarks/bench_out_of_core.py

docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(VENV)/bin/sphinx-build -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
