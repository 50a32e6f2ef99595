"""Temporal-refiner weights on disk: ``NAME.safetensors`` (tensors) next to ``NAME.json`` (the
:class:`UGCNConfig` -- architecture, window, the frame rate it was trained at -- and a record of how it was
trained). No pickle: loading cannot run code. Every way a file can be wrong ends in FileNotFoundError or a
ValueError that names the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .model import UGCN, UGCNConfig

FILE_FORMAT = "pose3d_ros.temporal"
FORMAT_VERSION = 1
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS_DIR / "temporal_ugcn_wholebody133.safetensors"


def config_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_weights(path: str | Path, model: UGCN, record: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json; ``record`` (JSON-serialisable) says how it was trained."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": FILE_FORMAT})
    document = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION, "model": model.config.to_dict(),
                "record": record or {}}
    config_path(path).write_text(json.dumps(document, indent=2) + "\n")
    return path


def read_config(path: str | Path) -> tuple[UGCNConfig, dict]:
    """The network's config and training record from the .json beside ``path``."""
    json_path = config_path(path)
    if not json_path.is_file():
        raise FileNotFoundError(f"temporal config {json_path} not found (it belongs next to the .safetensors)")
    try:
        document = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"temporal config {json_path} is not valid JSON: {err}") from err
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{json_path} is not a temporal-refiner config (format {found!r}, expected {FILE_FORMAT!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path} has format version {document.get('format_version')!r}; "
                         f"this version of pose3d_ros reads version {FORMAT_VERSION}")
    try:
        config = UGCNConfig.from_dict(document["model"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{json_path} lacks a valid 'model' section ({err!r})") from err
    return config, document.get("record", {})


def load_weights(path: str | Path | None = None) -> tuple[UGCN, dict]:
    """The network (eval mode, CPU) and its training record; ``None`` = the shipped weights."""
    path = Path(DEFAULT_WEIGHTS if path is None else path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    model_config, record = read_config(path)
    if not path.is_file():
        raise FileNotFoundError(f"temporal weights {path} not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"temporal weights {path} are not a valid safetensors file ({err})") from err
    model = UGCN(model_config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"temporal weights {path} do not fit the network in {config_path(path).name}: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return model.eval(), record
