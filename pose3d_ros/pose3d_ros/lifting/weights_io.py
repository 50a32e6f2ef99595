"""Lifter weights on disk: ``NAME.safetensors`` (the tensors) next to ``NAME.json`` (the :class:`LifterConfig` and
a record of how the weights were trained). No pickle anywhere: loading a file can never run code.

Every way a weights file can be wrong ends in a clear error: a missing file (FileNotFoundError), a file that is not
safetensors or JSON, a config of another kind of file, or tensors that do not fit the network the config
describes (ValueError naming the culprits).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import LifterConfig
from .models import build_model

FILE_FORMAT = "pose3d_ros.lifter"
FORMAT_VERSION = 1
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS_DIR / "lifter_semgan_wholebody133.safetensors"


def config_path(weights: str | Path) -> Path:
    """The JSON config that belongs to a ``.safetensors`` file (same name, ``.json``)."""
    return Path(weights).with_suffix(".json")


def save_lifter(path: str | Path, model: nn.Module, config: LifterConfig, record: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json; ``record`` (JSON-serialisable) says how it was trained."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": FILE_FORMAT})
    document = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION, "config": config.to_dict(),
                "record": record or {}}
    config_path(path).write_text(json.dumps(document, indent=2) + "\n")
    return path


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON: {err}") from err
    if not isinstance(document, dict):
        raise ValueError(f"{what} {path} must hold a JSON object")
    return document


def read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{what} {path} is not a valid safetensors file ({err})") from err


def read_config(path: str | Path) -> tuple[LifterConfig, dict]:
    """The config and the training record of a weights file, from its .json."""
    json_path = config_path(path)
    document = read_json(json_path, "lifter config")
    if document.get("format") != FILE_FORMAT:
        raise ValueError(f"{json_path} is not a lifter config (format {document.get('format')!r}, "
                         f"expected {FILE_FORMAT!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path} has format version {document.get('format_version')!r}; "
                         f"this version of pose3d_ros reads version {FORMAT_VERSION}")
    return LifterConfig.from_dict(document.get("config", {})), document.get("record", {})


def load_state(model: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy ``tensors`` into ``model``, refusing missing, unexpected or wrongly shaped entries by name."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong_shape = [f"{name} {tuple(tensors[name].shape)} != {tuple(value.shape)}"
                   for name, value in expected.items() if name in tensors and tensors[name].shape != value.shape]
    if missing or unexpected or wrong_shape:
        problems = [f"missing {', '.join(missing[:5])}" if missing else "",
                    f"unexpected {', '.join(unexpected[:5])}" if unexpected else "",
                    f"wrong shape {', '.join(wrong_shape[:5])}" if wrong_shape else ""]
        raise ValueError(f"weights {source} do not match the network their config describes: "
                         + "; ".join(p for p in problems if p))
    model.load_state_dict(tensors)


def load_lifter(path: str | Path) -> tuple[nn.Module, LifterConfig, dict]:
    """(network in eval mode on the CPU, its config, its training record) from a weights file."""
    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    tensors = read_tensors(path, "lifter weights")
    config, record = read_config(path)
    model = build_model(config)
    load_state(model, tensors, path)
    return model.eval(), config, record
