# The two commands: `make run` (train + evaluate the default experiment) and `make test`.
# Both create .venv when missing and install the project into it; a second call is fast.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
EXPERIMENT ?= colormnist

.PHONY: install run test test-slow bench explore clean

# the runtime dependencies (make run); the dev extras (pytest and the reference libraries) come on top for tests
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import iin, torch, torchvision, FrEIA, pytorch_lightning, hydra, wandb, captum, gradio"
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import pytest, pytorch_grad_cam, lime, playwright"
	touch $(DEV_STAMP)

install: $(DEV_STAMP)

run: $(STAMP)
	$(PY) train.py experiment=$(EXPERIMENT)
	$(PY) evaluate.py run_dir=outputs/$(EXPERIMENT)
	@echo "report: $(CURDIR)/outputs/$(EXPERIMENT)/report.html"

test: $(DEV_STAMP)
	$(PY) -m pytest -q

test-slow: $(DEV_STAMP)
	$(PY) -m pytest -q -m slow

bench: $(DEV_STAMP)
	for b in bench/*.py; do $(PY) $$b; done

# the interactive explorer on the default run (train it first with `make run`); PORT=7860 HOST=127.0.0.1 by default
PORT ?= 7860
HOST ?= 127.0.0.1
explore: $(STAMP)
	$(VENV)/bin/iin-explore outputs/$(EXPERIMENT) --port $(PORT) --host $(HOST)

clean:
	rm -rf outputs .pytest_cache
