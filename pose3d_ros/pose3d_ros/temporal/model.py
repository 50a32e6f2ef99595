"""3D-UGCN: a U-shaped spatio-temporal graph convolutional network that refines a window of 3D skeletons.

After "3D-UGCN: A Unified Graph Convolutional Network for Robust 3D Human Pose Estimation from Monocular RGB
Images" and the U-shaped GCN of Wang et al., "Motion Guided 3D Pose Estimation from Videos" (ECCV 2020), built from
the ST-GCN block of Yan et al. (AAAI 2018):

* input: a window (B, T, J, 3) of root-relative 3D poses in metres plus two per-joint flags, ``observed`` (seen by
  the 2D stage) and ``valid`` (has any estimate: missing joints are pre-filled by the caller and flagged 0/0);
  the (J x channels) input is batch-normalised as in ST-GCN;
* down-sampling stage: nine ST-GCN blocks raising the channels through ``widths`` (3 -> 16 -> 32 -> 64 -> 128 ->
  256 in the paper), temporal stride 2 on the 2nd, 4th, 6th and 8th block;
* up-sampling stage: four ST-GCN blocks, each followed by temporal up-sampling to the length of the next finer
  level, whose down-sampling features are added (U-Net skips);
* fusion stage: the outputs of the three coarser up-sampling blocks each go through one more ST-GCN block to
  ``widths[0]`` channels (at their own, short length), are resized to the window length and summed with the
  full-length features of the U into the final embedding (no block runs at full length there: on a CPU with
  133 joints the full-length blocks dominate the cost);
* output: a per-joint residual that is added to the (pre-filled) input, so an untrained network is the identity;
  the residual of the root centre is removed, so the output stays root-relative (the root trajectory is refined
  apart, see :mod:`.trajectory`).

Addition to the seed: the residual is added not to the input itself but to a learned linear temporal mixing of it
(a (T, T) matrix shared by all joints and coordinates, initialised to the identity): one learned smoothing filter
per output frame, the causal end of the window included. On a CPU budget of a few thousand steps the U-Net alone
learns even plain denoising slowly; this linear path learns it in a few hundred steps and leaves the U-Net the
non-linear work (occlusions, pose-dependent errors). It ties the network to its window length
(``temporal_mix=False`` removes it; docs/temporal.md has the ablation).

Temporal lengths need not be powers of two: every stride-2 convolution gives ceil(T / 2) frames and every
up-sampling resizes to the exact length of the level it returns to.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..skeleton import Layout, get_layout
from .trajectory import ROOT_JOINTS

INPUT_CHANNELS = 5  # x, y, z, observed, valid


@dataclass(frozen=True)
class UGCNConfig:
    """Architecture of a :class:`UGCN`; stored as JSON next to the weights."""

    layout: str = "wholebody133"
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    temporal_kernel: int = 5
    dropout: float = 0.05
    window: int = 16
    """Frames per window (the learned temporal mixing is made for this length)."""
    fps: float = 25.0
    """Frame rate of the training sequences: the rate the streaming refiner resamples its input to."""
    temporal_mix: bool = True
    """Add the learned linear temporal mixing (see :class:`UGCN`); without it any window length is accepted."""
    centred: bool = False
    """Trained for offline refinement (every frame of the window is an output, the future on both sides; see
    :mod:`.offline`) rather than for streaming (the output frame near the window's end)."""

    def __post_init__(self) -> None:
        get_layout(self.layout)
        if self.window < 2 or not self.fps > 0:
            raise ValueError(f"need window >= 2 and fps > 0, got window={self.window}, fps={self.fps}")
        if len(self.widths) != 5 or min(self.widths) < 1:
            raise ValueError(f"UGCN needs five positive channel widths (one per level), got {self.widths}")
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f"the temporal kernel must be odd and positive, got {self.temporal_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, data: dict) -> UGCNConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown UGCN settings {sorted(unknown)}")
        return cls(**{**data, "widths": tuple(int(w) for w in data.get("widths", cls.widths))})


def spatial_partitions(layout: Layout) -> np.ndarray:
    """ST-GCN's spatial-configuration partitions of the skeleton graph: (3, J, J) normalised adjacency.

    Partition 0 holds each joint and its neighbours at the same hop distance from the layout's root, 1 the
    neighbours closer to the root (centripetal), 2 those farther away (centrifugal). Entry [k, v, w] weighs
    joint v's features in joint w's output; columns are divided by w's degree so every joint averages.
    """
    num = layout.num_joints
    neighbours: list[list[int]] = [[] for _ in range(num)]
    for a, b in layout.edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    hops = np.full(num, -1)
    hops[layout.root] = 0
    queue = deque([layout.root])
    while queue:
        joint = queue.popleft()
        for other in neighbours[joint]:
            if hops[other] < 0:
                hops[other] = hops[joint] + 1
                queue.append(other)
    parts = np.zeros((3, num, num), dtype=np.float32)
    for w in range(num):
        parts[0, w, w] = 1.0
        for v in neighbours[w]:
            k = 0 if hops[v] == hops[w] else (1 if hops[v] < hops[w] else 2)
            parts[k, v, w] = 1.0
    degree = parts.sum(axis=(0, 1))
    return parts / degree[None, None, :]


class GraphAggregation(nn.Module):
    """Neighbour sums over the K partitions of the skeleton graph, as one matrix product over the joint axis.

    Applied to a block's input (before its 1x1 convolution, which then mixes channels and partitions): on a CPU
    this ordering is about twice as fast as ST-GCN's convolve-then-aggregate, and sparse gathers are slower still.
    """

    def __init__(self, partitions: np.ndarray) -> None:
        super().__init__()
        self.partitions, num_joints = partitions.shape[0], partitions.shape[1]
        # (J, K * J): column k * J + w holds partition k's weights of every joint in joint w's sum.
        matrix = np.ascontiguousarray(partitions.transpose(1, 0, 2).reshape(num_joints, -1))
        self.register_buffer("matrix", torch.from_numpy(matrix), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, J) -> (B, C * K, T, J), channels ordered (channel, partition)."""
        batch, channels, frames, joints = x.shape
        out = (x.reshape(-1, joints) @ self.matrix).view(batch, channels, frames, self.partitions, joints)
        return out.transpose(2, 3).reshape(batch, channels * self.partitions, frames, joints)


class STGCNBlock(nn.Module):
    """Spatial graph convolution over the skeleton, then a temporal convolution (optionally strided), residual."""

    def __init__(self, c_in: int, c_out: int, partitions: int, kernel: int, stride: int = 1,
                 dropout: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(c_in * partitions, c_out, kernel_size=1)
        self.temporal = nn.Sequential(
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, kernel_size=(kernel, 1), stride=(stride, 1), padding=(kernel // 2, 0)),
            nn.BatchNorm2d(c_out),
            nn.Dropout(dropout, inplace=True),
        )
        if not residual:
            self.residual = None
        elif c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, stride=(stride, 1)),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor, graph: GraphAggregation) -> torch.Tensor:
        y = self.temporal(self.spatial(graph(x)))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


def _resize(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear temporal resizing of (B, C, T, J) features to ``frames`` frames."""
    if x.shape[2] == frames:
        return x
    return F.interpolate(x, size=(frames, x.shape[3]), mode="bilinear", align_corners=False)


class UGCN(nn.Module):
    """The U-shaped ST-GCN refiner. ``forward(poses (B,T,J,3), observed (B,T,J), valid (B,T,J)) -> (B,T,J,3)``."""

    def __init__(self, config: UGCNConfig) -> None:
        super().__init__()
        self.config = config
        layout = get_layout(config.layout)
        self.num_joints = layout.num_joints
        self.root_joints = list(ROOT_JOINTS[layout.name])
        self.graph = GraphAggregation(spatial_partitions(layout))
        parts, k, p = 3, config.temporal_kernel, config.dropout
        w = config.widths
        self.input_norm = nn.BatchNorm1d(INPUT_CHANNELS * self.num_joints)
        # Down-sampling: block 1 lifts the input to w[0]; blocks 2..9 come in pairs (stride 2, then stride 1).
        down = [STGCNBlock(INPUT_CHANNELS, w[0], parts, k, residual=False)]
        for level in range(1, 5):
            down.append(STGCNBlock(w[level - 1], w[level], parts, k, stride=2, dropout=p))
            down.append(STGCNBlock(w[level], w[level], parts, k, dropout=p))
        self.down = nn.ModuleList(down)
        # Up-sampling: up[i] maps level i+1's features to w[i] before they are resized to level i's length.
        self.up = nn.ModuleList(STGCNBlock(w[i + 1], w[i], parts, k, dropout=p) for i in range(4))
        # Fusion: the outputs of up[1..3] (levels 2..4) each to w[0] channels, at their own (short) length.
        self.fuse = nn.ModuleList(STGCNBlock(w[i], w[0], parts, k, dropout=p) for i in range(1, 4))
        self.head = nn.Conv2d(w[0], 3, kernel_size=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # Learned linear temporal mixing of the input, one filter per output frame (identity at the start).
        self.mix = nn.Parameter(torch.eye(config.window)) if config.temporal_mix else None

    def forward(self, poses: torch.Tensor, observed: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        batch, frames, joints, _ = poses.shape
        if joints != self.num_joints:
            raise ValueError(f"this UGCN was built for {self.num_joints} joints ({self.config.layout}), "
                             f"got poses with {joints}")
        if self.mix is not None and frames != self.config.window:
            raise ValueError(f"this UGCN was built for windows of {self.config.window} frames, got {frames}")
        flags = torch.stack((observed, valid), dim=-1).to(poses.dtype)
        x = torch.cat((poses, flags), dim=-1)  # (B, T, J, C)
        x = self.input_norm(x.permute(0, 2, 3, 1).reshape(batch, joints * INPUT_CHANNELS, frames))
        x = x.view(batch, joints, INPUT_CHANNELS, frames).permute(0, 2, 3, 1).contiguous()  # (B, C, T, J)

        a = self.graph
        levels = [self.down[0](x, a)]
        for level in range(1, 5):
            levels.append(self.down[2 * level](self.down[2 * level - 1](levels[-1], a), a))

        up_features = []  # output of up[i], at level i+1's length, with w[i] channels
        y = levels[4]
        for i in (3, 2, 1, 0):
            y = self.up[i](y, a)
            up_features.append(y)
            y = _resize(y, levels[i].shape[2])
            if i > 0:
                y = y + levels[i]
        fused = y + levels[0]  # the up-sampling path back at full length, plus the finest down-sampling features
        for i in (1, 2, 3):
            fused = fused + _resize(self.fuse[i - 1](up_features[3 - i], a), frames)
        residual = self.head(fused).permute(0, 2, 3, 1)  # (B, T, J, 3)
        # The root centre stays where it was: the root trajectory is refined apart from the pose.
        residual = residual - residual[:, :, self.root_joints].mean(dim=2, keepdim=True)
        base = poses if self.mix is None else torch.einsum("ts,bsjc->btjc", self.mix, poses)
        return base + residual
