# Everything a fresh clone needs: `make demo` and `make test` create and reuse .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

VENDOR := src/deconflict/web/static/vendor
ASSETS := $(VENDOR)/.built

.PHONY: demo test bench docs wheel clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# real receiver recordings for the tests, shipped in the traffic package (data only: no dependencies)
	$(BIN)/python -m pip install --quiet --no-deps traffic==2.13
	touch $(STAMP)

# the map page's pinned assets (Leaflet, Natural Earth countries from world-atlas): npm registry, no CDN at run time
$(ASSETS): web-assets/package.json web-assets/package-lock.json
	cd web-assets && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp web-assets/node_modules/leaflet/dist/leaflet.js web-assets/node_modules/leaflet/dist/leaflet.css $(VENDOR)/
	cp -r web-assets/node_modules/leaflet/dist/images $(VENDOR)/
	cp web-assets/node_modules/topojson-client/dist/topojson-client.min.js $(VENDOR)/
	cp web-assets/node_modules/world-atlas/countries-50m.json $(VENDOR)/
	cp web-assets/node_modules/leaflet/LICENSE $(VENDOR)/LICENSE-leaflet
	cp web-assets/node_modules/world-atlas/LICENSE $(VENDOR)/LICENSE-world-atlas
	touch $@

demo: $(STAMP) $(ASSETS)
	$(BIN)/deconflict demo

test: $(STAMP) $(ASSETS)
	$(BIN)/python -m pytest -q

# the documentation site (MkDocs Material) from docs/, into site/; --strict: a broken page or anchor fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# an installable wheel with the map's assets inside, into dist/
wheel: $(STAMP) $(ASSETS)
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation --quiet -w dist .

bench: $(STAMP) $(ASSETS)
	$(BIN)/python benchmarks/detect_scale.py
	$(BIN)/python benchmarks/simulate_mvp.py
	$(BIN)/python benchmarks/guidance.py
	$(BIN)/python benchmarks/plans_check.py
	$(BIN)/python benchmarks/decode_rate.py
	$(BIN)/python benchmarks/scan_archive.py
	$(BIN)/python benchmarks/service_load.py
	$(BIN)/python benchmarks/hostile_batch.py
	$(BIN)/python benchmarks/conformance.py
	$(BIN)/python benchmarks/private_check.py
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/map_frames.py

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache .hypothesis $(VENDOR) web-assets/node_modules
