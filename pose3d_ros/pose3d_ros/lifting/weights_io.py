"""Lifter weights on disk: ``NAME.safetensors`` next to ``NAME.json`` holding the :class:`LifterConfig` and the
training record (format and checks: :mod:`pose3d_ros.weights_file`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..weights_file import SHIPPED_WEIGHTS_DIR, load_state, read_document, read_tensors, save_network, tensors_path
from .config import LifterConfig
from .models import build_model

FILE_FORMAT = "pose3d_ros.lifter"
FORMAT_VERSION = 1
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS_DIR / "lifter_semgan_wholebody133.safetensors"
DEFAULT_BODY_EXPERT = SHIPPED_WEIGHTS_DIR / "lifter_semgan_body_expert.safetensors"
"""The H36M-17 body expert that the shipped whole-body lifter takes its body from (:mod:`.body_expert`)."""


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


def warm_start(model: nn.Module, config: LifterConfig, path: str | Path) -> None:
    """Start ``model`` (of ``config``) from a trained lifter that is the same network without the gravity input:
    every tensor is copied, and the input layer's gravity channels start at zero, so the network starts as the
    trained one and learns what the new input adds (a CPU budget does not retrain from scratch). The input map of a
    body expert does not change the network: an expert starts from an ordinary lifter of its layout.
    """
    path = tensors_path(path)
    old_config, _ = read_config(path)
    plain = dataclasses.replace(config, input_map=None)
    without_gravity = dataclasses.replace(plain, inputs=dataclasses.replace(config.inputs, gravity=False))
    if dataclasses.replace(old_config, input_map=None) not in (plain, without_gravity):
        raise ValueError(f"{path} is not {config.model}/{config.layout} with these sizes and inputs (gravity aside): "
                         f"{old_config.to_dict()}")
    old, new = old_config.inputs.channels, config.inputs.channels
    joints = config.skeleton.num_joints
    state = model.state_dict()
    for name, tensor in read_tensors(path, "lifter weights").items():
        target = state[name]
        if tensor.shape == target.shape:
            state[name] = tensor.to(target.dtype)
            continue
        # The input layer: one dimension holds the channels (C, or J * C for a flattened pose).
        (dim,) = [d for d, (a, b) in enumerate(zip(tensor.shape, target.shape, strict=True)) if a != b]
        shape = list(target.shape)
        grouped = tensor.shape[dim] == joints * old
        if grouped:
            tensor = tensor.unflatten(dim, (joints, old))
            shape[dim:dim + 1] = [joints, new]
        widened = torch.zeros(shape, dtype=target.dtype)
        widened.narrow(dim + int(grouped), 0, old).copy_(tensor)
        state[name] = widened.flatten(dim, dim + 1) if grouped else widened
    model.load_state_dict(state)
