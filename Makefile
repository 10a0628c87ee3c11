PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make run` installs what running adc needs (numpy, astor, click); `make test` adds the test
# tools and the optional libraries the tests exercise (the `test` extra).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

# One pip run (the test environment holds the run one, so it stamps both).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/adc run samples/baydin.py

# Long property runs are marked `fuzz` and left to `make fuzz`; the tests run on every core
# (pytest-xdist), those sharing an expensive fixture on one worker (xdist_group).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not fuzz" -n auto --dist loadgroup
	$(BIN)/python benchmarks/guard.py

# The peers of benchmarks/bench_peers.py: the `bench` extra (autograd, JAX, torch) in the venv,
# Tangent in its own (tools/tangent_env.sh; if it fails, the suite reports Tangent as such).
BENCH_STAMP := $(VENV)/.installed-bench
TANGENT_STAMP := $(VENV)/tangent/.installed

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

$(TANGENT_STAMP): tools/tangent_env.sh | $(STAMP)
	PYTHON=$(PYTHON) TANGENT_VENV=$(VENV)/tangent bash tools/tangent_env.sh \
		|| echo "Tangent could not be installed; bench_peers.py reports it so"

bench: $(STAMP) $(BENCH_STAMP) $(TANGENT_STAMP)
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_arrays.py
	$(BIN)/python benchmarks/bench_numba.py
	$(BIN)/python benchmarks/bench_peers.py --tangent-venv $(VENV)/tangent

fuzz: $(STAMP)
	$(BIN)/python -m pytest -q -m fuzz -n auto --dist loadgroup
	$(BIN)/python tools/fuzz_programs.py
	$(BIN)/python tools/fuzz_frontend.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
