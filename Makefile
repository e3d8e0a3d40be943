# Atelier: `make run` starts the platform, `make test` installs what it needs and tests it.
# Both work on a fresh Debian machine: they create .venv, install the package, and (as root)
# the Debian packages the platform uses.

SHELL := /bin/bash
# The first interpreter that really runs and is 3.11 or 3.12 (pgserver has no 3.13 wheels).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 12)' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.atelier-installed
# Debian packages the platform needs at run time (grows with the media, chain and web issues).
APT_PACKAGES := ffmpeg espeak-ng ipfs-cid libchromaprint-tools g++ chromium
# installed without their recommends: Blender (Cycles, headless) for render and 3D jobs, and
# the NumPy its glTF importer needs
APT_LEAN_PACKAGES := blender python3-numpy

.PHONY: run test lint format bench contracts system bootstrap clean help

help:
	@echo "make run    - start Atelier on http://localhost:8080 (embedded PostgreSQL)"
	@echo "make test   - install everything needed, lint, and run the test suite"
	@echo "make lint   - ruff (with complexity and SQL bans) + mypy --strict + import contracts"
	@echo "make bench  - run the benchmarks, tables in benchmarks/results/"
	@echo "make contracts - rebuild the Solidity artifacts in src/atelier/chain/evm/artifacts/ (Node)"

run: bootstrap
	$(BIN)/atelier up

test: bootstrap lint
	$(BIN)/pytest

lint: bootstrap
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/lint-imports

format: bootstrap
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: bootstrap
	$(BIN)/python -m benchmarks.run_all

# The governance contracts: pinned solc + OpenZeppelin from contracts/package-lock.json; the
# artifacts it writes are committed (tests/chain fails when they are older than the sources).
contracts:
	cd contracts && npm ci --no-audit --no-fund && node build.mjs

bootstrap: system $(STAMP)

# Debian packages, installed only when missing and only when we may (root + apt).
system:
	@missing=""; for p in $(APT_PACKAGES) $(APT_LEAN_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				$$(echo "$$missing" | tr ' ' '\n' | grep -vxF -e '' $(APT_LEAN_PACKAGES:%=-e %)) >/dev/null; \
			lean="$$(echo "$$missing" | tr ' ' '\n' | grep -xF $(APT_LEAN_PACKAGES:%=-e %) || true)"; \
			[ -z "$$lean" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $$lean >/dev/null; \
		else \
			echo "note: Debian packages missing:$$missing (run as root, or install them yourself)"; \
		fi; \
	fi

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python 3.11 or 3.12 (apt-get install python3)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,camera]"
	$(BIN)/python -m pip install --quiet --no-deps "mediapipe==0.10.21"
	@# faces the camera tests recognise: the test images inside face_recognition's sdist
	mkdir -p $(VENV)/share/face-images $(VENV)/cache
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: \
		"face_recognition==1.3.0" -d $(VENV)/cache
	tar -xzf $(VENV)/cache/face_recognition-1.3.0.tar.gz -C $(VENV)/share/face-images \
		--strip-components=3 face_recognition-1.3.0/tests/test_images
	@# hands the gesture tests read: the photos inside npm's fingerpose 0.1.0 (MIT)
	mkdir -p $(VENV)/share/hand-images
	$(BIN)/python scripts/fetch_npm_tarball.py fingerpose 0.1.0 \
		sha512-OXIRuRTgukBOo4xUO+vPchzHftZOPxO7VRh4HDjTg5NGr4gSkiY+LQShjsKAzmpRiRdmTgDh0dNsGpWa1Jsx3Q== \
		$(VENV)/cache/fingerpose-0.1.0.tgz
	tar -xzf $(VENV)/cache/fingerpose-0.1.0.tgz -C $(VENV)/share/hand-images \
		--strip-components=2 package/assets
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
