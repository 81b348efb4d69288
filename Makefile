# litlab: `make help` lists the targets. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install train test test-all lint tensorboard results clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned, so pip takes the CPU wheel instead of resolving a CUDA build.
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install litlab with pinned versions

train: $(STAMP) ## train logistic regression on breast cancer (offline); ARGS="experiment=diabetes ..." for others
	$(BIN)/python train.py $(ARGS)

test: $(STAMP) ## run the test suite (slow tests too when LITLAB_RUN_SLOW=1)
	$(BIN)/python -m pytest $(ARGS)

test-all: $(STAMP) ## run every test, slow and real-data ones included
	$(BIN)/python -m pytest --run-slow $(ARGS)

lint: $(STAMP) ## check style with ruff
	$(BIN)/ruff check src tests scripts hydra_plugins train.py eval.py predict.py
	$(BIN)/ruff format --check src tests scripts hydra_plugins train.py eval.py predict.py

tensorboard: $(STAMP) ## open TensorBoard over logs/
	$(BIN)/tensorboard --logdir logs

results: $(STAMP) ## docs/results.md: every experiment, scikit-learn on the same folds (resumes; ARGS="--only tabular")
	$(BIN)/python scripts/results.py $(ARGS)

clean: ## remove logs, caches and .venv (downloads in data/ are kept)
	rm -rf logs .pytest_cache .ruff_cache $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
