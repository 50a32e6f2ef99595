"""PNG previews of synthetic samples, for a person to check the data by eye (matplotlib, Agg backend).

Each sample gets one figure: the whole body in 3D (camera frame turned z-up for viewing), the face and the two
hands close up, and the 2D detections in the image with their confidences. The person's left side is drawn in
green, the right side in red, the face in blue; missing 2D joints are grey crosses at their filled-in positions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..skeleton import get_layout
from .h36m import normalise_subjects
from .sets import make_lifting_set

LEFT, RIGHT, CENTRE, FACE = "tab:green", "tab:red", "black", "tab:blue"


def _bone_colours(layout) -> list[str]:
    colours = []
    for parent, child in layout.bones:
        name = layout.names[child]
        if name.startswith("face_"):
            colours.append(FACE)
        elif name.startswith("left") or layout.names[parent].startswith("left"):
            colours.append(LEFT)
        elif name.startswith("right") or layout.names[parent].startswith("right"):
            colours.append(RIGHT)
        else:
            colours.append(CENTRE)
    return colours


def _viewing(points_cam: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> a z-up frame for matplotlib's 3D axes (x, depth, up)."""
    return np.stack([points_cam[..., 0], points_cam[..., 2], -points_cam[..., 1]], axis=-1)


def _draw_3d(ax, points: np.ndarray, layout, joints: np.ndarray | None = None, title: str = "",
             elev: float = 10.0, azim: float = -90.0) -> None:
    view = _viewing(points)
    selected = np.ones(layout.num_joints, dtype=bool) if joints is None else np.isin(np.arange(layout.num_joints),
                                                                                     joints)
    for (parent, child), colour in zip(layout.bones, _bone_colours(layout), strict=True):
        if selected[parent] and selected[child]:
            ax.plot(*view[[parent, child]].T, color=colour, linewidth=1.0)
    ax.scatter(*view[selected].T, s=2, color="k")
    centre = view[selected].mean(axis=0)
    radius = np.abs(view[selected] - centre).max() * 1.05
    for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
        setter(c - radius, c + radius)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=5)


def _draw_2d(ax, kp2d: np.ndarray, conf: np.ndarray, image_size: np.ndarray, layout) -> None:
    from matplotlib.patches import Rectangle

    width, height = image_size
    ax.add_patch(Rectangle((0, 0), width, height, fill=False, edgecolor="grey"))
    visible = conf > 0
    for (parent, child), colour in zip(layout.bones, _bone_colours(layout), strict=True):
        if visible[parent] and visible[child]:
            ax.plot(*kp2d[[parent, child]].T, color=colour, linewidth=0.7)
    ax.scatter(*kp2d[visible].T, c=conf[visible], cmap="viridis", vmin=0, vmax=1, s=3)
    ax.scatter(*kp2d[~visible].T, marker="x", color="grey", s=8)
    ax.set_xlim(-0.05 * width, 1.05 * width)
    ax.set_ylim(1.05 * height, -0.05 * height)
    ax.set_aspect("equal")
    ax.set_title(f"2D detections {int(width)}x{int(height)}, {int(visible.sum())}/{len(conf)} detected "
                 "(colour = confidence)", fontsize=8)
    ax.tick_params(labelsize=5)


def _local_frame(points: np.ndarray, origin: int | np.ndarray, x_towards: np.ndarray, y_hint: np.ndarray,
                 ) -> np.ndarray:
    """Express points in a frame with the given origin, x along ``x_towards``, y along the part of ``y_hint``
    orthogonal to x, z = x cross y.
    """
    origin = points[origin] if np.ndim(origin) == 0 else origin
    x = x_towards / np.linalg.norm(x_towards)
    y = y_hint - (y_hint @ x) * x
    y /= np.linalg.norm(y)
    return (points - origin) @ np.stack([x, y, np.cross(x, y)], axis=1)


def _draw_local(ax, local: np.ndarray, layout, joints: list[int], axes: tuple[int, int], labels: tuple[str, str],
                title: str) -> None:
    """A 2D drawing of the bones among ``joints`` from points already in a part's own frame."""
    selected = set(joints)
    for (parent, child), colour in zip(layout.bones, _bone_colours(layout), strict=True):
        if parent in selected and child in selected:
            ax.plot(*local[[parent, child]][:, list(axes)].T * 100, color=colour, linewidth=0.8)
    ax.scatter(*local[joints][:, list(axes)].T * 100, s=4, color="k")
    ax.set_aspect("equal")
    ax.set_xlabel(labels[0] + " (cm)", fontsize=6)
    ax.set_ylabel(labels[1] + " (cm)", fontsize=6)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=5)


def _zoom(ax, kp2d: np.ndarray, conf: np.ndarray, joints: list[int], title: str) -> None:
    chosen = kp2d[joints][conf[joints] > 0] if (conf[joints] > 0).any() else kp2d[joints]
    lo, hi = chosen.min(axis=0), chosen.max(axis=0)
    pad = 0.15 * max((hi - lo).max(), 10.0)
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(hi[1] + pad, lo[1] - pad)
    ax.set_title(title, fontsize=8)


def render_previews(mocap_path, out_dir: Path, *, layout: str = "wholebody133", subjects="S1", count: int = 4,
                    camera_kind: str = "mixed", noise: str = "detector", seed: int = 0) -> list[Path]:
    """Render ``count`` random samples of the lifting set to ``out_dir/sample_<i>.png``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    skeleton = get_layout(layout)
    whole = layout == "wholebody133"
    data = make_lifting_set(mocap_path, layout, normalise_subjects(subjects)[:1], frame_step=97,
                            camera_kind=camera_kind, noise=noise, seed=seed)
    rng = np.random.default_rng(seed)
    paths = []
    for i, n in enumerate(rng.choice(len(data["pose3d"]), size=min(count, len(data["pose3d"])), replace=False)):
        pose, kp, conf, size = data["pose3d"][n], data["kp2d"][n], data["conf"][n], data["image_size"][n]
        rows = 3 if whole else 1
        fig = plt.figure(figsize=(16, 4.2 * rows))
        _draw_3d(fig.add_subplot(rows, 4, 1, projection="3d"), pose, skeleton, title="3D, camera view")
        _draw_3d(fig.add_subplot(rows, 4, 2, projection="3d"), pose, skeleton, title="3D, from the side", azim=0.0)
        _draw_2d(fig.add_subplot(rows, 4, 3), kp, conf, size, skeleton)
        _draw_2d(fig.add_subplot(rows, 4, 4), kp, conf, size, skeleton)
        _zoom(fig.axes[-1], kp, conf, list(range(skeleton.num_joints)), "2D detections, zoomed on the person")
        if whole:
            ears = 0.5 * (pose[3] + pose[4])
            # Head frame: x to the person's right, y forward (nose), z up; drawn from the front (x mirrored).
            head = _local_frame(pose, ears, pose[4] - pose[3], pose[0] - ears)
            face = list(range(23, 91)) + [0, 1, 2, 3, 4]
            _draw_local(fig.add_subplot(rows, 4, 5), head * [-1.0, 1.0, 1.0], skeleton, face, (0, 2),
                        ("person's left", "up"), "face from the front (head frame)")
            _draw_local(fig.add_subplot(rows, 4, 6), head, skeleton, face, (1, 2), ("forward", "up"),
                        "face from the person's left")
            for k, (name, wrist, offset) in enumerate((("left", 9, 91), ("right", 10, 112))):
                hand = _local_frame(pose, wrist, pose[offset + 9] - pose[wrist], pose[offset + 5] - pose[offset + 17])
                joints = [wrist] + list(range(offset, offset + 21))
                _draw_local(fig.add_subplot(rows, 4, 7 + 2 * k), hand, skeleton, joints, (0, 1),
                            ("distal", "radial"), f"{name} hand, palm plane")
                _draw_local(fig.add_subplot(rows, 4, 8 + 2 * k), hand, skeleton, joints, (0, 2),
                            ("distal", "dorsal" if name == "right" else "volar"), f"{name} hand, from the side")
            _draw_2d(fig.add_subplot(rows, 4, 11), kp, conf, size, skeleton)
            _zoom(fig.axes[-1], kp, conf, list(range(23, 91)), "2D face")
            _draw_2d(fig.add_subplot(rows, 4, 12), kp, conf, size, skeleton)
            _zoom(fig.axes[-1], kp, conf, list(range(112, 133)), "2D right hand")
        path = out_dir / f"sample_{i}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
