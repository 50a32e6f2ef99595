"""Resumable training state, one format for the lifter and the temporal refiner: ``checkpoint.safetensors`` (the
model's and the optimiser's tensors) next to ``checkpoint.json`` (the optimiser's other values and param groups, and
the trainer's own state: epoch or step, history, settings). No pickle anywhere.

Each file is written under a temporary name and then renamed, so a run killed while saving leaves the previous
checkpoint whole. Loading checks every tensor against the model and names the file in every error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from .weights_file import load_state, read_json, read_tensors

FORMAT = "pose3d_ros.checkpoint"
VERSION = 1


def checkpoint_paths(directory: Path) -> tuple[Path, Path]:
    """(tensors, JSON) of the checkpoint in ``directory``."""
    return directory / "checkpoint.safetensors", directory / "checkpoint.json"


def save_checkpoint(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, trainer: dict,
                    settings: dict) -> None:
    """Write the model, the optimiser, ``trainer`` (the loop's state) and ``settings`` (what a resumed run must
    share with this one) to ``directory``; both dicts JSON-serialisable.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model/{name}": value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    state = optimizer.state_dict()
    scalars = {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"optimizer/{index}/{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}/{name}"] = value
    document = {"format": FORMAT, "format_version": VERSION, "settings": settings, "trainer": trainer,
                "optimizer": {"param_groups": state["param_groups"], "scalars": scalars}}
    tensor_path, json_path = checkpoint_paths(directory)
    save_file(tensors, str(tensor_path.with_suffix(".tmp.safetensors")))
    json_path.with_suffix(".tmp.json").write_text(json.dumps(document, indent=1) + "\n")
    os.replace(tensor_path.with_suffix(".tmp.safetensors"), tensor_path)
    os.replace(json_path.with_suffix(".tmp.json"), json_path)


def load_checkpoint(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, settings: dict) -> dict:
    """Restore the model and the optimiser from ``directory`` if it was saved with the same ``settings``; returns
    the trainer state saved with them.
    """
    tensor_path, json_path = checkpoint_paths(directory)
    if not (tensor_path.is_file() and json_path.is_file()):
        raise FileNotFoundError(f"no checkpoint to resume in {directory} (expected {tensor_path.name} and "
                                f"{json_path.name})")
    document = read_json(json_path, "checkpoint state")
    if document.get("format") != FORMAT or document.get("format_version") != VERSION:
        raise ValueError(f"{json_path} is not a version-{VERSION} pose3d_ros checkpoint")
    if document.get("settings") != json.loads(json.dumps(settings)):  # compared as JSON: tuples read back as lists
        raise ValueError(f"the checkpoint in {directory} was made with other settings ({document.get('settings')}), "
                         f"not ({settings}); resume with the same settings")
    tensors = read_tensors(tensor_path, "checkpoint")
    load_state(model, {name[len("model/"):]: value for name, value in tensors.items() if name.startswith("model/")},
               tensor_path)
    slots: dict[int, dict] = {}
    optimizer_values = [(name[len("optimizer/"):], value) for name, value in tensors.items()
                        if name.startswith("optimizer/")]
    for key, value in optimizer_values + list(document["optimizer"]["scalars"].items()):
        index, name = key.split("/", 1)
        slots.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": slots, "param_groups": document["optimizer"]["param_groups"]})
    except (ValueError, KeyError) as err:
        raise ValueError(f"the optimiser state in {directory} does not fit this model: {err}") from err
    return document["trainer"]
