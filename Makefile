# nnverify: `make demo` and `make test` work on a fresh machine with nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch first and pinned: it is a local CPU wheel here; an unpinned resolve pulls CUDA.
TORCH  := torch==2.13.0
# extra flags for `nnverify bench`, e.g. BENCH_FLAGS="--workers 2 --timeout-cap 30"
BENCH_FLAGS ?=

.PHONY: install demo test test-slow lint bench-acasxu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/nnverify demo

# pytest exits 5 when it collected no tests: that is a failure here.
test: install
	$(BIN)/python -m pytest -q -m "not slow"; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests ran" >&2; exit 1; fi; exit $$status

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy specs bounds solvers verify
	$(BIN)/lint-imports

# resumable: rerun to continue; delete benchmarks/results/acasxu.csv to start over
bench-acasxu: install
	mkdir -p benchmarks/results
	$(BIN)/nnverify bench ../shared/benchmarks/vnncomp2021/acasxu/expected.csv --out benchmarks/results/acasxu.csv $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) nnverify-demo .pytest_cache .mypy_cache .ruff_cache
