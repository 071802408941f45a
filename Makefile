# Everything a fresh clone needs: `make demo` and `make test` create and reuse .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# real receiver recordings for the tests, shipped in the traffic package (data only: no dependencies)
	$(BIN)/python -m pip install --quiet --no-deps traffic==2.13
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deconflict demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/detect_scale.py
	$(BIN)/python benchmarks/simulate_mvp.py
	$(BIN)/python benchmarks/plans_check.py
	$(BIN)/python benchmarks/decode_rate.py
	$(BIN)/python benchmarks/scan_archive.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
