# The two commands of the README: `make run` and `make test`.
# Both create .venv themselves from the system's python3 (3.10+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint eval bench calibrate package clean mutate bugs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/face-kiosk gui $(ARGS)

# Types ([tool.mypy] in pyproject.toml): the Qt-free core strict, the GUI with mypy's defaults.
test: $(STAMP)
	$(BIN)/ruff check kiosk ui tests tools packaging
	$(BIN)/lint-imports
	$(BIN)/mypy --strict kiosk
	$(BIN)/mypy ui
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

# Mutation testing of the decision code (pyproject.toml [tool.mutmut]); not part of `test`:
# it takes long. `make mutate` prints the summary; `.venv/bin/mutmut results` lists survivors.
mutate: $(STAMP)
	rm -rf mutants
	# mutants/ is one level deeper: point the data tests at ../shared/data explicitly.
	FACE_KIOSK_DATA=$(abspath ../shared/data) QT_QPA_PLATFORM=offscreen $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

# Issue 14's deliberate bugs, put back one at a time into a copy: each must fail a test.
bugs: $(STAMP)
	$(BIN)/python tools/deliberate_bugs.py

eval: $(STAMP)
	$(BIN)/face-kiosk eval

bench: $(STAMP)
	$(BIN)/face-kiosk bench

# The double-click app: dist/face-kiosk/ and an archive, self-tested (packaging/README.md).
package: $(STAMP)
	VENV=$(VENV) packaging/build.sh

clean:
	rm -rf $(VENV) build dist
