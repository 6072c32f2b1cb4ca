# Each target sets up .venv on first use, so a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m dcgan.main --config=configs/demo.py --workdir=runs/demo

test: $(STAMP)
	$(BIN)/ruff check dcgan tests scripts configs
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check dcgan tests scripts configs

clean:
	rm -rf $(VENV) runs
