# Two commands on a fresh machine: `make serve` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# insightface is the reference for parity tests and benchmarks only. Installed without its
# dependencies: it asks for opencv-python, which would clash with opencv-python-headless;
# what its FaceAnalysis path imports is in the dev extra.
REFERENCE := insightface==2.1
# The generator of the contract test's client, also without its dependencies: it asks for
# typer<0.28 and works with the CLI's 0.29; what it needs is in the dev extra.
CLIENT_GENERATOR := openapi-python-client==0.29.1

.PHONY: serve test bench proto verify-image clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps $(REFERENCE) $(CLIENT_GENERATOR)
	touch $@

serve: $(VENV)/.runtime
	$(BIN)/likeness serve

# ruff, the type checker, then every test: the contract tests (tests/contract) fuzz the
# served OpenAPI for about three minutes; `pytest -m "not contract"` skips them.
test: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/openset.py
	$(BIN)/python bench/ui.py
	$(BIN)/python bench/video.py  # needs the ffmpeg CLI
	$(BIN)/python bench/workers.py  # needs the ffmpeg CLI
	$(BIN)/python bench/footprint.py

# The gRPC stubs, checked in beside the .proto (tests/rpc checks they are current).
proto: $(VENV)/.dev
	$(BIN)/python -m grpc_tools.protoc -I src --python_out=src --grpc_python_out=src \
		--pyi_out=src src/likeness/rpc/likeness.proto

# The Dockerfile's steps in a Debian bookworm chroot, then the service started and used in
# it (docs/deployment.md#containers). Needs root, debootstrap (installed if missing) and
# network; minutes. Not part of `make test` (LIKENESS_VERIFY_IMAGE=1 adds it there).
verify-image:
	deploy/verify-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
