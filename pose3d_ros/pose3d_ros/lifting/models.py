"""Build a lifting network from its config; every network maps (B, J, C) features to (pose, error)."""

from __future__ import annotations

from torch import nn

from .config import LifterConfig
from .semgan import SemGAN
from .semgcn import SemGCN
from .simple_baseline import SimpleBaseline

NETWORKS = {"semgan": SemGAN, "semgcn": SemGCN, "simplebaseline": SimpleBaseline}


def build_model(config: LifterConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (its tensors come from training or a weights file)."""
    return NETWORKS[config.model](config)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
