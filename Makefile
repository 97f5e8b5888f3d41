# adlib: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared/data
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
QUICK_RUNS := $(CURDIR)/runs/quick
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: run test lint lab app setup data clean-runs

## run: set up, execute every lab headless in quick mode into runs/notebooks/ (and as HTML there),
## print each lab's headline numbers
run: setup
	@mkdir -p runs/notebooks
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  ADLIB_QUICK=1 ADLIB_RUNS=$(QUICK_RUNS) $(PY) -m papermill $$nb \
	    runs/notebooks/$$(basename $$nb) --cwd notebooks --execution-timeout 900 || exit 1; \
	done
	@$(PY) -m jupyter nbconvert --to html --log-level WARN runs/notebooks/[0-9]*.ipynb
	@echo; ADLIB_RUNS=$(QUICK_RUNS) $(PY) -m adlib summary --html runs/notebooks

## lint: ruff on the package, tests, benchmarks and labs (fails on any finding)
lint: setup
	$(VENV)/bin/ruff check .

## test: set up, lint, run every notebook once (nbval, quick mode, into a fresh runs/ci), then
## the unit tests, the checks on what the labs recorded there, and the browser tests
test: setup lint
	rm -rf runs/ci
	ADLIB_QUICK=1 ADLIB_RUNS=$(CURDIR)/runs/ci $(PY) -m pytest -q --durations=15 --nbval-lax --nbval-current-env --nbval-cell-timeout=900 notebooks
	ADLIB_QUICK=1 ADLIB_RUNS=$(CURDIR)/runs/ci ADLIB_LAB_RESULTS=$(CURDIR)/runs/ci ADLIB_BROWSER_REQUIRED=1 \
	  $(PY) -m pytest tests -q --durations=30

## lab: JupyterLab on notebooks/ (loopback only)
lab: setup
	$(PY) -m jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --no-browser $(ROOT_FLAG)

## app: one lab as an app (Voila: outputs and widgets only) on 127.0.0.1, e.g. make app NB=01
app: setup
	@test -n "$(NB)" || { echo "usage: make app NB=01 [PORT=8866] (ADLIB_QUICK=1 for tiny sizes)"; exit 2; }
	$(PY) -m adlib app $(NB) $(if $(PORT),--port $(PORT))

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

## data: copy ../shared/data/* into data/ (git-ignored) when present and not already there
data:
	@if [ -d "$(SHARED)" ]; then \
	  for src in $(SHARED)/*; do \
	    name=$$(basename "$$src"); \
	    if [ ! -e "data/$$name" ]; then \
	      echo "copying $$src -> data/$$name"; cp -r "$$src" data/ && chmod -R u+w "data/$$name"; \
	    fi; \
	  done; \
	fi

clean-runs:
	rm -rf runs/quick runs/ci runs/notebooks
