"""Training losses of the lifters (the seed's loss, the same for every model).

All positions are root-relative, in metres; means run over samples and joints (bones, triangles).

* position: mean squared Euclidean joint error, ``mean ||y_hat - y||^2`` (m^2);
* error: mean squared difference between the predicted per-joint error and the actual one, ``||y_hat - y||``,
  detached so the error head learns to report the error without pushing the pose (m^2);
* normal: for each limb triangle (proximal, middle, distal joint), the ground truth's unit normal ``n`` and the
  predicted triangle's three unit edge vectors ``e``: ``mean |<e, n>|`` (dimensionless; 0 when the predicted limb
  lies in the true limb's plane);
* bone: mean squared difference of every bone vector (child minus parent in the kinematic tree) (m^2).

Total = position * 0.5 + error * 0.25 + normal * 2.5e-4 + bone * 5e-4 by default (the seed's weights). With
poses in metres the geometry terms are small next to the position term; ``LossWeights`` changes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..skeleton import Layout


@dataclass(frozen=True)
class LossWeights:
    position: float = 0.5
    error: float = 0.25
    normal: float = 2.5e-4
    bone: float = 5e-4


def position_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).square().sum(-1).mean()


def error_loss(pred_error: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    actual = (pred - target).detach().norm(dim=-1)
    return (pred_error - actual).square().mean()


def normal_loss(pred: torch.Tensor, target: torch.Tensor, triangles: Sequence[tuple[int, int, int]]) -> torch.Tensor:
    tri = torch.as_tensor(list(triangles), device=pred.device)
    a, b, c = (target[:, tri[:, k]] for k in range(3))
    normal = F.normalize(torch.linalg.cross(b - a, c - a), dim=-1, eps=1e-8)
    pa, pb, pc = (pred[:, tri[:, k]] for k in range(3))
    edges = F.normalize(torch.stack([pb - pa, pc - pb, pa - pc], dim=-2), dim=-1, eps=1e-8)  # (B, T, 3, 3)
    return (edges * normal[..., None, :]).sum(-1).abs().mean()


def bone_loss(pred: torch.Tensor, target: torch.Tensor, bones: Sequence[tuple[int, int]]) -> torch.Tensor:
    parents, children = (list(x) for x in zip(*bones, strict=True))
    pred_bones = pred[:, children] - pred[:, parents]
    target_bones = target[:, children] - target[:, parents]
    return (pred_bones - target_bones).square().sum(-1).mean()


def lifting_losses(pred: torch.Tensor, pred_error: torch.Tensor, target: torch.Tensor, layout: Layout,
                   weights: LossWeights) -> dict[str, torch.Tensor]:
    """Every term and their weighted sum ``total``, for poses (B, J, 3) and predicted errors (B, J)."""
    terms = {
        "position": position_loss(pred, target),
        "error": error_loss(pred_error, pred, target),
        "normal": normal_loss(pred, target, layout.triangles.values()),
        "bone": bone_loss(pred, target, layout.bones),
    }
    terms["total"] = sum(getattr(weights, name) * value for name, value in terms.items())
    return terms
