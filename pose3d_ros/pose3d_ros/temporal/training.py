"""Training the 3D-UGCN: the loss, a resumable loop with safetensors checkpoints, and the training curve.

Loss: MPJPE (mean Euclidean joint error, metres) over every joint of every frame of the window, with the joints
the 2D stage did not observe (INFERRED or missing) weighted ``occluded_weight`` times -- the refiner's job there is
hardest and matters most (``occluded_weight = 1`` is plain MPJPE); plus ``accel_weight`` times the acceleration
error of the *streamed* output: each sample is three windows ending at consecutive frames, like three consecutive
streaming steps, and the outputs they would publish for one look-ahead (random per sample, 0 to half the window)
form three consecutive output frames whose second difference is compared with the truth's. A loss on the window's
own frames would not see this jitter: each published frame comes from a different window. Both are ablated in
docs/temporal.md.

Offline (``TrainConfig.offline``, a network with ``centred`` windows): every frame of the window is an output,
blended with the overlapping windows' by triangular weights (:mod:`.offline`); the loss weighs each frame by its
blend weight, and the acceleration error is that of the window's own frames, which is what the blend publishes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..skeleton import Layout, get_layout
from . import DEFAULT_LOOKAHEAD, DEFAULT_OFFLINE_MAX_GAP_S
from .dataset import Sequences, offline_training_batch, training_batch
from .model import UGCN, UGCNConfig
from .offline import blend_weights
from .weights import save_weights

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    occluded_weight: float = 2.0
    accel_weight: float = 1.0
    eval_every: int = 250
    seed: int = 0
    offline: bool = False
    """Train for offline refinement: windows anywhere, pre-filled from both sides, every frame an output."""
    max_gap_s: float = DEFAULT_OFFLINE_MAX_GAP_S
    """Offline: the longest gap the pre-fill interpolates (as the offline refiner)."""
    mirror: bool = False
    """Mirror every other window (camera x negated, left and right exchanged): what each subject does is not
    left-right symmetric, the world is."""


def mirror_every_other(batch: dict[str, np.ndarray], layout: Layout, group: int = 1) -> dict[str, np.ndarray]:
    """Windows (B, T, J, ...) of camera-frame poses with every other sample of ``group`` windows (consecutive
    streaming windows stay together) seen in a mirror: poses through ``layout.flip_points`` (x negated, left and
    right exchanged), the joints' flags exchanged alike.
    """
    seen = (np.arange(len(batch["poses"])) // group) % 2 == 1
    mirrored = {name: array.copy() for name, array in batch.items()}
    for name, array in mirrored.items():
        array[seen] = (layout.flip_points(array[seen], axis=0) if name in ("poses", "target")
                       else array[seen][:, :, list(layout.flip)])
    return mirrored


def weighted_mpjpe(pred: torch.Tensor, target: torch.Tensor, observed: torch.Tensor,
                   occluded_weight: float, frame_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean joint error (B, T, J, 3) with unobserved joints weighted ``occluded_weight`` times, and each window
    position by ``frame_weight`` (T,) when given.
    """
    weight = torch.where(observed, 1.0, occluded_weight)
    if frame_weight is not None:
        weight = weight * frame_weight[:, None]
    return ((pred - target).norm(dim=-1) * weight).sum() / weight.sum()


def window_acceleration_error(pred: torch.Tensor, target: torch.Tensor, frame_weight: torch.Tensor) -> torch.Tensor:
    """Acceleration error (metres/frame^2) of a window's own frames (B, T, J, 3), each second difference weighted
    by the ``frame_weight`` (T,) of its middle frame.
    """
    def acceleration(x: torch.Tensor) -> torch.Tensor:
        return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]

    error = (acceleration(pred) - acceleration(target)).norm(dim=-1).mean(dim=(0, 2))
    weight = frame_weight[1:-1]
    return (error * weight).sum() / weight.sum()


STREAM_WINDOWS = 3  # consecutive windows per sample: enough for one acceleration of the streamed output


def streamed_acceleration_error(pred: torch.Tensor, target: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Mean acceleration error (metres/frame^2) of the streamed output: ``pred`` and ``target`` (B * 3, T, J, 3)
    hold B samples of three windows ending at consecutive frames; ``positions`` (B,) the window position that is
    published (T - 1 - look-ahead). Window c's frame at that position is output frame c of three consecutive ones.
    """
    batch = len(positions)
    index = torch.arange(batch)

    def published(x: torch.Tensor) -> torch.Tensor:  # (B, 3, J, 3)
        x = x.view(batch, STREAM_WINDOWS, *x.shape[1:])
        return x[index, :, positions]

    p, t = published(pred), published(target)
    acceleration = (p[:, 2] - 2 * p[:, 1] + p[:, 0]) - (t[:, 2] - 2 * t[:, 1] + t[:, 0])
    return acceleration.norm(dim=-1).mean()


MIX_FIT_WINDOWS = 1024


def least_squares_mix(batch: dict[str, torch.Tensor], ridge: float = 1e-3) -> torch.Tensor:
    """The (T, T) linear filter that maps the windows' (pre-filled) input best to the truth, least squares over every
    joint and coordinate: where the learned temporal mixing of a network starts when it changes window length, so
    that its residual U-Net, trained on top of a smoothing filter, keeps one under it.
    """
    frames = batch["poses"].shape[1]
    x = batch["poses"].double().transpose(0, 1).reshape(frames, -1)
    y = batch["target"].double().transpose(0, 1).reshape(frames, -1)
    gram = x @ x.T
    gram += ridge * gram.diagonal().mean() * torch.eye(frames, dtype=gram.dtype)
    return torch.linalg.solve(gram, x @ y.T).T.float()


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up over the first 5 % of the steps, then cosine decay to 1 % of ``config.lr``."""
    warmup = max(1, config.steps // 20)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.lr * (0.01 + 0.99 * 0.5 * (1.0 + np.cos(np.pi * progress)))


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in batch.items()}


@torch.no_grad()
def offline_validation_error(model: UGCN, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """On a fixed validation batch of offline windows, for the network and for its (pre-filled) input: MPJPE
    (metres) on all joints and on unobserved ones, weighted by the blend weights, and the window's acceleration
    error.
    """
    model.eval()
    pred = model(batch["poses"], batch["observed"], batch["valid"])
    model.train()
    blend = torch.from_numpy(blend_weights(pred.shape[1])).float()
    unobserved = ~batch["observed"]
    out = {}
    for name, poses in (("model", pred), ("input", batch["poses"])):
        out[f"{name}_all"] = float(weighted_mpjpe(poses, batch["target"], batch["observed"], 1.0, blend))
        weight = unobserved * blend[:, None]
        err = (poses - batch["target"]).norm(dim=-1)
        out[f"{name}_unobserved"] = float((err * weight).sum() / weight.sum()) if unobserved.any() else float("nan")
        out[f"{name}_accel_window"] = float(window_acceleration_error(poses, batch["target"], blend))
    return out


@torch.no_grad()
def validation_error(model: UGCN, batch: dict[str, torch.Tensor], lookahead: int) -> dict[str, float]:
    """On a fixed validation batch (samples of three consecutive windows), for the network and for its input:
    MPJPE (metres) on all joints and on unobserved ones, and the streamed output's acceleration error at look-ahead
    0 and ``lookahead``.
    """
    model.eval()
    pred = model(batch["poses"], batch["observed"], batch["valid"])
    model.train()
    unobserved = ~batch["observed"]
    samples, window = len(pred) // STREAM_WINDOWS, pred.shape[1]
    out = {}
    for name, poses in (("model", pred), ("input", batch["poses"])):
        err = (poses - batch["target"]).norm(dim=-1)
        out[f"{name}_all"] = float(err.mean())
        out[f"{name}_unobserved"] = float(err[unobserved].mean()) if unobserved.any() else float("nan")
        for ahead in (0, lookahead):
            positions = torch.full((samples,), window - 1 - ahead)
            out[f"{name}_accel_L{ahead}"] = float(streamed_acceleration_error(poses, batch["target"], positions))
    return out


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (ax, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(steps, [1000 * h["train_loss"] for h in history], label="training loss")
    for key, label in (("model_all", "validation MPJPE, refined"), ("input_all", "validation MPJPE, input"),
                       ("model_unobserved", "validation, unobserved joints, refined"),
                       ("input_unobserved", "validation, unobserved joints, input")):
        ax.plot(steps, [1000 * h[key] for h in history], label=label, linestyle="--" if "input" in key else "-")
    ax.set_ylabel("mm")
    accel_keys = sorted(k for k in history[-1] if "_accel_" in k)
    for key in accel_keys:
        name, _, lookahead = key.split("_")
        ax_acc.plot(steps, [1000 * h[key] for h in history], linestyle="--" if name == "input" else "-",
                    label=f"{'refined' if name == 'model' else 'input'}, {lookahead}")
    ax_acc.set_ylabel("acceleration error, mm/frame^2")
    for a, title in ((ax, "pose error"), (ax_acc, "jitter")):
        a.set_xlabel("step")
        a.set_title(f"3D-UGCN training: {title}")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train(sequences: Sequences, validation: Sequences, model_config: UGCNConfig, config: TrainConfig,
          out_dir: Path, *, resume: bool = False, init: UGCN | None = None, name: str = "temporal_ugcn",
          record: dict | None = None, progress: bool = True) -> tuple[UGCN, list[dict]]:
    """Train (or resume) and write ``out_dir/NAME.safetensors`` + ``.json``, checkpoints and ``curves.png``.
    ``init``: a trained network to start from (fine-tuning) instead of a fresh one: the same configuration, but
    for its window length and centring (a streaming network starts an offline one); with another window length
    its learned temporal mixing, which is made for its length, is replaced by :func:`least_squares_mix`.
    """
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = UGCN(model_config)
    if init is not None:
        if replace(init.config, window=model_config.window, centred=model_config.centred) != model_config:
            raise ValueError(f"cannot start from a network configured {init.config}: training {model_config}")
        state = init.state_dict()
        if init.config.window != model_config.window:
            state["mix"] = least_squares_mix(_tensors(offline_training_batch(
                sequences, model_config.window, MIX_FIT_WINDOWS, np.random.default_rng(config.seed), config.max_gap_s)
                if config.offline else training_batch(sequences, model_config.window, MIX_FIT_WINDOWS,
                                                      np.random.default_rng(config.seed))))
        model.load_state_dict(state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if sequences.fps != model_config.fps or sequences.layout != model_config.layout:
        raise ValueError(f"{sequences.layout} sequences at {sequences.fps} Hz do not fit a {model_config.layout} "
                         f"network for {model_config.fps} Hz")
    meta = {"train": asdict(config), "model": model_config.to_dict()}
    settings = {"model": meta["model"], "steps": config.steps}  # a resumed run must share these
    step, history = 0, []
    if resume:
        saved = load_checkpoint(out_dir, model, optimizer, settings)
        step, history = int(saved["step"]), list(saved["history"])
        LOG.info("resuming at step %d of %d", step, config.steps)
    if config.offline != model_config.centred:
        raise ValueError("offline training needs a network with centred windows, streaming training one without")
    validation_rng = np.random.default_rng(12345)
    if config.offline:
        validation_batch = _tensors(offline_training_batch(validation, model_config.window,
                                                           min(510, 9 * len(validation)), validation_rng,
                                                           config.max_gap_s))
    else:
        validation_batch = _tensors(training_batch(validation, model_config.window, min(170, 3 * len(validation)),
                                                   validation_rng, consecutive=STREAM_WINDOWS))
    lookahead = min(DEFAULT_LOOKAHEAD, model_config.window // 2)
    blend = torch.from_numpy(blend_weights(model_config.window)).float()
    layout = get_layout(sequences.layout)
    model.train()
    started = time.monotonic()
    losses: list[float] = []
    bar = tqdm(total=config.steps, initial=step, desc="train temporal", unit="step", disable=not progress)
    while step < config.steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        # Every step draws from its own seeds, so a resumed run continues exactly as an uninterrupted one.
        torch.manual_seed(config.seed * 1_000_003 + step)
        rng = np.random.default_rng([config.seed, step])
        if config.offline:
            batch = offline_training_batch(sequences, model_config.window, config.batch, rng, config.max_gap_s)
        else:
            consecutive = STREAM_WINDOWS if config.accel_weight > 0 else 1
            batch = training_batch(sequences, model_config.window, config.batch, rng, consecutive=consecutive)
        batch = _tensors(mirror_every_other(batch, layout, 1 if config.offline else consecutive) if config.mirror
                         else batch)
        pred = model(batch["poses"], batch["observed"], batch["valid"])
        if config.offline:
            loss = (weighted_mpjpe(pred, batch["target"], batch["observed"], config.occluded_weight, blend)
                    + config.accel_weight * window_acceleration_error(pred, batch["target"], blend))
        else:
            loss = weighted_mpjpe(pred, batch["target"], batch["observed"], config.occluded_weight)
        if config.accel_weight > 0 and not config.offline:
            positions = torch.from_numpy(model_config.window - 1 - rng.integers(0, model_config.window // 2 + 1,
                                                                                config.batch))
            loss = loss + config.accel_weight * streamed_acceleration_error(pred, batch["target"], positions)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss_mm=f"{1000 * np.mean(losses[-50:]):.1f}")
        if step % config.eval_every == 0 or step == config.steps:
            errors = (offline_validation_error(model, validation_batch) if config.offline
                      else validation_error(model, validation_batch, lookahead))
            history.append({"step": step, "train_loss": float(np.mean(losses)), **errors,
                            "seconds": time.monotonic() - started})
            losses = []
            if config.offline:
                LOG.info("step %d: train loss %.1f mm; validation MPJPE %.1f mm (input %.1f), unobserved %.1f mm "
                         "(input %.1f), acceleration error %.1f mm/frame^2 (input %.1f)", step,
                         1000 * history[-1]["train_loss"], 1000 * errors["model_all"], 1000 * errors["input_all"],
                         1000 * errors["model_unobserved"], 1000 * errors["input_unobserved"],
                         1000 * errors["model_accel_window"], 1000 * errors["input_accel_window"])
            else:
                LOG.info("step %d: train loss %.1f mm; validation MPJPE %.1f mm (input %.1f), unobserved %.1f mm "
                         "(input %.1f), streamed acceleration error L=0 %.1f mm/frame^2 (input %.1f), L=%d %.1f",
                         step, 1000 * history[-1]["train_loss"], 1000 * errors["model_all"],
                         1000 * errors["input_all"], 1000 * errors["model_unobserved"],
                         1000 * errors["input_unobserved"], 1000 * errors["model_accel_L0"],
                         1000 * errors["input_accel_L0"], lookahead, 1000 * errors[f"model_accel_L{lookahead}"])
            save_checkpoint(out_dir, model, optimizer, {"step": step, "history": history, **meta}, settings)
            plot_curves(history, out_dir / "curves.png")
    bar.close()
    model.eval()
    save_weights(out_dir / f"{name}.safetensors", model,
                 {**(record or {}), **meta, "steps_done": step, "history": history})
    return model, history
