# The README's two commands:
#   make book   install, then build the book (quick profile unless SNNLIB_PROFILE names another; medium and paper
#               read their committed results and compute nothing unless SNNLIB_COMPUTE=1)
#   make test   install; unit tests; the results (2 processes); then the notebooks under nbval beside a strict book build
PYTHON ?= python
PIP ?= $(PYTHON) -m pip
NB := .nbtest
BOOK_FLAGS ?= -W -n --keep-going
# jupyter-book 1.x has no `python -m jupyter_book`; call its CLI through the same interpreter.
JB ?= $(PYTHON) -c "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; main()"

.PHONY: install book test lint unit results nbval build figures bench gpu-check clean
JOBS ?= 2

install:
	$(PIP) install -e ".[all]"

book: install build

# jupyter-book --path-output P builds into P/_build (its notebook cache too). jupyter-cache keys on code cells
# only, not on SNNLIB_PROFILE, so each committed profile builds into its own folder: _build/<profile>/_build.
PROFILE := $(or $(SNNLIB_PROFILE),quick)
OUT_DIR = $(if $(filter-out quick,$(PROFILE)),_build/$(PROFILE),)
BUILD_DIR = $(if $(OUT_DIR),$(OUT_DIR)/_build,_build)
STAMP = $(BUILD_DIR)/.inputs-stamp

# Sphinx re-reads a page only when its source changes, and jupyter-cache re-executes a notebook only when
# its code cells change, neither when the results, configs or library it reads do. So when any of those
# is newer than the last build, the notebook cache goes and every page is rebuilt (--all).
build:
	@mkdir -p $(BUILD_DIR) && touch $(STAMP).new  # inputs changed during the build count for the next one
	@all=; if [ -d $(BUILD_DIR)/.jupyter_cache ] && { [ ! -f $(STAMP) ] || \
	    [ -n "$$(find results configs snnlib -type f \( -name '*.py' -o -name '*.json' -o -name '*.yaml' \
	      -o -name '*.csv' \) -newer $(STAMP) -print -quit)" ]; }; then \
	  echo "results, configs or snnlib changed since the last build: re-executing every chapter"; \
	  rm -rf $(BUILD_DIR)/.jupyter_cache; all=--all; fi; \
	echo "jupyter-book build . $(BOOK_FLAGS) $$all"; \
	$(JB) build . $(BOOK_FLAGS) $$all $(if $(OUT_DIR),--path-output $(OUT_DIR),)
	@mv $(STAMP).new $(STAMP)

# The notebooks under nbval and the book build only read what `results` computed, so they run side by side.
# Each step prints its start time (UTC), so a CI log shows where its minutes went.
test: install
	@for step in lint unit results; do echo "== $$(date -u +%T) make $$step"; $(MAKE) --no-print-directory $$step || exit 1; done
	@echo "== $$(date -u +%T) make -j2 nbval build"
	$(MAKE) --no-print-directory -j2 nbval build
	@echo "== $$(date -u +%T) make test done"

# ruff: the lint rules and the formatter (120 columns), both settings in pyproject.toml
lint:
	$(PYTHON) -m ruff check snnlib tests
	$(PYTHON) -m ruff format --check snnlib tests

# the 15 slowest tests are listed; `pytest -m "not slow"` skips the end-to-end ones while editing
unit:
	$(PYTHON) -m pytest tests -n $(JOBS) --dist worksteal --durations=15

# Every per-config result the book reads (cached), in $(JOBS) single-threaded worker processes: on a
# small CPU they do more than one process on every core. The chapters then only read them.
# The Benchmarks chapter's measurement comes first, while nothing else runs.
results:
	$(PYTHON) -m snnlib bench --form build
	$(PYTHON) -m snnlib reproduce --all --jobs $(JOBS) --stages train,evaluate,probes,audit

nbval:
	rm -rf $(NB) && mkdir -p $(NB)
	for f in book/[!_]*.md; do $(PYTHON) -m jupytext --quiet --to ipynb -o $(NB)/$$(basename $${f%.md}).ipynb $$f || exit 1; done
	$(PYTHON) -m pytest --nbval-lax $(NB) -p no:cacheprovider

figures:
	$(PYTHON) -m snnlib figures

bench:
	$(PYTHON) -m snnlib bench

# On a lent GPU: bench (cuda, bf16, compile, roofline), one medium model, one paper row; results/gpu/
gpu-check:
	$(PYTHON) -m snnlib gpu-check

clean:
	rm -rf _build $(NB) figures
