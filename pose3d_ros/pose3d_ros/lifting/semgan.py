"""SemGAN: the Semantic Graph Attention Network of Wen, Zhu and Tan, "3D WholeBody Pose Estimation based on
Semantic Graph Attention Network and Distance Information" (2024), the default lifter.

* Joint embedding: each joint's input channels (normalised 2D, distance to its parent, optionally confidence) are
  mapped to ``dim`` features by that joint's own linear map (its bias is the joint's learned embedding, without
  which attention would be blind to which joint is which).
* Encoder: ``depth`` pre-norm blocks. Each block's self-attention mixes all joints (global context); the last part
  of the block, its feed-forward, ends in a semantic graph convolution over the skeleton graph instead of a linear
  layer, so every block also combines each joint with its anatomical neighbours (local structure).
* Body-part decoder: the joints are split into the layout's parts (wholebody133: body 23 / face 68 / hands 42;
  h36m17: one part); each part has its own decoder (own weights) of ``decoder_layers`` self-attention layers
  restricted to the part, ending in a semantic graph convolution over the part's subgraph that outputs the
  joint's 3D position, instead of a linear head. With ``anchored_parts`` (an extension of the seed) the face and
  hand parts output positions relative to the body joint they hang from (nose, wrists) and the body part's
  prediction of that joint is added: decoded independently from the pelvis, a part's error does not follow its
  anchor's (hands drifted 89 mm from their own wrists; docs/lifting.md has the comparison).
* Error head (as in Lutz et al.'s JointFormer): a linear layer on the final joint features predicts each joint's
  3D error in metres (softplus keeps it positive); it is trained against the detached actual error.

``decoder=False`` is the seed's "encoder only" ablation: a linear head on the encoder's output.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import LifterConfig, SemGANConfig
from .graph import SemGraphConv


class SelfAttention(nn.Module):
    """Multi-head self-attention over the joints of a pose."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"feature width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)  # 3 x (B, H, J, d)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).flatten(2))


class EncoderBlock(nn.Module):
    """Self-attention, then a feed-forward whose output layer is a semantic graph convolution."""

    def __init__(self, dim: int, heads: int, hidden: int, adjacency, dropout: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads, dropout)
        self.graph_norm = nn.LayerNorm(dim)
        self.expand = nn.Linear(dim, hidden)
        self.graph = SemGraphConv(hidden, dim, adjacency)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x)))
        return x + self.dropout(self.graph(F.gelu(self.expand(self.graph_norm(x)))))


class PartLinear(nn.Module):
    """One linear map per body part, for features (P, ..., in) of P parts: one batched matmul."""

    def __init__(self, parts: int, in_features: int, out_features: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(parts, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(parts, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x.flatten(1, -2), self.weight).view(*x.shape[:-1], -1)


class PartLayerNorm(nn.Module):
    """Layer norm with one scale and shift per body part, for features (P, B, L, D)."""

    def __init__(self, parts: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(parts, 1, 1, dim))
        self.bias = nn.Parameter(torch.zeros(parts, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias, F.layer_norm(x, x.shape[-1:]), self.weight)


class PartTransformerLayer(nn.Module):
    """A pre-norm self-attention layer that runs within each part, with each part's own weights."""

    def __init__(self, parts: int, config: SemGANConfig):
        super().__init__()
        dim, hidden = config.dim, config.ffn_ratio * config.dim
        if dim % config.heads:
            raise ValueError(f"feature width {dim} is not divisible by {config.heads} heads")
        self.heads, self.dropout = config.heads, config.dropout
        self.attention_norm = PartLayerNorm(parts, dim)
        self.qkv = PartLinear(parts, dim, 3 * dim)
        self.attention_out = PartLinear(parts, dim, dim)
        self.mlp_norm = PartLayerNorm(parts, dim)
        self.mlp = nn.Sequential(PartLinear(parts, dim, hidden), nn.GELU(), PartLinear(parts, hidden, dim))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` (P, B, L, D); ``key_mask`` (P * B, 1, 1, L) True where a slot holds a joint (None: all do)."""
        parts, batch, size, dim = x.shape
        qkv = self.qkv(self.attention_norm(x)).view(parts * batch, size, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (P * B, H, L, d)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.attention_out(y.transpose(1, 2).reshape(parts, batch, size, dim)))
        return x + self.drop(self.mlp(self.mlp_norm(x)))


class BodyPartDecoder(nn.Module):
    """Each body part's own decoder: self-attention within the part (``decoder_layers`` times), then a semantic
    graph convolution over the part's subgraph for 3D and a linear error head.

    The parts run together as one batch: their joints are scattered into P slots of L = largest part size (padding
    slots are masked out of attention and have only self-loops in the graph) and every layer holds P sets of
    weights applied by batched matmuls, so the decoder costs as many operations as one part, not P times as many.
    """

    def __init__(self, config: SemGANConfig, layout):
        super().__init__()
        parts = [(part.start, part.stop) for part in layout.parts.values()]
        size = max(stop - start for start, stop in parts)
        slots = [p * size + j for p, (start, stop) in enumerate(parts) for j in range(stop - start)]
        valid = torch.zeros(len(parts), size, dtype=torch.bool)
        adjacency = np.broadcast_to(np.eye(size, dtype=np.float32), (len(parts), size, size)).copy()
        full = layout.adjacency()
        for p, (start, stop) in enumerate(parts):
            valid[p, : stop - start] = True
            adjacency[p, : stop - start, : stop - start] = full[start:stop, start:stop]
        self.parts, self.size = len(parts), size
        self.register_buffer("slots", torch.tensor(slots), persistent=False)
        self.register_buffer("valid", None if bool(valid.all()) else valid, persistent=False)
        self.layers = nn.ModuleList(PartTransformerLayer(len(parts), config) for _ in range(config.decoder_layers))
        self.norm = PartLayerNorm(len(parts), config.dim)
        self.position_head = SemGraphConv(config.dim, 3, adjacency, output_layer=True)
        self.error_head = PartLinear(len(parts), config.dim, 1)
        anchors = layout.part_anchors
        self.first_part_size = parts[0][1]
        anchored = config.anchored_parts and bool((anchors >= 0).any())
        self.register_buffer("anchors", torch.tensor(anchors[self.first_part_size:]) if anchored else None,
                             persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint features (B, J, D) -> positions (B, J, 3) and errors (B, J)."""
        batch, _, dim = x.shape
        h = x.new_zeros(batch, self.parts * self.size, dim).index_copy(1, self.slots, x)
        h = h.view(batch, self.parts, self.size, dim).transpose(0, 1).contiguous()  # (P, B, L, D)
        key_mask = None
        if self.valid is not None:
            key_mask = self.valid[:, None, None, None, :].expand(-1, batch, -1, -1, -1).flatten(0, 1)
        for layer in self.layers:
            h = layer(h, key_mask)
        h = self.norm(h)
        position = self.position_head(h).transpose(0, 1).flatten(1, 2)[:, self.slots]
        error = F.softplus(self.error_head(h)).transpose(0, 1).flatten(1, 3)[:, self.slots]
        if self.anchors is not None:
            body = position[:, : self.first_part_size]
            position = torch.cat([body, position[:, self.first_part_size:] + body[:, self.anchors]], dim=1)
        return position, error


class SemGAN(nn.Module):
    """Normalised 2D features (B, J, C) -> root-relative 3D (B, J, 3) in metres and predicted error (B, J)."""

    def __init__(self, config: LifterConfig):
        super().__init__()
        arch: SemGANConfig = config.architecture
        layout = config.skeleton
        adjacency = layout.adjacency()
        # One input map per joint (J, C, dim): a joint's identity is as strong a signal as its coordinates.
        bound = 1.0 / math.sqrt(config.inputs.channels)
        self.embed_weight = nn.Parameter(
            torch.empty(layout.num_joints, config.inputs.channels, arch.dim).uniform_(-bound, bound))
        self.joint_embedding = nn.Parameter(torch.empty(layout.num_joints, arch.dim).uniform_(-bound, bound))
        hidden = arch.ffn_ratio * arch.dim
        self.encoder = nn.Sequential(*(EncoderBlock(arch.dim, arch.heads, hidden, adjacency, arch.dropout)
                                       for _ in range(arch.depth)))
        if arch.decoder:
            self.decoder = BodyPartDecoder(arch, layout)
        else:
            self.norm = nn.LayerNorm(arch.dim)
            self.position_head = nn.Linear(arch.dim, 3)
            with torch.no_grad():  # start near zero, as the graph-convolution heads do (see graph.py)
                self.position_head.weight.mul_(0.1)
                self.position_head.bias.zero_()
            self.error_head = nn.Linear(arch.dim, 1)
        self.use_decoder = arch.decoder

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.encoder(torch.einsum("bjc,jcd->bjd", features, self.embed_weight) + self.joint_embedding)
        if not self.use_decoder:
            x = self.norm(x)
            return self.position_head(x), F.softplus(self.error_head(x))[..., 0]
        return self.decoder(x)
