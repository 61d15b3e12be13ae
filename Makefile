# The README's two commands: `make demo` (the main job on the embedded default) and `make test`.
# Each creates .venv inside the repository if missing, installs torch first (override with
# OMNIMASK_TORCH, e.g. OMNIMASK_TORCH="torch==2.13.0 --index-url <your CUDA wheel index>"),
# then omnimask with its extras, then runs. Re-running only re-installs when pyproject.toml changed.
PYTHON ?= python3
OMNIMASK_TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: demo test wheel-check lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(OMNIMASK_TORCH)
	$(PY) -m pip install --quiet -e ".[dev,viz,data,lora,images,serve]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m omnimask demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m ruff check omnimask tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q

# Build the wheel, install it into a fresh venv outside the checkout and run `omnimask demo` there
# (about a minute; torch comes from OMNIMASK_TORCH like above).
wheel-check: $(STAMP)
	OMNIMASK_TORCH="$(OMNIMASK_TORCH)" $(PY) -m pytest -q -m slow tests/test_wheel.py

lint: $(STAMP)
	$(PY) -m ruff check omnimask tests benchmarks
	$(PY) -m ruff format --check omnimask tests benchmarks

clean-venv:
	rm -rf $(VENV)
