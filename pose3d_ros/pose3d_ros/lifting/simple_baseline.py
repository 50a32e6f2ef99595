"""SimpleBaseline (Martinez et al., "A simple yet effective baseline for 3D human pose estimation", ICCV 2017):
a residual MLP on the flattened pose. Linear -> BN -> ReLU -> dropout to ``hidden`` features, ``blocks`` residual
blocks of two such layers, and a linear output layer.

The output has a fourth value per joint, the predicted error (softplus), so that every lifter answers the same
question and trains with the same losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import LifterConfig, SimpleBaselineConfig


def _dense(in_features: int, out_features: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features), nn.ReLU(),
                         nn.Dropout(dropout))


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(_dense(width, width, dropout), _dense(width, width, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class SimpleBaseline(nn.Module):
    """Normalised 2D features (B, J, C) -> root-relative 3D (B, J, 3) in metres and predicted error (B, J)."""

    def __init__(self, config: LifterConfig):
        super().__init__()
        arch: SimpleBaselineConfig = config.architecture
        joints = config.skeleton.num_joints
        self.input = _dense(joints * config.inputs.channels, arch.hidden, arch.dropout)
        self.blocks = nn.Sequential(*(ResidualBlock(arch.hidden, arch.dropout) for _ in range(arch.blocks)))
        self.output = nn.Linear(arch.hidden, joints * 4)
        with torch.no_grad():  # start near zero, as the graph-convolution heads do (see graph.py)
            self.output.weight.mul_(0.1)
            self.output.bias.zero_()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.output(self.blocks(self.input(features.flatten(1)))).unflatten(1, (features.shape[1], 4))
        return out[..., :3], F.softplus(out[..., 3])
