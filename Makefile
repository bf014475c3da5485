# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: validate the matrix, then serve webhooks on 127.0.0.1:8080 with SQLite in data/.
run: install
	$(BIN)/escalator check rules/
	$(BIN)/escalator serve

# A simulated month in the database (marked simulated; a rerun replaces it), so every page has data.
demo: install
	$(BIN)/escalator test rules/
	$(BIN)/escalator simulate --into-db --incidents 2000 --days 30 --seed 1 --engine python --out data/demo
	@echo "Now run 'make run', log in and tick 'include simulated' on the live board, /insights, /audit or /reviews."

test: install
	$(BIN)/pytest -q

check: install
	$(BIN)/escalator check rules/

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
