"""Semantic graph convolution (Zhao et al., "Semantic Graph Convolutional Networks for 3D Human Pose
Regression", CVPR 2019), shared by SemGCN and SemGAN.

Each edge of the skeleton graph (self-loops included) has a learned, input-independent weight; a softmax over each
joint's neighbours turns them into the mixing matrix A. A joint's own feature and its neighbours' features get
separate linear maps: ``out = diag(A) * (x W_self) + (A - diag(A)) (x W_neighbours) + b``.

Several graphs of the same size with their own weights (the body-part decoder's parts, padded to one size) are
one layer with a (G, J, J) adjacency: its tensors get a leading G dimension and it maps (G, ..., J, C) features.

Weights start as in SemGCN (Xavier, gain sqrt(2)); an ``output_layer`` (one that outputs poses in metres) starts
with 10x smaller weights and a zero bias: a network whose first predictions are metres off spends its first epochs
shrinking them (on Human3.6M-17 that cost SemGAN a third of its accuracy after 300 steps).

A depends only on parameters, so in eval mode it is computed once and cached (a non-persistent buffer that follows
``.to(device)``); switching back to training mode or loading a state dict drops the cache.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

OUTPUT_GAIN = 0.1 * math.sqrt(2.0)
"""Initial weight gain of output layers (graph convolutions that output 3D positions)."""


class SemGraphConv(nn.Module):
    """Graph convolution over a fixed joint graph with learned, softmax-normalised edge weights."""

    def __init__(self, in_features: int, out_features: int, adjacency: np.ndarray | torch.Tensor,
                 output_layer: bool = False):
        super().__init__()
        mask = torch.as_tensor(np.asarray(adjacency)) > 0
        if mask.ndim not in (2, 3) or mask.shape[-1] != mask.shape[-2]:
            raise ValueError(f"adjacency must be (J, J) or (groups, J, J), got shape {tuple(mask.shape)}")
        if not bool(mask.diagonal(dim1=-2, dim2=-1).all()):
            raise ValueError("adjacency must contain self-loops (every row needs at least its own joint)")
        groups = mask.shape[:-2]  # () for one graph; (G,) for G graphs with their own weights
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("mask", mask, persistent=False)
        # (..., in, 2, out): the self map and the neighbour map, applied by one matmul.
        self.weight = nn.Parameter(torch.empty(*groups, in_features, 2, out_features))
        self.edge_logits = nn.Parameter(torch.ones(int(mask.sum())))
        self.bias = nn.Parameter(torch.empty(*groups, out_features))
        for weight in self.weight.view(-1, in_features, 2 * out_features):
            nn.init.xavier_uniform_(weight, gain=OUTPUT_GAIN if output_layer else math.sqrt(2.0))
        bound = 0.0 if output_layer else 1.0 / math.sqrt(out_features)
        nn.init.uniform_(self.bias, -bound, bound)
        self.register_buffer("_cached_self_weight", None, persistent=False)
        self.register_buffer("_cached_neighbours", None, persistent=False)

    def adjacency(self) -> torch.Tensor:
        """The softmaxed mixing matrix A (..., J, J): row i holds joint i's weights over its neighbours."""
        logits = torch.full(self.mask.shape, float("-inf"), dtype=self.edge_logits.dtype,
                            device=self.edge_logits.device)
        logits = logits.masked_scatter(self.mask, self.edge_logits)
        return torch.softmax(logits, dim=-1)

    @staticmethod
    def _split(adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A -> (its diagonal as a column (..., J, 1), A without its diagonal (..., J, J))."""
        self_weight = adjacency.diagonal(dim1=-2, dim2=-1)
        return self_weight[..., None], adjacency - torch.diag_embed(self_weight)

    def mixing(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(self weights (..., J, 1), neighbour weights (..., J, J)); precomputed once in eval mode."""
        if self.training:
            return self._split(self.adjacency())
        if self._cached_self_weight is None:
            with torch.no_grad():
                self._cached_self_weight, self._cached_neighbours = self._split(self.adjacency())
        return self._cached_self_weight, self._cached_neighbours

    def _drop_cache(self) -> None:
        self._cached_self_weight = self._cached_neighbours = None

    def train(self, mode: bool = True) -> SemGraphConv:
        self._drop_cache()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._drop_cache()
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., J, in_features) -> (..., J, out_features); with G graphs, (G, ..., J, in_features)."""
        self_weight, neighbours = self.mixing()
        if self.mask.ndim == 2:
            h = x @ self.weight.flatten(-2)
            bias, mix = self.bias, "ij,...jc->...ic"
        else:  # one batched matmul per graph; parameters broadcast over the dimensions between G and J
            h = (x.flatten(1, -2) @ self.weight.flatten(-2)).view(*x.shape[:-1], -1)
            middle = (1,) * (x.ndim - 3)
            self_weight = self_weight.view(len(self_weight), *middle, *self_weight.shape[1:])
            bias, mix = self.bias.view(len(self.bias), *middle, 1, -1), "gij,g...jc->g...ic"
        h = h.unflatten(-1, (2, self.out_features))
        return self_weight * h[..., 0, :] + torch.einsum(mix, neighbours, h[..., 1, :]) + bias

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, graphs={tuple(self.mask.shape)}"
