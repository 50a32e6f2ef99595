"""Training of every lifter with one loop: the same data, losses, optimiser and schedule for SemGAN and the
baselines, so that their numbers compare.

AdamW (lr 1e-3, weight decay 1e-2) with cosine decay to 0 over all steps, batch 200, random left-right mirroring
of half of each batch, the seed's loss (:mod:`.losses`). A lifter with the gravity input sees it dropped (unknown)
on a random ``gravity_dropout`` of the samples of each batch, so that it still lifts well without it. After each
epoch: validation MPJPE on a fixed subset of the validation set (with the gravity input withheld as well), a
checkpoint (:mod:`pose3d_ros.checkpoint`: safetensors + JSON, no pickle) that ``resume`` continues from, and the
training-curve PNG. The final weights are those of the last epoch (the validation set is only watched, never used
to pick a model).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..skeleton import Layout
from .config import LifterConfig
from .losses import LossWeights, lifting_losses
from .models import build_model, parameter_count
from .normalization import (
    centre_on_root,
    flip_coordinates,
    flip_gravity,
    flip_poses,
    gravity_input,
    joint_features,
    normalise_keypoints,
    root_centre,
)
from .perspective import virtual_views
from .weights_io import save_lifter, warm_start

LOG = logging.getLogger(__name__)
REQUIRED_KEYS = ("kp2d", "conf", "K", "pose3d")


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 10
    batch_size: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-2
    loss: LossWeights = field(default_factory=LossWeights)
    flip_augment: bool = True
    seed: int = 0
    max_val_samples: int = 4000
    gravity_dropout: float = 0.5
    """Fraction of samples whose gravity input is dropped (unknown) in training."""


@dataclass
class LiftingSamples:
    """Training pairs in the network's terms: normalised 2D (N, J, 2), confidence (N, J), root-relative 3D (N, J, 3)
    and the world's up direction in the (virtual) camera's frame (N, 3), NaN where the data does not give it.
    """

    coords: torch.Tensor
    conf: torch.Tensor
    target: torch.Tensor
    up: torch.Tensor

    def __len__(self) -> int:
        return len(self.coords)

    def subset(self, index) -> LiftingSamples:
        return LiftingSamples(self.coords[index], self.conf[index], self.target[index], self.up[index])

    def gravity(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        """The gravity channels (N, 4), known where the data gives the up direction and ``keep`` (N,) (default
        everywhere).
        """
        known = torch.isfinite(self.up).all(-1)
        return gravity_input(torch.nan_to_num(self.up), known if keep is None else known & keep)


def prepare_samples(data: dict[str, np.ndarray], layout: Layout, chunk: int = 65536, *,
                    perspective_correction: bool = True) -> LiftingSamples:
    """Normalise a lifting set (``pose3d_ros.data.make_lifting_set``'s arrays) once, up front. With
    ``perspective_correction`` (as :class:`~pose3d_ros.lifting.Lifter` lifts by default) each sample is first seen
    by its virtual camera (:mod:`.perspective`), its up direction turned with it: the network learns the views it
    will be given. Data without ``up`` has it unknown.
    """
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"lifting data lacks {', '.join(missing)} (needs {', '.join(REQUIRED_KEYS)})")
    count, joints = data["kp2d"].shape[:2]
    if joints != layout.num_joints or data["pose3d"].shape[:2] != (count, joints):
        raise ValueError(f"lifting data has kp2d {data['kp2d'].shape} and pose3d {data['pose3d'].shape}; layout "
                         f"{layout.name} needs {layout.num_joints} joints")
    if count == 0:
        raise ValueError("lifting data is empty")
    all_up = data["up"] if "up" in data else np.full((count, 3), np.nan, np.float32)
    coords, poses, ups = [], [], []
    for start in range(0, count, chunk):
        part = slice(start, start + chunk)
        kp2d, pose3d, up = data["kp2d"][part], data["pose3d"][part], all_up[part]
        if perspective_correction:
            kp2d, rotation = virtual_views(kp2d, data["conf"][part], data["K"][part], layout)
            pose3d = np.einsum("pij,pkj->pki", rotation, pose3d)
            up = np.einsum("pij,pj->pi", rotation, up)
        ups.append(torch.as_tensor(up, dtype=torch.float32))
        coords.append(normalise_keypoints(torch.as_tensor(kp2d, dtype=torch.float32),
                                          torch.as_tensor(data["conf"][part], dtype=torch.float32),
                                          torch.as_tensor(data["K"][part], dtype=torch.float32), layout))
        poses.append(torch.as_tensor(pose3d, dtype=torch.float32))
    pose3d = torch.cat(poses)
    return LiftingSamples(torch.cat(coords), torch.as_tensor(data["conf"], dtype=torch.float32),
                          pose3d - root_centre(pose3d, layout)[:, None], torch.cat(ups))


def cosine_lr(base: float, step: int, total: int) -> float:
    return 0.5 * base * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


# ------------------------------------------------------------------------------------------------------------------
# Training loop
# ------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def predict_samples(model: nn.Module, samples: LiftingSamples, config: LifterConfig, batch: int = 1024, *,
                    gravity_known: bool = True) -> torch.Tensor:
    """Root-relative poses for prepared samples, without flip augmentation (validation); ``gravity_known`` False
    withholds the up direction from a lifter that takes it.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    poses = []
    for start in range(0, len(samples), batch):
        part = samples.subset(slice(start, start + batch))
        gravity = part.gravity(torch.full((len(part),), gravity_known))
        features = joint_features(part.coords.to(device), part.conf.to(device), config.skeleton, config.inputs,
                                  gravity.to(device))
        poses.append(centre_on_root(model(features)[0], config.skeleton).cpu())
    model.train(was_training)
    return torch.cat(poses)


def mpjpe_mm(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred - target).norm(dim=-1).mean()) * 1000.0


def plot_curves(history: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_err, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    ax_err.plot(epochs, [h["train_mpjpe_mm"] for h in history], "o-", label="train (running)")
    ax_err.plot(epochs, [h["val_mpjpe_mm"] for h in history], "o-", label="validation")
    ax_err.set(xlabel="epoch", ylabel="MPJPE (mm)", title="root-relative MPJPE")
    ax_err.legend()
    ax_loss.semilogy(epochs, [h["train_loss"] for h in history], "o-", label="train total loss")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="training loss")
    ax_loss.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_lifter(config: LifterConfig, train: LiftingSamples, val: LiftingSamples, options: TrainOptions,
                 out_dir: str | Path, *, resume: bool = False, device: torch.device | str = "cpu",
                 progress: bool = True, data_record: dict | None = None, init_weights: str | Path | None = None,
                 on_epoch: Callable[[dict], None] | None = None) -> tuple[nn.Module, list[dict]]:
    """Train ``config``'s network; writes ``out_dir``/checkpoint.*, curves.png and the final lifter.safetensors
    (+ .json with the training record). Returns the trained network and the per-epoch history. ``init_weights``:
    start from that trained lifter (:func:`.weights_io.warm_start`) instead of a fresh network.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    layout = config.skeleton
    device = torch.device(device)
    if len(train) < options.batch_size:
        raise ValueError(f"{len(train)} training samples are fewer than one batch of {options.batch_size}")
    torch.manual_seed(options.seed)
    model = build_model(config)
    if init_weights is not None and not resume:
        warm_start(model, config, init_weights)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    steps_per_epoch = len(train) // options.batch_size
    total_steps = steps_per_epoch * options.epochs
    history: list[dict] = []
    first_epoch, elapsed = 0, 0.0
    if resume:
        state = load_checkpoint(out_dir, model, optimizer, config.to_dict())
        first_epoch, history, elapsed = state["epoch"], state["history"], state["train_seconds"]
        LOG.info("resuming %s after epoch %d", out_dir, first_epoch)
    val_index = np.random.default_rng(options.seed).permutation(len(val))[: options.max_val_samples]
    val_subset = val.subset(torch.as_tensor(np.sort(val_index)))
    LOG.info("training %s on %s: %d parameters, %d samples, %d steps/epoch, %d epochs, %d torch threads",
             config.model, layout.name, parameter_count(model), len(train), steps_per_epoch, options.epochs,
             torch.get_num_threads())

    for epoch in range(first_epoch, options.epochs):
        model.train()
        started = time.perf_counter()
        order = torch.as_tensor(np.random.default_rng([options.seed, epoch]).permutation(len(train)))
        flip_generator = torch.Generator().manual_seed(options.seed * 1000 + epoch)
        gravity_generator = torch.Generator().manual_seed(options.seed * 1000 + epoch + 500)
        loss_sum = error_sum = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{options.epochs}", disable=not progress,
                   mininterval=5.0, dynamic_ncols=True)
        for step_in_epoch in bar:
            step = epoch * steps_per_epoch + step_in_epoch
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(options.lr, step, total_steps)
            batch = train.subset(order[step_in_epoch * options.batch_size:(step_in_epoch + 1) * options.batch_size])
            coords, conf, target = batch.coords, batch.conf, batch.target
            gravity = batch.gravity(torch.rand(len(coords), generator=gravity_generator) >= options.gravity_dropout)
            if options.flip_augment:
                mirror = torch.rand(len(coords), generator=flip_generator) < 0.5
                flipped_coords, flipped_conf = flip_coordinates(coords, conf, layout)
                coords = torch.where(mirror[:, None, None], flipped_coords, coords)
                conf = torch.where(mirror[:, None], flipped_conf, conf)
                target = torch.where(mirror[:, None, None], flip_poses(target, layout), target)
                gravity = torch.where(mirror[:, None], flip_gravity(gravity), gravity)
            features = joint_features(coords.to(device), conf.to(device), layout, config.inputs, gravity.to(device))
            pose, error = model(features)
            pose = centre_on_root(pose, layout)
            terms = lifting_losses(pose, error, target.to(device), layout, options.loss)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            optimizer.step()
            loss_sum += terms["total"].item()
            error_sum += float((pose.detach() - target.to(device)).norm(dim=-1).mean())
            if step_in_epoch % 20 == 0:
                bar.set_postfix(loss=f"{terms['total'].item():.2e}",
                                mpjpe_mm=f"{1000 * error_sum / (step_in_epoch + 1):.1f}")
        bar.close()
        elapsed += time.perf_counter() - started
        val_pose = predict_samples(model, val_subset, config)
        record = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": cosine_lr(
            options.lr, (epoch + 1) * steps_per_epoch, total_steps), "train_loss": loss_sum / steps_per_epoch,
            "train_mpjpe_mm": 1000 * error_sum / steps_per_epoch,
            "val_mpjpe_mm": mpjpe_mm(val_pose, val_subset.target), "train_seconds": elapsed}
        if config.inputs.gravity:
            record["val_mpjpe_gravity_unknown_mm"] = mpjpe_mm(
                predict_samples(model, val_subset, config, gravity_known=False), val_subset.target)
        history.append(record)
        unknown = record.get("val_mpjpe_gravity_unknown_mm")
        LOG.info("epoch %d: train loss %.3e, train MPJPE %.1f mm, validation MPJPE %.1f mm%s (%.0f s so far)",
                 record["epoch"], record["train_loss"], record["train_mpjpe_mm"], record["val_mpjpe_mm"],
                 "" if unknown is None else f" ({unknown:.1f} with gravity unknown)", elapsed)
        save_checkpoint(out_dir, model, optimizer, {"epoch": epoch + 1, "history": history, "train_seconds": elapsed,
                                                    "options": asdict(options)}, config.to_dict())
        plot_curves(history, out_dir / "curves.png", f"{config.model} / {layout.name}")
        if on_epoch is not None:
            on_epoch(record)

    training_record = {"options": asdict(options), "history": history, "train_seconds": elapsed,
                       "train_samples": len(train), "torch_threads": torch.get_num_threads(), "device": str(device),
                       "parameters": parameter_count(model), "data": data_record or {},
                       "init_weights": None if init_weights is None else str(init_weights)}
    save_lifter(out_dir / "lifter.safetensors", model, config, training_record)
    return model.eval(), history
