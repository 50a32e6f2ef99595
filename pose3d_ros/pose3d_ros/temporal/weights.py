"""Temporal-refiner weights on disk: ``NAME.safetensors`` next to ``NAME.json`` holding the :class:`UGCNConfig`
(architecture, window, the frame rate it was trained at) and the training record (format and checks:
:mod:`pose3d_ros.weights_file`).
"""

from __future__ import annotations

from pathlib import Path

from ..weights_file import SHIPPED_WEIGHTS_DIR, load_state, read_document, read_tensors, save_network, tensors_path
from .model import UGCN, UGCNConfig

FILE_FORMAT = "pose3d_ros.temporal"
FORMAT_VERSION = 1
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS_DIR / "temporal_ugcn_wholebody133.safetensors"
DEFAULT_OFFLINE_WEIGHTS = SHIPPED_WEIGHTS_DIR / "temporal_ugcn_offline_wholebody133.safetensors"


def save_weights(path: str | Path, model: UGCN, record: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json; ``record`` (JSON-serialisable) says how it was trained."""
    return save_network(path, model, FILE_FORMAT, FORMAT_VERSION, "model", model.config.to_dict(), record)


def read_config(path: str | Path) -> tuple[UGCNConfig, dict]:
    """The network's config and training record from the .json beside ``path``."""
    document = read_document(path, FILE_FORMAT, FORMAT_VERSION, "temporal-refiner")
    try:
        config = UGCNConfig.from_dict(document["model"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} lacks a valid 'model' section ({err!r})") from err
    return config, document.get("record", {})


def load_weights(path: str | Path | None = None) -> tuple[UGCN, dict]:
    """The network (eval mode, CPU) and its training record; ``None`` = the shipped weights."""
    path = tensors_path(DEFAULT_WEIGHTS if path is None else path)
    model_config, record = read_config(path)
    model = UGCN(model_config)
    load_state(model, read_tensors(path, "temporal weights"), path)
    return model.eval(), record
