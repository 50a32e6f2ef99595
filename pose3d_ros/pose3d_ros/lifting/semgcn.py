"""SemGCN baseline (Zhao et al., "Semantic Graph Convolutional Networks for 3D Human Pose Regression", CVPR 2019),
without the optional non-local layers: an input graph convolution, ``blocks`` residual blocks of two graph
convolutions (each with batch norm and ReLU), and an output graph convolution.

The output convolution starts small (``output_layer``, see :mod:`.graph`), as SemGAN's does, and has a fourth
channel, the predicted per-joint error (softplus), so that every lifter
answers the same question and trains with the same losses; the original has only the three coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import LifterConfig, SemGCNConfig
from .graph import SemGraphConv


class GraphConvBlock(nn.Module):
    """Semantic graph convolution, batch norm over the feature channels, ReLU, optional dropout."""

    def __init__(self, in_features: int, out_features: int, adjacency, dropout: float):
        super().__init__()
        self.graph = SemGraphConv(in_features, out_features, adjacency)
        self.norm = nn.BatchNorm1d(out_features)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.graph(x).transpose(1, 2)).transpose(1, 2)
        return self.dropout(F.relu(x))


class ResidualGraphBlock(nn.Module):
    def __init__(self, width: int, adjacency, dropout: float):
        super().__init__()
        self.first = GraphConvBlock(width, width, adjacency, dropout)
        self.second = GraphConvBlock(width, width, adjacency, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x))


class SemGCN(nn.Module):
    """Normalised 2D features (B, J, C) -> root-relative 3D (B, J, 3) in metres and predicted error (B, J)."""

    def __init__(self, config: LifterConfig):
        super().__init__()
        arch: SemGCNConfig = config.architecture
        adjacency = config.skeleton.adjacency()
        self.input = GraphConvBlock(config.inputs.channels, arch.hidden, adjacency, 0.0)
        self.blocks = nn.Sequential(*(ResidualGraphBlock(arch.hidden, adjacency, arch.dropout)
                                      for _ in range(arch.blocks)))
        self.output = SemGraphConv(arch.hidden, 4, adjacency, output_layer=True)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.output(self.blocks(self.input(features)))
        return out[..., :3], F.softplus(out[..., 3])
