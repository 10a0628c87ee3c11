PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/adc run samples/baydin.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
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
	$(BIN)/python tools/fuzz_programs.py
	$(BIN)/python tools/fuzz_frontend.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
