"""The demo clip: synthetic people rendered on the fly, with their ground truth, so that ``pose3d run --source demo``
needs no file and can measure itself.

The project ships no third-party footage (the shared development video is not redistributed), so the demo draws
articulated, shaded figures with faces and five-fingered hands that a 2D model detects, in front of a calibrated
camera whose intrinsics the source reports like a CameraInfo would. By default four people of different heights
and clothes walk over the floor 3-7 m from the camera: they cross in front of each other (the nearer one hides the
farther), one leaves the picture and comes back, and they turn so that they are seen from the front, the side and
the back. ``people=1`` is the first demo: one figure walking in place, turning left and right and waving.

Every frame's :class:`~.sources.FrameTruth` comes from the same posed figures as its image: COCO-WholeBody body,
feet and hand joints in the camera frame, their projections, and whether each is visible (in the image, a face
point turned towards the camera, not behind a nearer person's limb). Rendering is plain OpenCV: every capsule of
every person, drawn far to near, a few milliseconds a frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pose3d_ros.skeleton import WHOLEBODY133

from .sources import CameraModel, Frame, FrameSource, FrameTruth, IntrinsicsOverride

WIDTH, HEIGHT = 960, 540
FOCAL_PX = 700.0
FPS = 15.0
CAMERA_HEIGHT_M = 0.95  # above the floor; the camera looks horizontally
HEAD_RADIUS_M = 0.105
STRIDE_M = 1.05  # one gait cycle (two steps) of the unscaled figure, so that its feet keep pace with the floor
WALKING_SPEED = 0.75  # m/s at which the figure takes full strides
GAIT_PERIOD_S = 1.4  # of walking in place, and of the wave
REACH_ANGLE = 1.45  # radians the right arm is raised forward when reaching (83 degrees from hanging)
REACH_RAMP_S = 0.5  # to raise the arm, and to lower it

SKIN = (150, 180, 225)
SHOES = (40, 40, 45)
HAIR = (35, 35, 55)
LIGHT = np.array([0.3, -0.6, -0.75]) / np.linalg.norm([0.3, -0.6, -0.75])  # towards the light, camera frame
WALL = (205, 212, 216)
FLOOR = (125, 132, 136)

# Yaws in degrees (interpolated as written, so 90 -> 0 -> -90 turns through the front, 180 -> 360 through the left)
FRONT, RIGHT, BACK, LEFT = 0.0, 90.0, 180.0, 270.0  # facing the camera, walking right, showing the back, walking left


def demo_intrinsics() -> np.ndarray:
    return np.array([[FOCAL_PX, 0.0, WIDTH / 2], [0.0, FOCAL_PX, HEIGHT / 2], [0.0, 0.0, 1.0]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# --------------------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------------------

FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
# Points on the head's sphere, in head radii (x to the figure's left, y up, z forward). The ears and the nose stick
# out of the drawn head's outline, as real ones do, so that they show in profile.
_FACE = {"nose_bridge": (0.0, 0.05, 0.75), "nose": (0.0, -0.12, 1.02), "mouth": (0.0, -0.5, 0.86),
         "left_eye": (0.36, 0.15, 0.92), "right_eye": (-0.36, 0.15, 0.92),
         "left_ear": (1.0, 0.0, -0.1), "right_ear": (-1.0, 0.0, -0.1)}
# How far a face point may turn away and still be seen: cosine between its outward direction and the line of sight
# from it to the camera. Eyes must face the camera; the nose and the ears stick out and show from the side.
_FACE_JOINT_MIN_FACING = {"nose": -0.2, "left_eye": 0.2, "right_eye": 0.2, "left_ear": -0.5, "right_ear": -0.5}


def _hand(wrist: np.ndarray, along: np.ndarray, across: np.ndarray, spread: float) -> dict[str, np.ndarray]:
    """Palm and COCO-WholeBody hand points (``thumb1`` .. ``pinky_finger4``, from the knuckle nearest the wrist
    to the tip) of one hand: ``along`` points from the wrist to the fingers, ``across`` to the thumb.
    """
    along = along / np.linalg.norm(along)
    across = across - along * (across @ along)
    across = across / np.linalg.norm(across)
    points = {"palm": wrist + along * 0.05}
    for finger, offset, length in zip(FINGERS, (0.03, 0.012, -0.006, -0.022, -0.036),
                                      (0.07, 0.085, 0.09, 0.085, 0.065), strict=True):
        if finger == "thumb":  # from the base of the palm, out to the side
            base = wrist + along * 0.025 + across * 0.025
            direction, joints = along * 0.6 + across * 0.8, (0.4, 0.7)
        else:
            base = wrist + along * 0.09 + across * offset
            direction, joints = along + across * (offset * spread * 8), (0.45, 0.75)
        direction = direction / np.linalg.norm(direction)
        points[f"{finger}1"] = base
        points[f"{finger}2"] = base + direction * length * joints[0]
        points[f"{finger}3"] = base + direction * length * joints[1]
        points[f"{finger}4"] = base + direction * length
    return points


def figure_pose(phase: float, stride: float, clock: float, waves: bool, reach: float = 0.0) -> dict[str, np.ndarray]:
    """Named 3D points of the unscaled (1.75 m) figure in its own frame: x to its left, y up from the floor,
    z forward, metres. ``phase`` (radians) is the gait cycle's, ``stride`` how far it walks (0 stands with straight
    legs and hanging arms, 1 takes full strides); ``clock`` (s) drives the right hand's wave of a figure that waves;
    ``reach`` (0-1) raises the right arm straight forward, to just below shoulder height at 1.
    """
    p = {}
    pelvis = np.array([0.0, 0.95 + 0.015 * stride * math.cos(2 * phase), 0.0])
    lean = _rot_x(0.05 * stride * math.sin(phase))
    p["pelvis"] = pelvis
    p["chest"] = pelvis + lean @ [0.0, 0.42, 0.0]
    p["neck"] = pelvis + lean @ [0.0, 0.55, 0.0]
    p["head"] = head = pelvis + lean @ [0.0, 0.69, 0.02]
    for name, offset in _FACE.items():
        p[name] = head + lean @ (HEAD_RADIUS_M * np.array(offset))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        leg_phase = phase if sign > 0 else phase + math.pi
        hip = pelvis + [0.1 * sign, -0.03, 0.0]
        thigh = 0.3 * stride * math.sin(leg_phase)
        knee_bend = 0.5 * stride * max(0.0, math.sin(leg_phase + 1.2))
        knee = hip + _rot_x(-thigh) @ [0.0, -0.44, 0.0]
        ankle = knee + _rot_x(-thigh + knee_bend) @ [0.0, -0.43, 0.0]
        p[f"{side}_hip"], p[f"{side}_knee"], p[f"{side}_ankle"] = hip, knee, ankle
        p[f"{side}_big_toe"] = ankle + [0.0, -0.06, 0.16]
        p[f"{side}_small_toe"] = ankle + [0.035 * sign, -0.055, 0.11]
        p[f"{side}_heel"] = ankle + [0.0, -0.05, -0.05]
        shoulder = p["chest"] + lean @ [0.19 * sign, 0.09, 0.0]
        p[f"{side}_shoulder"] = shoulder
        if side == "right" and waves:  # upper arm out to the side, forearm up, swinging
            wave = 2 * math.pi * clock / GAIT_PERIOD_S
            raise_arm = 1.25 + 0.15 * math.sin(wave)
            elbow = shoulder + [-0.29 * math.sin(raise_arm), -0.29 * math.cos(raise_arm), 0.04]
            swing = 0.35 * math.sin(2.5 * wave)
            wrist = elbow + [-0.26 * math.sin(swing), 0.26 * math.cos(swing), 0.05]
            hand = _hand(wrist, wrist - elbow, np.array([1.0, 0.0, 0.0]), spread=1.0)
        else:  # swings against its leg, forearm slightly forward; the right one reaches forward
            lift = reach if side == "right" else 0.0
            swing = (1.0 - lift) * 0.35 * stride * math.sin(leg_phase) - lift * REACH_ANGLE
            elbow = shoulder + _rot_x(swing) @ [0.03 * sign, -0.29, 0.0]
            wrist = elbow + _rot_x(swing - 0.5 * (1.0 - lift)) @ [0.02 * sign, -0.26, 0.0]
            hand = _hand(wrist, wrist - elbow, np.array([0.0, 0.0, 1.0]), spread=0.3)
        p[f"{side}_elbow"], p[f"{side}_wrist"] = elbow, wrist
        p.update({f"{side}_{name}" if name == "palm" else f"{side}_hand_{name}": point for name, point in hand.items()})
    return p


POINT_NAMES = tuple(figure_pose(0.0, 0.0, 0.0, False))
_ROW = {name: row for row, name in enumerate(POINT_NAMES)}
# The figure's point for every COCO-WholeBody joint it has (-1: none, e.g. the 68 face landmarks).
_JOINT_ROWS = np.array([_ROW.get({"left_hand_root": "left_wrist", "right_hand_root": "right_wrist"}.get(name, name), -1)
                        for name in WHOLEBODY133.names])
DEFINED_JOINTS = _JOINT_ROWS >= 0
_FACE_JOINTS = np.array([WHOLEBODY133.index(name) for name in _FACE_JOINT_MIN_FACING])
_FACE_MIN_FACING = np.array(list(_FACE_JOINT_MIN_FACING.values()))

# (from, to, radius m, clothing): drawn as shaded capsules
_SEGMENTS = [("pelvis", "chest", 0.15, "shirt"), ("chest", "neck", 0.13, "shirt"), ("neck", "head", 0.055, "skin"),
             ("left_hip", "right_hip", 0.12, "trousers"), ("nose_bridge", "nose", 0.018, "skin"),
             ("left_ear", "left_ear", 0.025, "skin"), ("right_ear", "right_ear", 0.025, "skin")]
for _side in ("left", "right"):
    _SEGMENTS += [
        (f"{_side}_hip", f"{_side}_knee", 0.075, "trousers"), (f"{_side}_knee", f"{_side}_ankle", 0.06, "trousers"),
        (f"{_side}_ankle", f"{_side}_big_toe", 0.045, "shoes"), (f"{_side}_ankle", f"{_side}_heel", 0.04, "shoes"),
        ("chest", f"{_side}_shoulder", 0.09, "shirt"), (f"{_side}_shoulder", f"{_side}_elbow", 0.055, "shirt"),
        (f"{_side}_elbow", f"{_side}_wrist", 0.04, "skin"), (f"{_side}_wrist", f"{_side}_palm", 0.035, "skin"),
    ]
    for _finger in FINGERS:
        _knuckles = [f"{_side}_hand_{_finger}{k}" for k in range(1, 5)]
        _SEGMENTS += [(f"{_side}_wrist" if _finger == "thumb" else f"{_side}_palm", _knuckles[0], 0.011, "skin"),
                      (_knuckles[0], _knuckles[1], 0.0095, "skin"), (_knuckles[1], _knuckles[2], 0.009, "skin"),
                      (_knuckles[2], _knuckles[3], 0.0085, "skin")]
_SEGMENT_FROM = np.array([_ROW[s[0]] for s in _SEGMENTS])
_SEGMENT_TO = np.array([_ROW[s[1]] for s in _SEGMENTS])
_SEGMENT_RADIUS = np.array([s[2] for s in _SEGMENTS])
_SEGMENT_CLOTHING = [s[3] for s in _SEGMENTS]


# --------------------------------------------------------------------------------------------------
# People and their routes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPerson:
    """One figure of the demo: its id, its look and its route over the floor."""

    person_id: int
    route: tuple[tuple[float, float, float, float], ...]
    """Waypoints (time s, x m to the camera's right, depth m, yaw degrees: 0 faces the camera, 90 walks to the
    image's right, 180 shows its back), linearly interpolated; before the first and after the last it stands."""
    height_scale: float = 1.0
    shirt: tuple[int, int, int] = (70, 70, 170)
    trousers: tuple[int, int, int] = (100, 60, 40)
    waves: bool = False
    walks_in_place: bool = False
    reaches: tuple[tuple[float, float], ...] = ()
    """(start, end) times (s) during which the right arm reaches forward: raised over REACH_RAMP_S from start,
    lowered over REACH_RAMP_S until end."""

    def __post_init__(self) -> None:
        times = [waypoint[0] for waypoint in self.route]
        if not self.route or any(len(waypoint) != 4 for waypoint in self.route) or np.any(np.diff(times) <= 0):
            raise ValueError(f"person {self.person_id}: a route is (time, x, depth, yaw) waypoints at increasing times")
        if not 0.5 < self.height_scale < 1.5:
            raise ValueError(f"person {self.person_id}: height scale {self.height_scale} is not a person's")

    def reach(self, t: float) -> float:
        """How far the right arm is raised at ``t`` (0-1)."""
        return max((float(np.clip(min(t - start, end - t) / REACH_RAMP_S, 0.0, 1.0)) for start, end in self.reaches),
                   default=0.0)

    def camera_points(self, t: float) -> np.ndarray:
        """The figure's points (rows of POINT_NAMES) at time ``t`` in the camera optical frame, metres."""
        times, xs, depths, yaws = np.array(self.route, dtype=np.float64).T
        travelled = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(xs), np.diff(depths)))])
        if self.walks_in_place:
            phase, stride = 2 * math.pi * t / GAIT_PERIOD_S, 1.0
        else:  # legs in step with the distance walked; the stride follows the speed over half a second
            phase = 2 * math.pi * np.interp(t, times, travelled) / (STRIDE_M * self.height_scale)
            speed = (np.interp(t + 0.25, times, travelled) - np.interp(t - 0.25, times, travelled)) / 0.5
            stride = min(1.0, speed / WALKING_SPEED)
        body = np.array(list(figure_pose(phase, stride, t, self.waves, self.reach(t)).values()))
        # world: x to the camera's right, y up from the floor, z towards the camera; optical: y down, z forward
        rotation = np.diag([1.0, -1.0, -1.0]) @ _rot_y(math.radians(np.interp(t, times, yaws))) * self.height_scale
        return body @ rotation.T + [np.interp(t, times, xs), CAMERA_HEIGHT_M, np.interp(t, times, depths)]


_CROSSING_PEOPLE = (
    # crosses in front of everyone at 3.2 m, to the right, faces the camera, and back to the left
    DemoPerson(0, ((0.0, -1.9, 3.2, RIGHT), (4.4, 1.6, 3.2, RIGHT), (5.4, 1.6, 3.2, FRONT), (6.4, 1.6, 3.2, FRONT),
                   (7.0, 1.6, 3.2, LEFT - 360), (11.0, -1.6, 3.2, LEFT - 360), (12.0, -1.6, 3.2, FRONT)),
               height_scale=1.0, shirt=(170, 95, 45), trousers=(60, 50, 45)),
    # stands at 5.2 m waving, hidden for a moment as the others pass; turns round and back
    DemoPerson(1, ((0.0, 0.2, 5.2, FRONT), (9.0, 0.2, 5.2, FRONT), (10.5, 0.2, 5.2, BACK), (11.5, 0.2, 5.2, BACK),
                   (13.0, 0.2, 5.2, FRONT + 360)),
               height_scale=0.93, shirt=(70, 70, 170), trousers=(100, 60, 40), waves=True),
    # walks away from 3 m to 6.8 m (seen from the back), turns to the camera, then walks to the right behind person 1
    DemoPerson(2, ((0.0, -0.9, 3.0, BACK), (4.75, -0.9, 6.8, BACK), (5.75, -0.9, 6.8, FRONT + 360),
                   (6.5, -0.9, 6.8, FRONT + 360), (7.0, -0.9, 6.8, RIGHT + 360), (11.1, 2.4, 6.8, RIGHT + 360),
                   (12.0, 2.4, 6.8, FRONT + 360)),
               height_scale=1.08, shirt=(70, 140, 60), trousers=(45, 60, 95)),
    # walks out of the picture to the right at 4.3 m, turns round out of view, comes back and stops facing the camera
    DemoPerson(3, ((0.0, 1.3, 4.3, RIGHT), (3.2, 4.2, 4.3, RIGHT), (6.0, 4.2, 4.3, RIGHT), (6.5, 4.2, 4.3, LEFT),
                   (11.7, -0.5, 4.3, LEFT), (12.5, -0.5, 4.3, FRONT + 360)),
               height_scale=0.97, shirt=(40, 150, 205), trousers=(90, 90, 90)),
)
_CROSSING_SECONDS = 14.0
# The first demo: one figure 3 m away, walking in place, turning ±34° and waving
_SINGLE_PERSON = (DemoPerson(0, ((0.0, 0.0, 3.0, 0.0), (1.5, 0.0, 3.0, 34.0), (4.5, 0.0, 3.0, -34.0),
                                 (6.0, 0.0, 3.0, 0.0)), waves=True, walks_in_place=True),)
_SINGLE_SECONDS = 6.0


# Scenes for one purpose, ``--source demo:<name>``: (cast, seconds, what it shows)
SCENES = {
    # walks in from the left at 3.5 m, stops beside a machine's opening (config/safety_demo_reach.yaml), reaches
    # into it with the right arm, and walks back out to the left
    "reach": ((DemoPerson(0, ((0.0, -2.2, 3.5, RIGHT), (3.2, 0.1, 3.5, RIGHT), (7.3, 0.1, 3.5, RIGHT),
                              (8.0, 0.1, 3.5, LEFT - 360), (11.0, -2.2, 3.5, LEFT - 360)),
                          shirt=(170, 95, 45), trousers=(60, 50, 45), reaches=((4.3, 6.5),)),),
              12.0, "demo (a person reaches into a zone)"),
}


def demo_people(people: int) -> tuple[DemoPerson, ...]:
    """The cast of a demo with ``people`` people: 1 is the single waving figure, 2-4 the first of the crossing ones."""
    if not 1 <= people <= len(_CROSSING_PEOPLE):
        raise ValueError(f"the demo has 1 to {len(_CROSSING_PEOPLE)} people, not {people}")
    return _SINGLE_PERSON if people == 1 else _CROSSING_PEOPLE[:people]


# --------------------------------------------------------------------------------------------------
# Posing, truth and rendering
# --------------------------------------------------------------------------------------------------


@dataclass
class _Scene:
    """Everyone at one instant: their points and every capsule that draws them (capsule HEAD is the head)."""

    people: Sequence[DemoPerson]
    points: np.ndarray
    """(P, N, 3) rows of POINT_NAMES in the camera frame, metres."""
    pixels: np.ndarray
    """(P, N, 2) their projections (origin at the image's corner)."""
    start: np.ndarray
    """(P, C, 2) pixels of each capsule's ends."""
    end: np.ndarray
    radius_px: np.ndarray
    """(P, C)."""
    depth: np.ndarray
    """(P, C) mean depth of each capsule: the order of drawing."""


_CAPSULE_FROM = np.append(_SEGMENT_FROM, _ROW["head"])
_CAPSULE_TO = np.append(_SEGMENT_TO, _ROW["head"])
_CAPSULE_RADIUS = np.append(_SEGMENT_RADIUS, HEAD_RADIUS_M * 0.95)
HEAD = len(_SEGMENTS)


def _pose(people: Sequence[DemoPerson], t: float) -> _Scene:
    points = np.array([person.camera_points(t) for person in people]).reshape(len(people), len(POINT_NAMES), 3)
    depth = np.maximum(points[..., 2], 1e-3)
    pixels = points[..., :2] / depth[..., None] * FOCAL_PX + demo_intrinsics()[:2, 2]
    mean_depth = (depth[:, _CAPSULE_FROM] + depth[:, _CAPSULE_TO]) / 2
    scale = np.array([person.height_scale for person in people]).reshape(-1, 1)
    return _Scene(people, points, pixels, pixels[:, _CAPSULE_FROM], pixels[:, _CAPSULE_TO],
                  _CAPSULE_RADIUS * scale * FOCAL_PX / mean_depth, mean_depth)


def _hidden_by_others(scene: _Scene, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Which of every person's (P, D, 2) pixels at (P, D) depths lie under another person's capsule that is drawn
    after them (nearer the camera): what the drawing hides, but for the capsules' edges and the fingers, which are
    left out as occluders.
    """
    hidden = np.zeros(depth.shape, bool)
    occluders = _CAPSULE_RADIUS >= 0.02
    for other in range(len(scene.people)):
        a, b = scene.start[other, occluders], scene.end[other, occluders]
        radius, capsule_depth = scene.radius_px[other, occluders], scene.depth[other, occluders]
        low = np.minimum(a, b).min(axis=0) - radius.max()
        high = np.maximum(a, b).max(axis=0) + radius.max()
        near = (pixels >= low).all(axis=-1) & (pixels <= high).all(axis=-1) & (depth > capsule_depth.min())
        near[other] = False
        if not near.any():
            continue
        q = pixels[near][:, None]
        direction = b - a
        along = np.clip(((q - a) * direction).sum(axis=-1) / np.maximum((direction ** 2).sum(axis=-1), 1e-9), 0, 1)
        distance2 = ((q - (a + along[..., None] * direction)) ** 2).sum(axis=-1)
        hidden[near] |= ((distance2 <= radius ** 2) & (capsule_depth < depth[near][:, None])).any(axis=1)
    return hidden


def demo_truth(people: Sequence[DemoPerson], t: float, index: int = 0) -> FrameTruth:
    """What the demo frame at time ``t`` shows: everyone with a joint inside the image, with their joints."""
    scene = _pose(people, t)
    rows = _JOINT_ROWS[DEFINED_JOINTS]
    points, pixels = scene.points[:, rows], scene.pixels[:, rows]
    seen = (points[..., 2] > 0.1) & (pixels >= 0).all(axis=-1) & (pixels < [WIDTH, HEIGHT]).all(axis=-1)
    listed = seen.any(axis=1)
    seen &= ~_hidden_by_others(scene, pixels, points[..., 2])
    visible = np.zeros((len(people), WHOLEBODY133.num_joints), bool)
    visible[:, DEFINED_JOINTS] = seen
    head = scene.points[:, _ROW["head"], None]
    face = scene.points[:, _JOINT_ROWS[_FACE_JOINTS]]
    outward = (face - head) / np.linalg.norm(face - head, axis=-1, keepdims=True)
    towards_camera = -(outward * face).sum(axis=-1) / np.linalg.norm(face, axis=-1)
    visible[:, _FACE_JOINTS] &= towards_camera >= _FACE_MIN_FACING
    joints = np.full((len(people), WHOLEBODY133.num_joints, 3), np.nan)
    joints[:, DEFINED_JOINTS] = points
    kp2d = np.full((len(people), WHOLEBODY133.num_joints, 2), np.nan)
    kp2d[:, DEFINED_JOINTS] = pixels
    ids = np.array([person.person_id for person in people], np.int64)
    defined = np.broadcast_to(DEFINED_JOINTS, visible.shape)
    return FrameTruth(index, ids[listed], joints[listed], defined[listed], kp2d[listed], visible[listed])


def render_demo_frame(people: Sequence[DemoPerson], t: float) -> np.ndarray:
    """The demo image at time ``t``: the people in front of a wall and a floor, every capsule drawn far to near."""
    image = _BACKGROUND.copy()
    if not people:
        return image

    scene = _pose(people, t)
    # Everything a capsule needs is computed for all at once; the loop below only calls OpenCV.
    limb = scene.points[:, _CAPSULE_TO] - scene.points[:, _CAPSULE_FROM]
    facing = np.abs(limb @ LIGHT) / np.maximum(np.linalg.norm(limb, axis=-1), 1e-9)
    base = np.array([[{"skin": SKIN, "shoes": SHOES, "shirt": person.shirt, "trousers": person.trousers}[clothing]
                      for clothing in _SEGMENT_CLOTHING + ["skin"]] for person in people], np.float64)
    colour = np.minimum(255, base * (1.05 - 0.35 * facing)[..., None])
    fixed = 1 << _SHIFT
    a, b = scene.start - 0.5, scene.end - 0.5  # OpenCV draws pixel centres at integer coordinates
    d = b - a
    length = np.linalg.norm(d, axis=-1, keepdims=True)
    normal = np.stack([-d[..., 1], d[..., 0]], axis=-1) / np.maximum(length, 1e-6) * scene.radius_px[..., None]
    quads = (np.stack([a + normal, b + normal, b - normal, a - normal], axis=2) * fixed).astype(np.int32)
    edges = np.stack([a - 0.75 * normal, b - 0.75 * normal], axis=2) * fixed
    ends = np.stack([a, b], axis=2) * fixed
    radius = scene.radius_px
    lists = [array.tolist() for array in (colour.astype(int), (colour * 0.72).astype(int), ends.astype(int),
                                          edges.astype(int), (radius * fixed).astype(int),
                                          np.maximum(1, (radius * 0.35).astype(int)), radius)]
    colours, darks, ends, edges, radii, edge_widths, radius = lists
    for item in np.argsort(-scene.depth, axis=None, kind="stable").tolist():
        k, c = divmod(item, HEAD + 1)
        if c == HEAD:
            _draw_head(image, scene, k)
        elif radius[k][c] < 1.5:  # a finger far away: a line is as good and three times cheaper
            cv2.line(image, ends[k][c][0], ends[k][c][1], colours[k][c], max(1, round(2 * radius[k][c])),
                     cv2.LINE_AA, _SHIFT)
        else:
            cv2.fillConvexPoly(image, quads[k, c], colours[k][c], cv2.LINE_AA, _SHIFT)
            for centre in ends[k][c]:
                cv2.circle(image, centre, radii[k][c], colours[k][c], -1, cv2.LINE_AA, _SHIFT)
            if radius[k][c] > 3:  # a darker edge gives the limb volume
                cv2.line(image, edges[k][c][0], edges[k][c][1], darks[k][c], edge_widths[k][c], cv2.LINE_AA, _SHIFT)
    return image


_SHIFT = 4  # fixed-point sub-pixel drawing


def _background() -> np.ndarray:
    """A wall and a floor that darkens towards the camera, meeting at the horizon (the camera looks level)."""
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    horizon = int(demo_intrinsics()[1, 2])
    image[:horizon] = WALL
    floor_shade = (np.arange(HEIGHT - horizon, dtype=np.float32) * 0.08)[:, None, None]
    image[horizon:] = np.clip(np.array(FLOOR, np.float32) - floor_shade, 0, 255).astype(np.uint8)
    return image


_BACKGROUND = _background()


def _draw_head(image: np.ndarray, scene: _Scene, k: int) -> None:
    """Person ``k``'s hair, face and the features that face the camera (the nose and ears are capsules)."""
    points, pixels = scene.points[k], scene.pixels[k] - 0.5
    head = points[_ROW["head"]]
    cx, cy = pixels[_ROW["head"]]
    r = HEAD_RADIUS_M * scene.people[k].height_scale * FOCAL_PX / head[2]
    forward = points[_ROW["nose"]] - head
    forward /= np.linalg.norm(forward)
    facing = -(forward @ head) / np.linalg.norm(head)
    sideways = forward[0]  # the face turns to the image's right (+) or left (-): the hair shows on the other side

    def ellipse(x: float, y: float, width: float, height: float, colour, start: int = 0, end: int = 360,
                thickness: int = -1) -> None:
        cv2.ellipse(image, (int(round(x)), int(round(y))), (max(1, int(width)), max(1, int(height))), 0, start, end,
                    colour, thickness, cv2.LINE_AA)

    ellipse(cx - 0.3 * r * sideways, cy - 0.3 * r, r, 0.9 * r, HAIR)
    ellipse(cx + 0.15 * r * sideways, cy, 0.85 * r - 0.15 * r * abs(sideways), 1.1 * r, SKIN)
    if facing < -0.5:  # the back of the head
        ellipse(cx, cy - 0.1 * r, 0.88 * r, r, HAIR)
        return
    thick = max(1, int(r / 12))

    def towards_camera(name: str) -> float:
        point = points[_ROW[name]]
        outward = (point - head) / np.linalg.norm(point - head)
        return float(-(outward @ point) / np.linalg.norm(point))

    for eye in ("left_eye", "right_eye"):
        squeeze = towards_camera(eye)
        if squeeze < _FACE_JOINT_MIN_FACING[eye]:
            continue
        x, y = pixels[_ROW[eye]]
        ellipse(x, y, 0.17 * r * squeeze, 0.09 * r, (250, 250, 250))
        cv2.circle(image, (int(round(x)), int(round(y))), max(1, int(0.07 * r)), (50, 40, 30), -1, cv2.LINE_AA)
        brow = 0.2 * r * squeeze
        cv2.line(image, (int(x - brow), int(y - 0.21 * r)), (int(x + brow), int(y - 0.25 * r)), HAIR, thick,
                 cv2.LINE_AA)
    squeeze = towards_camera("mouth")
    if squeeze > 0.2:
        x, y = pixels[_ROW["mouth"]]
        ellipse(x, y, 0.28 * r * squeeze, 0.09 * r, (80, 80, 170), 0, 180, thick)


class DemoSource(FrameSource):
    """The synthetic demo clip (``--source demo``) at FPS, with its true intrinsics and its ground truth.

    ``people`` picks the cast (see :func:`demo_people`), or ``scene`` one of :data:`SCENES`; ``seconds`` defaults
    to the length of its story (14 s for the crossing people, 6 s for one), and a longer clip has everyone stand
    still at the end.
    """

    def __init__(self, seconds: float | None = None, intrinsics: IntrinsicsOverride | None = None,
                 people: int = len(_CROSSING_PEOPLE), scene: str | None = None) -> None:
        super().__init__(intrinsics)
        if scene is not None:
            if scene not in SCENES:
                raise ValueError(f"the demo has no scene {scene!r}; scenes: {', '.join(SCENES)}")
            self.people, story_seconds, self.description = SCENES[scene]
        else:
            self.people = demo_people(people)
            story_seconds = _SINGLE_SECONDS if people == 1 else _CROSSING_SECONDS
            self.description = "demo (synthetic person)" if people == 1 else f"demo ({people} synthetic people)"
        seconds = story_seconds if seconds is None else seconds
        if not seconds > 0:
            raise ValueError(f"the demo needs a positive length in seconds, not {seconds}")
        self.fps = FPS
        self.frame_count = int(round(seconds * FPS))

    def __iter__(self) -> Iterator[Frame]:
        camera = self._camera(WIDTH, HEIGHT, CameraModel(demo_intrinsics()))
        for index in range(self.frame_count):
            t = index / FPS
            yield Frame(index, round(t * 1e9), render_demo_frame(self.people, t), camera, "demo_camera_optical_frame")

    def truth(self, index: int) -> FrameTruth:
        """Who frame ``index`` shows and where their joints truly are (in the true camera, whatever --fx says)."""
        if not 0 <= index < self.frame_count:
            raise ValueError(f"the demo has frames 0 to {self.frame_count - 1}, not {index}")
        return demo_truth(self.people, index / FPS, index)
