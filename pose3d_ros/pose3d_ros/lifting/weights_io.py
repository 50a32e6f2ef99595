"""Lifter weights on disk: ``NAME.safetensors`` next to ``NAME.json`` holding the :class:`LifterConfig` and the
training record (format and checks: :mod:`pose3d_ros.weights_file`).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..weights_file import SHIPPED_WEIGHTS_DIR, load_state, read_document, read_tensors, save_network, tensors_path
from .config import LifterConfig
from .models import build_model

FILE_FORMAT = "pose3d_ros.lifter"
FORMAT_VERSION = 1
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS_DIR / "lifter_semgan_wholebody133.safetensors"


def save_lifter(path: str | Path, model: nn.Module, config: LifterConfig, record: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json; ``record`` (JSON-serialisable) says how it was trained."""
    return save_network(path, model, FILE_FORMAT, FORMAT_VERSION, "config", config.to_dict(), record)


def read_config(path: str | Path) -> tuple[LifterConfig, dict]:
    """The config and the training record of a weights file, from its .json."""
    document = read_document(path, FILE_FORMAT, FORMAT_VERSION, "lifter")
    return LifterConfig.from_dict(document.get("config", {})), document.get("record", {})


def load_lifter(path: str | Path) -> tuple[nn.Module, LifterConfig, dict]:
    """(network in eval mode on the CPU, its config, its training record) from a weights file."""
    path = tensors_path(path)
    tensors = read_tensors(path, "lifter weights")
    config, record = read_config(path)
    model = build_model(config)
    load_state(model, tensors, path)
    return model.eval(), config, record
