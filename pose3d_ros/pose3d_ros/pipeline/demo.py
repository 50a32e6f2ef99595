"""The demo clip: a synthetic person rendered on the fly, so that ``pose3d run --source demo`` needs no file.

The project ships no third-party footage (the shared development video is not redistributed), so the demo
draws an articulated, shaded figure with a face and five-fingered hands that MediaPipe detects: it walks in
place, turns left and right and waves, in front of a calibrated camera whose intrinsics the source reports
like a CameraInfo would. Rendering is plain OpenCV (capsules drawn far to near), a few milliseconds a frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from .sources import CameraModel, Frame, FrameSource, IntrinsicsOverride

WIDTH, HEIGHT = 960, 540
FOCAL_PX = 700.0
FPS = 15.0
SECONDS = 6.0
CAMERA_HEIGHT_M = 0.95  # above the floor; the camera looks horizontally
PERSON_DISTANCE_M = 3.0

SKIN = (150, 180, 225)
SHIRT = (70, 70, 170)
TROUSERS = (100, 60, 40)
SHOES = (40, 40, 45)
HAIR = (35, 35, 55)
LIGHT = np.array([0.3, -0.6, -0.75]) / np.linalg.norm([0.3, -0.6, -0.75])  # towards the light, camera frame


def demo_intrinsics() -> np.ndarray:
    return np.array([[FOCAL_PX, 0.0, WIDTH / 2], [0.0, FOCAL_PX, HEIGHT / 2], [0.0, 0.0, 1.0]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _hand(wrist: np.ndarray, along: np.ndarray, across: np.ndarray, spread: float) -> dict[str, np.ndarray]:
    """Palm and finger points of one hand: ``along`` points from the wrist to the fingers, ``across`` to the thumb."""
    along = along / np.linalg.norm(along)
    across = across - along * (across @ along)
    across = across / np.linalg.norm(across)
    points = {"palm": wrist + along * 0.05}
    for k, (offset, length) in enumerate(((0.03, 0.07), (0.012, 0.085), (-0.006, 0.09), (-0.022, 0.085),
                                          (-0.036, 0.065))):
        if k == 0:  # thumb: from the base of the palm, out to the side
            base = wrist + along * 0.025 + across * 0.025
            direction = along * 0.6 + across * 0.8
        else:
            base = wrist + along * 0.09 + across * offset
            direction = along + across * (offset * spread * 8)
        direction = direction / np.linalg.norm(direction)
        points[f"finger{k}_base"] = base
        points[f"finger{k}_mid"] = base + direction * length * 0.55
        points[f"finger{k}_tip"] = base + direction * length
    return points


def demo_pose(t: float) -> dict[str, np.ndarray]:
    """Named 3D points of the figure at time ``t`` (s), world frame: x to its left, y up, z forward, metres."""
    step = 2 * math.pi * t / 1.4
    p = {}
    pelvis = np.array([0.0, 0.95 + 0.015 * math.cos(2 * step), 0.0])
    lean = _rot_x(0.05 * math.sin(step))
    p["pelvis"] = pelvis
    p["chest"] = pelvis + lean @ [0.0, 0.42, 0.0]
    p["neck"] = pelvis + lean @ [0.0, 0.55, 0.0]
    p["head"] = pelvis + lean @ [0.0, 0.69, 0.02]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        phase = step if sign > 0 else step + math.pi
        hip = pelvis + [0.1 * sign, -0.03, 0.0]
        thigh = 0.3 * math.sin(phase)
        knee_bend = 0.5 * max(0.0, math.sin(phase + 1.2))
        knee = hip + _rot_x(-thigh) @ [0.0, -0.44, 0.0]
        ankle = knee + _rot_x(-thigh + knee_bend) @ [0.0, -0.43, 0.0]
        p[f"{side}_hip"], p[f"{side}_knee"], p[f"{side}_ankle"] = hip, knee, ankle
        p[f"{side}_toe"] = ankle + [0.0, -0.06, 0.16]
        shoulder = p["chest"] + lean @ [0.19 * sign, 0.09, 0.0]
        p[f"{side}_shoulder"] = shoulder
        if side == "right":  # waves: upper arm out to the side, forearm up, swinging
            raise_arm = 1.25 + 0.15 * math.sin(step)
            elbow = shoulder + [-0.29 * math.sin(raise_arm), -0.29 * math.cos(raise_arm), 0.04]
            swing = 0.35 * math.sin(2.5 * step)
            wrist = elbow + [-0.26 * math.sin(swing), 0.26 * math.cos(swing), 0.05]
            hand = _hand(wrist, wrist - elbow, np.array([1.0, 0.0, 0.0]), spread=1.0)
        else:  # swings with the gait, forearm slightly forward
            swing = -0.35 * math.sin(phase)
            elbow = shoulder + _rot_x(swing) @ [0.03, -0.29, 0.0]
            wrist = elbow + _rot_x(swing - 0.5) @ [0.02, -0.26, 0.0]
            hand = _hand(wrist, wrist - elbow, np.array([0.0, 0.0, 1.0]), spread=0.3)
        p[f"{side}_elbow"], p[f"{side}_wrist"] = elbow, wrist
        p.update({f"{side}_{name}": point for name, point in hand.items()})
    return p


# (from, to, radius m, colour): drawn as shaded capsules
_SEGMENTS = [("pelvis", "chest", 0.15, SHIRT), ("chest", "neck", 0.13, SHIRT), ("neck", "head", 0.055, SKIN),
             ("left_hip", "right_hip", 0.12, TROUSERS)]
for _side in ("left", "right"):
    _SEGMENTS += [
        (f"{_side}_hip", f"{_side}_knee", 0.075, TROUSERS), (f"{_side}_knee", f"{_side}_ankle", 0.06, TROUSERS),
        (f"{_side}_ankle", f"{_side}_toe", 0.045, SHOES), ("chest", f"{_side}_shoulder", 0.09, SHIRT),
        (f"{_side}_shoulder", f"{_side}_elbow", 0.055, SHIRT), (f"{_side}_elbow", f"{_side}_wrist", 0.04, SKIN),
        (f"{_side}_wrist", f"{_side}_palm", 0.035, SKIN),
    ]
    for _k in range(5):
        _SEGMENTS += [(f"{_side}_wrist" if _k == 0 else f"{_side}_palm", f"{_side}_finger{_k}_base", 0.011, SKIN),
                      (f"{_side}_finger{_k}_base", f"{_side}_finger{_k}_mid", 0.0095, SKIN),
                      (f"{_side}_finger{_k}_mid", f"{_side}_finger{_k}_tip", 0.0085, SKIN)]


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, c * factor)) for c in colour)


def render_demo_frame(t: float) -> np.ndarray:
    """The demo image at time ``t``: the figure turning slowly in front of a wall and a floor."""
    K = demo_intrinsics()
    yaw = 0.6 * math.sin(2 * math.pi * t / SECONDS)
    # world (x to the figure's left, y up, z forward) -> camera optical frame (x right, y down, z forward); the
    # camera stands PERSON_DISTANCE_M in front of the figure, CAMERA_HEIGHT_M above the floor, looking at it.
    world_to_camera = np.diag([1.0, -1.0, -1.0])
    body_to_camera = world_to_camera @ _rot_y(yaw)
    camera_position = world_to_camera @ np.array([0.0, CAMERA_HEIGHT_M, PERSON_DISTANCE_M])
    points = {name: body_to_camera @ point - camera_position for name, point in demo_pose(t).items()}

    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    horizon = int(K[1, 2])
    image[:horizon] = (205, 212, 216)
    floor_shade = (np.arange(HEIGHT - horizon, dtype=np.float32) * 0.08)[:, None, None]
    image[horizon:] = np.clip(np.array([125, 132, 136], np.float32) - floor_shade, 0, 255).astype(np.uint8)

    def project(q: np.ndarray) -> tuple[np.ndarray, float]:
        return K[:2, :2] @ q[:2] / q[2] + K[:2, 2], float(q[2])

    items = []
    for start, end, radius, colour in _SEGMENTS:
        (a, depth_a), (b, depth_b) = project(points[start]), project(points[end])
        direction = points[end] - points[start]
        norm = np.linalg.norm(direction)
        facing = abs(direction @ LIGHT) / norm if norm > 0 else 0.0
        depth = (depth_a + depth_b) / 2
        items.append((depth, "segment", a, b, radius * K[0, 0] / depth, _shade(colour, 1.05 - 0.35 * facing)))
    head_centre, head_depth = project(points["head"])
    face_direction = body_to_camera @ [0.0, 0.0, 1.0]
    items.append((head_depth, "head", head_centre, face_direction, 0.105 * K[0, 0] / head_depth, SKIN))
    for _, kind, a, b, radius, colour in sorted(items, key=lambda item: -item[0]):
        if kind == "segment":
            _draw_capsule(image, a, b, radius, colour)
        else:
            _draw_head(image, a, b, radius, colour)
    return image


def _draw_capsule(image: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float, colour) -> None:
    shift = 4  # fixed-point sub-pixel drawing
    scale = 1 << shift
    d = b - a
    length = np.linalg.norm(d)
    normal = np.array([-d[1], d[0]]) / length * radius if length > 1e-6 else np.zeros(2)
    quad = np.array([a + normal, b + normal, b - normal, a - normal]) * scale
    cv2.fillConvexPoly(image, quad.astype(np.int32), colour, cv2.LINE_AA, shift)
    for end in (a, b):
        cv2.circle(image, tuple((end * scale).astype(int)), int(radius * scale), colour, -1, cv2.LINE_AA, shift)
    if radius > 3:  # a darker edge gives the limb volume
        dark = _shade(colour, 0.72)
        edge_a, edge_b = ((a - normal * 0.75) * scale).astype(int), ((b - normal * 0.75) * scale).astype(int)
        cv2.line(image, tuple(edge_a), tuple(edge_b), dark, max(1, int(radius * 0.35)), cv2.LINE_AA, shift)


def _draw_head(image: np.ndarray, centre: np.ndarray, face_direction: np.ndarray, radius: float, colour) -> None:
    cx, cy, r = float(centre[0]), float(centre[1]), radius
    turn = float(face_direction[0])  # the features slide sideways as the head turns
    squeeze = math.sqrt(max(0.0, 1.0 - turn ** 2))

    def at(x: float, y: float) -> tuple[int, int]:
        return int(round(cx + (x * squeeze + turn * 0.7) * r * 0.85)), int(round(cy + y * r))

    cv2.ellipse(image, (int(cx), int(cy - 0.35 * r)), (int(r), int(r * 0.85)), 0, 0, 360, HAIR, -1, cv2.LINE_AA)
    cv2.ellipse(image, (int(cx), int(cy)), (int(r * 0.85), int(r * 1.1)), 0, 0, 360, colour, -1, cv2.LINE_AA)
    if face_direction[2] > -0.2:  # the face looks away from the camera
        return
    thick = max(1, int(r / 12))
    for eye_x in (-0.38, 0.38):
        cv2.ellipse(image, at(eye_x, -0.15), (max(1, int(0.17 * r * squeeze)), max(1, int(0.09 * r))), 0, 0, 360,
                    (250, 250, 250), -1, cv2.LINE_AA)
        cv2.circle(image, at(eye_x, -0.15), max(1, int(0.07 * r)), (50, 40, 30), -1, cv2.LINE_AA)
        cv2.line(image, at(eye_x - 0.2, -0.36), at(eye_x + 0.2, -0.4), HAIR, thick, cv2.LINE_AA)
    cv2.line(image, at(0.0, -0.05), at(0.05, 0.3), _shade(colour, 0.75), thick, cv2.LINE_AA)
    cv2.ellipse(image, at(0.0, 0.55), (max(1, int(0.28 * r * squeeze)), max(1, int(0.09 * r))), 0, 0, 180,
                (80, 80, 170), thick, cv2.LINE_AA)


class DemoSource(FrameSource):
    """The synthetic demo clip (``--source demo``): SECONDS seconds at FPS, with its true intrinsics."""

    def __init__(self, seconds: float = SECONDS, intrinsics: IntrinsicsOverride | None = None) -> None:
        super().__init__(intrinsics)
        self.description = "demo (synthetic person)"
        self.fps = FPS
        self.frame_count = int(round(seconds * FPS))

    def __iter__(self) -> Iterator[Frame]:
        camera = self._camera(WIDTH, HEIGHT, CameraModel(demo_intrinsics()))
        for index in range(self.frame_count):
            t = index / FPS
            yield Frame(index, round(t * 1e9), render_demo_frame(t), camera, "demo_camera_optical_frame")
