# Each target sets up .venv on first use, so a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-container lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m dcgan.main --config=configs/demo.py --workdir=runs/demo

# pytest exits 5 when it collects no tests; that fails the target like any other failure.
# Two workers, one a core; the slowest tests are listed so a slowdown shows.
test: $(STAMP)
	$(BIN)/ruff check dcgan tests scripts configs
	$(BIN)/lint-imports
	scripts/lint_container.sh
	$(BIN)/pytest -n 2 --durations=15

# The inner loop: everything but the tests marked slow.
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "not slow"

# The image built from the Dockerfile and used as a user would, with docker or podman; minutes
# the first time (a Debian base and the dependencies), a few when they are cached.
test-container: $(STAMP)
	scripts/container_check.sh

lint: $(STAMP)
	$(BIN)/ruff check dcgan tests scripts configs
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs
