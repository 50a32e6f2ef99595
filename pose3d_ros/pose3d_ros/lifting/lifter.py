"""The inference API: 2D keypoints of several people -> metric 3D skeletons in the camera frame.

    lifter = Lifter.load()                      # shipped wholebody133 SemGAN, CUDA if present
    result = lifter.lift(kp2d, conf, K)         # (P, J, 2) px, (P, J), (3, 3)
    result.positions                            # (P, J, 3) metres, camera optical frame
    result = lifter.lift(kp2d, conf, K, depth=depth_image)   # placed from an aligned depth image where it can be


Steps: map each person's keypoints into a virtual camera that looks straight at them (:mod:`.perspective`; off
with ``perspective_correction=False``), normalise them (:mod:`.normalization`), run the network on the pose and on
its mirror image and average the two (flip test-time augmentation), for the whole body take the body from the body
expert's lift (an H36M-17 network, :mod:`.body_expert`), put the nose and eyes on the face's nose tip and eye
centres (:func:`pose3d_ros.skeleton.join_face_twins`), rescale it to a known body height when there is
one (:mod:`.body_size`), place each root-relative pose by solving for its root translation from the 2D keypoints
(:mod:`.placement`), rotate it back into the camera frame, and, with a depth image, place it again from the depth
around its torso where that has enough valid pixels (:mod:`.depth_placement`). A lifter with the gravity input also
gets the world's up direction in each virtual camera when the camera's attitude is known (``lift(..., up=...)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..inference import frozen_trace, resolve_device
from ..skeleton import JointStatus, Layout, PlacementSource, join_face_twins
from .body_expert import body_keypoints, fuse_body
from .body_size import height_scale
from .config import GRAVITY_CHANNELS, LifterConfig
from .depth_placement import DepthSettings, depth_in_metres, place_with_depth
from .normalization import (
    centre_on_root,
    flip_coordinates,
    flip_gravity,
    flip_poses,
    gravity_input,
    joint_features,
    normalise_keypoints,
)
from .perspective import rotate_back, virtual_views
from .placement import solve_root_translation
from .weights_io import DEFAULT_BODY_EXPERT, DEFAULT_WEIGHTS, load_lifter

LOG = logging.getLogger(__name__)

DEFAULT_CONF_THRESHOLD = 0.3
"""Joints whose 2D confidence exceeds this are reported OBSERVED, the others INFERRED."""
LIFT_REVISION = 2
"""Raised whenever the lift's output changes for the same weights files (2: the body expert's limbs weighed by the
predicted errors, the head on its head joint, one nose); caches of lifted sequences name it in their key."""
MAX_UP_TILT_DEG = 100.0
"""An up direction further than this from the image's up (-y: the camera rolled or pitched past upside down) is
taken for a wrong attitude (a frame mix-up, a sign error) and treated as unknown: no mount looks at people so."""


NO_FINITE_POSE = ("these keypoints and K give no finite 3D pose (pixels or focal lengths out of any camera's "
                  "range)")
"""The refusal of input whose numbers leave float32's range on the way through the lift."""


@dataclass(frozen=True)
class LiftResult:
    """3D skeletons of P people (P may be 0), float32 numpy arrays."""

    positions: np.ndarray
    """(P, J, 3) metres in the camera's optical frame."""
    root_relative: np.ndarray
    """(P, J, 3) metres, relative to the pelvis, camera orientation."""
    error: np.ndarray
    """(P, J) the network's own estimate of each joint's 3D error, metres."""
    status: np.ndarray
    """(P, J) uint8 :class:`JointStatus`: OBSERVED where the 2D confidence exceeds the threshold, else INFERRED."""
    root_translation: np.ndarray
    """(P, 3) the pelvis in the camera frame, metres: from the depth image where ``placement`` says DEPTH, else
    recovered by least-squares reprojection."""
    placement: np.ndarray
    """(P,) uint8 :class:`PlacementSource`: DEPTH or LEAST_SQUARES."""

    @property
    def placement_source(self) -> tuple[str, ...]:
        """Per person, "depth" or "least_squares"."""
        return tuple(PlacementSource(int(code)).name.lower() for code in self.placement)


class LiftGraph(nn.Module):
    """Everything between pixels and the root-relative pose as one module: input normalisation, the network and,
    with ``flip_test``, the mirrored pose's prediction averaged in. Traced as one graph it runs a lift without
    Python between the operations (0.5 ms of a 5 ms whole-body lift on a CPU).
    """

    def __init__(self, model: nn.Module, config: LifterConfig, flip_test: bool):
        super().__init__()
        self.model, self.layout, self.inputs, self.flip_test = model, config.skeleton, config.inputs, flip_test

    def forward(self, kp2d: torch.Tensor, conf: torch.Tensor, K: torch.Tensor,
                gravity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coords = normalise_keypoints(kp2d, conf, K, self.layout)
        features = joint_features(coords, conf, self.layout, self.inputs, gravity)
        if self.flip_test:
            mirrored = joint_features(*flip_coordinates(coords, conf, self.layout), self.layout, self.inputs,
                                      flip_gravity(gravity))
            poses, errors = self.model(torch.cat([features, mirrored]))
            pose, mirrored_pose = poses.chunk(2)  # chunk, not a slice at len(features): a trace keeps it for any B
            error, mirrored_error = errors.chunk(2)
            pose = 0.5 * (pose + flip_poses(mirrored_pose, self.layout))
            error = 0.5 * (error + mirrored_error[:, list(self.layout.flip)])
        else:
            pose, error = self.model(features)
        return centre_on_root(pose, self.layout), error


class Lifter:
    """A trained lifting network with its input normalisation, flip augmentation, perspective correction and
    camera-frame placement.
    """

    def __init__(self, model: nn.Module, config: LifterConfig, *, device: str | torch.device = "auto",
                 flip_test: bool = True, perspective_correction: bool = True,
                 conf_threshold: float = DEFAULT_CONF_THRESHOLD, person_height_m: float = 0.0,
                 depth_settings: DepthSettings | None = None, record: dict | None = None,
                 body_expert: Lifter | None = None):
        if body_expert is not None and (config.layout != "wholebody133" or body_expert.config.input_map is None):
            raise ValueError("a body expert is an h36m17 lifter with an input_map, for a wholebody133 lifter "
                             f"(got {body_expert.config.layout} for {config.layout})")
        self.body_expert = body_expert
        """The H36M-17 lifter whose body replaces this one's (:mod:`.body_expert`); None lifts with this one alone."""
        self.config = config
        self.layout: Layout = config.skeleton
        self.device = resolve_device(device, "the lifter")
        self.model = model.to(self.device).eval()
        self.flip_test = flip_test  # the body expert's too
        self.perspective_correction = perspective_correction
        self._graphs: dict[bool, torch.jit.ScriptModule] = {}
        self._graph()  # traced now, so that the first lift is as fast as the others
        self.conf_threshold = conf_threshold
        self.person_height_m = person_height_m
        """Known stature of everyone in view, metres (0: unknown): the lifted skeletons are rescaled to it."""
        if person_height_m:
            height_scale(person_height_m)  # checks the value now rather than at the first lift
        self.depth_settings = depth_settings or DepthSettings()
        self.record = record or {}
        self._warned_upside_down = False

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str = "auto", body_expert: str | Path | None = None,
             **options) -> Lifter:
        """Load a weights file (``None``: the shipped wholebody133 SemGAN); the layout comes from its config.
        ``body_expert``: a body expert's weights, or "none"; None = the shipped one with the shipped whole-body
        lifter, none with any other file. ``options``: ``flip_test`` (default True), ``perspective_correction``
        (default True), ``conf_threshold`` (default 0.3), ``person_height_m`` (default 0, unknown),
        ``depth_settings`` (:class:`DepthSettings`).
        """
        model, config, record = load_lifter(DEFAULT_WEIGHTS if weights is None else weights)
        if body_expert is None:
            body_expert = DEFAULT_BODY_EXPERT if weights is None else "none"
        expert = None
        if str(body_expert) != "none":
            expert_model, expert_config, _ = load_lifter(body_expert)
            expert = cls(expert_model, expert_config, device=device, flip_test=options.get("flip_test", True))
        return cls(model, config, device=device, record=record, body_expert=expert, **options)

    @property
    def flip_test(self) -> bool:
        return self._flip_test

    @flip_test.setter
    def flip_test(self, value: bool) -> None:
        self._flip_test = bool(value)
        if self.body_expert is not None:
            self.body_expert.flip_test = value

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints

    def _check(self, kp2d: np.ndarray, conf: np.ndarray, K: np.ndarray) -> None:
        joints = self.num_joints
        if kp2d.ndim != 3 or kp2d.shape[1:] != (joints, 2):
            raise ValueError(f"kp2d must have shape (P, {joints}, 2) for layout {self.layout.name}, "
                             f"got {kp2d.shape}")
        if conf.shape != kp2d.shape[:2]:
            raise ValueError(f"conf must have shape {kp2d.shape[:2]}, got {conf.shape}")
        if K.shape not in ((3, 3), (len(kp2d), 3, 3)):
            raise ValueError(f"K must have shape (3, 3) or ({len(kp2d)}, 3, 3), got {K.shape}")
        if not (np.isfinite(kp2d).all() and np.isfinite(conf).all()):
            raise ValueError("kp2d/conf contain NaN or infinite values; undetected joints must have conf 0 and "
                             "coordinates from layout.fill_missing")
        if conf.size and (conf.min() < 0.0 or conf.max() > 1.0):
            raise ValueError(f"conf must lie in [0, 1], got [{conf.min():g}, {conf.max():g}]")
        # The network runs in float32: a focal length that is 0 or infinite there divides by zero.
        with np.errstate(over="ignore"):
            K32 = K.astype(np.float32)
        if not np.isfinite(K32).all() or np.any(K32[..., [0, 1], [0, 1]] < np.finfo(np.float32).tiny):
            raise ValueError(f"K must be finite with positive focal lengths (in float32), got\n{K}")

    def _graph(self) -> torch.jit.ScriptModule:
        """What inference runs: :class:`LiftGraph` for the current ``flip_test``, traced and frozen
        (:func:`pose3d_ros.inference.frozen_trace`) the first time it is needed.
        """
        if self.flip_test not in self._graphs:
            joints = self.num_joints
            example = (torch.zeros(1, joints, 2, device=self.device), torch.ones(1, joints, device=self.device),
                       torch.eye(3, device=self.device)[None], torch.zeros(1, GRAVITY_CHANNELS, device=self.device))
            graph = LiftGraph(self.model, self.config, flip_test=self.flip_test)
            self._graphs[self.flip_test] = frozen_trace(graph, example)
        return self._graphs[self.flip_test]

    @property
    def uses_gravity(self) -> bool:
        """Whether the network or its body expert takes the up direction (older weights do not, and ignore it)."""
        return self.config.inputs.gravity or (self.body_expert is not None and self.body_expert.uses_gravity)

    @torch.inference_mode()
    def predict(self, kp2d: torch.Tensor, conf: torch.Tensor, K: torch.Tensor,
                gravity: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Root-relative poses (B, J, 3) (pelvis exactly at the origin) and predicted errors (B, J), for tensors on
        the lifter's device: ``kp2d`` (B, J, 2) pixels, ``conf`` (B, J), ``K`` (B, 3, 3) and the gravity channels
        (B, 4) (:func:`.normalization.gravity_input`; None: attitude unknown).
        """
        if gravity is None:
            gravity = kp2d.new_zeros(len(kp2d), GRAVITY_CHANNELS)
        return self._graph()(kp2d, conf, K, gravity)

    def _known_up(self, up, count: int) -> np.ndarray | None:
        """The up directions (P, 3), unit length, NaN rows where unknown (non-finite, or upside down: warned once);
        None when no person's is known.
        """
        if up is None:
            return None
        up = np.broadcast_to(np.asarray(up, dtype=np.float64), (count, 3))
        norm = np.linalg.norm(up, axis=-1, keepdims=True)
        if np.any(norm[np.isfinite(norm)] < 1e-9):
            raise ValueError("the up direction must not be zero (NaN for an unknown attitude)")
        up = up / norm
        upside_down = up[:, 1] > -np.cos(np.radians(MAX_UP_TILT_DEG))
        if upside_down.any():
            if not self._warned_upside_down:
                self._warned_upside_down = True
                LOG.warning("the camera's up direction %s is more than %.0f degrees from the image's up (upside "
                            "down): lifting without it (warned once)", np.round(up[upside_down][0], 3),
                            MAX_UP_TILT_DEG)
            up = np.where(upside_down[:, None], np.nan, up)
        return up if np.isfinite(up).any() else None

    def _network_lift(self, view: np.ndarray, conf: np.ndarray, K_batch: np.ndarray,
                      up: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The network's root-relative poses (P, J, 3) and errors (P, J) for keypoints in the camera of ``K_batch``
        (each person's virtual view, or the real camera), ``up`` (checked, :meth:`_known_up`) in that camera.
        """
        if np.abs(view).max() >= np.finfo(np.float32).max:  # the network runs in float32
            raise ValueError(NO_FINITE_POSE)
        gravity = None
        if up is not None and self.config.inputs.gravity:
            up = torch.from_numpy(up.astype(np.float32))
            gravity = gravity_input(torch.nan_to_num(up), torch.isfinite(up).all(-1)).to(self.device)
        pose, error = self.predict(torch.from_numpy(view.astype(np.float32)).to(self.device),
                                   torch.from_numpy(conf).to(self.device),
                                   torch.from_numpy(np.ascontiguousarray(K_batch, dtype=np.float32)).to(self.device),
                                   gravity)
        return pose.float().cpu().numpy(), error.float().cpu().numpy()

    def lift(self, kp2d: np.ndarray, conf: np.ndarray, K: np.ndarray, depth: np.ndarray | None = None,
             image_size: tuple[int, int] | None = None, up: np.ndarray | None = None) -> LiftResult:
        """Lift P people: ``kp2d`` (P, J, 2) pixels, ``conf`` (P, J) in [0, 1], ``K`` (3, 3) (or one per person,
        (P, 3, 3)). See :class:`LiftResult`.

        ``depth``: a depth image aligned to the colour image, uint16 millimetres or float metres, 0 or NaN where it
        has no reading; ``image_size``: the colour image's (width, height) when the depth image has another size (a
        pure scale of it; anything else raises ValueError, as does a depth image of another type).
        ``up``: the world's up direction in the camera's optical frame, (3,) or (P, 3)
        (:func:`pose3d_ros.camera.up_from_pitch_roll`, :func:`~pose3d_ros.camera.up_from_quaternion`), None or NaN
        where the camera's attitude is unknown.
        """
        kp2d = np.asarray(kp2d, dtype=np.float32)
        conf = np.asarray(conf, dtype=np.float32)
        K = np.asarray(K, dtype=np.float64)
        self._check(kp2d, conf, K)
        depth_m = None if depth is None else depth_in_metres(depth)
        count = len(kp2d)
        if count == 0:
            joints = self.num_joints
            return LiftResult(positions=np.zeros((0, joints, 3), np.float32),
                              root_relative=np.zeros((0, joints, 3), np.float32),
                              error=np.zeros((0, joints), np.float32), status=np.zeros((0, joints), np.uint8),
                              root_translation=np.zeros((0, 3), np.float32), placement=np.zeros(0, np.uint8))
        K_batch = np.broadcast_to(K, (count, 3, 3))
        up = self._known_up(up, count) if self.uses_gravity else None
        view, rotation = kp2d, None
        if self.perspective_correction:
            view, rotation = virtual_views(kp2d, conf, K_batch, self.layout)
            if up is not None:
                up = np.einsum("pij,pj->pi", rotation, up)
        root_relative, error = self._network_lift(view, conf, K_batch, up)
        if self.body_expert is not None:  # lifted in the same virtual camera, so the two poses share a frame
            input_map = self.body_expert.config.input_map
            kp17, conf17 = body_keypoints(input_map, view, conf)
            body, body_error = self.body_expert._network_lift(kp17, conf17, K_batch, up)
            root_relative, error = fuse_body(root_relative, error, body, body_error, input_map)
        if self.layout.name == "wholebody133":
            root_relative, error = join_face_twins(root_relative, error)
        if self.person_height_m:
            root_relative *= height_scale(self.person_height_m)
        # Placed where it was lifted: the virtual view's rays are those the pose was predicted from.
        translation = solve_root_translation(view, conf, root_relative, K_batch)
        if rotation is not None:
            root_relative = rotate_back(root_relative, rotation).astype(np.float32)
            translation = rotate_back(translation, rotation)
        if not (np.isfinite(root_relative).all() and np.isfinite(translation).all()):
            # e.g. pixels so far from the principal point that their camera coordinates overflow float32
            raise ValueError(NO_FINITE_POSE)
        placement = np.full(count, PlacementSource.LEAST_SQUARES, np.uint8)
        if depth_m is not None:  # the depth image is the real camera's: placed there
            by_depth = place_with_depth(kp2d, conf, root_relative, K_batch, depth_m, self.layout, translation,
                                        image_size=image_size, settings=self.depth_settings)
            translation = np.where(by_depth.used[:, None], by_depth.translation, translation)
            placement[by_depth.used] = PlacementSource.DEPTH
        status = np.where(conf > self.conf_threshold, JointStatus.OBSERVED, JointStatus.INFERRED).astype(np.uint8)
        return LiftResult(
            positions=(root_relative + translation[:, None]).astype(np.float32),
            root_relative=root_relative,
            error=error,
            status=status,
            root_translation=translation.astype(np.float32),
            placement=placement,
        )
