"""Trained networks on disk, for the lifter and the temporal refiner alike: ``NAME.safetensors`` (the tensors) next
to ``NAME.json`` (a format tag and version, the network's config, and a record of how it was trained). No pickle
anywhere: loading a file can never run code.

Every way a file can be wrong ends in a clear error: a missing file (FileNotFoundError), a file that is not
safetensors or JSON, a JSON of another kind of file or format version, or tensors that do not fit the network the
config describes (ValueError naming the culprits).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""Where the package's trained networks are installed."""


def tensors_path(path: str | Path) -> Path:
    """The ``.safetensors`` file a user means by ``path``: itself, the one beside a named ``.json``, or ``path`` +
    ``.safetensors`` when the suffix was left out (dots in the name are kept: ``lifter_v1.2``). A training run's
    output folder or any other existing file is refused with the weights files it holds or a hint, not turned into
    the name of a file that does not exist.
    """
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors")
    if path.is_dir():
        from .checkpoint import checkpoint_paths  # here: checkpoint imports this module

        checkpoint = checkpoint_paths(path)[0]  # training state, not weights
        inside = sorted(str(found) for found in path.glob("*.safetensors") if found != checkpoint)
        raise ValueError(f"{path} is a folder; give the weights file in it"
                         + (f": {', '.join(inside)}" if inside else " (NAME.safetensors, none found there)"))
    if path.is_file():
        raise ValueError(f"{path} is not a weights file (expected NAME.safetensors with NAME.json beside it)")
    return path.with_name(path.name + ".safetensors")


def config_path(weights: str | Path) -> Path:
    """The JSON that belongs to a ``.safetensors`` file (same name, ``.json``)."""
    return Path(weights).with_suffix(".json")


def save_network(path: str | Path, model: nn.Module, file_format: str, version: int, config_key: str,
                 config: dict, record: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json, whose ``config_key`` holds ``config``; ``record``
    (JSON-serialisable) says how the network was trained.
    """
    path = tensors_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": file_format})
    document = {"format": file_format, "format_version": version, config_key: config, "record": record or {}}
    config_path(path).write_text(json.dumps(document, indent=2) + "\n")
    return path


def read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``; ``what`` names the file in errors."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON: {err}") from err
    if not isinstance(document, dict):
        raise ValueError(f"{what} {path} must hold a JSON object")
    return document


def read_document(weights: str | Path, file_format: str, version: int, what: str) -> dict:
    """The JSON beside a weights file, checked to be of ``file_format`` at ``version``."""
    json_path = config_path(weights)
    document = read_json(json_path, f"{what} config")
    if document.get("format") != file_format:
        raise ValueError(f"{json_path} is not a {what} config (format {document.get('format')!r}, "
                         f"expected {file_format!r})")
    if document.get("format_version") != version:
        raise ValueError(f"{json_path} has format version {document.get('format_version')!r}; "
                         f"this version of pose3d_ros reads version {version}")
    return document


def read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; ``what`` names the file in errors."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{what} {path} is not a valid safetensors file ({err})") from err


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
    model.load_state_dict({name: tensor.to(expected[name].dtype) for name, tensor in tensors.items()})
