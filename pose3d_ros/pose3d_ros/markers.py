"""RViz markers for 3D skeletons: bones as one LINE_LIST and joints as one SPHERE_LIST per person.

Built with a :class:`pose3d_ros.messages.MessageTypes`, so the same markers go to RViz from the nodes (rclpy)
and into MCAP files (rosbags). Each person has its own namespace ``<prefix>_<person_id>`` holding marker 0 (bones),
marker 1 (joints) and marker 2, the person's id as a text above the head in a colour of their own, which tells
several people apart. Colours of bones and joints tell the body parts apart; a joint's alpha grows with its 2D
confidence, so joints the lifter or the temporal stage had to infer stay visible but faint; MISSING joints are not
drawn. Markers carry a lifetime, so a person whose tracker stops publishing fades out by itself, and
:class:`SkeletonMarkers` deletes a person's namespace (DELETEALL with that ``ns``, which RViz 2 applies to the
namespace only) as soon as they leave.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose3d_ros.messages import MessageTypes, make_duration
from pose3d_ros.skeleton import JointStatus, Layout, get_layout

# RGB per layout part; parts not listed (other layouts) use OTHER_PART_COLOR.
PART_COLORS = {
    "body": (0.10, 0.55, 1.00),
    "face": (1.00, 0.80, 0.10),
    "hands": (0.20, 0.85, 0.30),
}
OTHER_PART_COLOR = (0.80, 0.80, 0.80)
# One colour per person id (cycled) for the id labels: distinct from each other and from the part colours.
PERSON_COLORS = (
    (1.00, 1.00, 1.00),
    (1.00, 0.45, 0.45),
    (0.75, 0.55, 1.00),
    (0.35, 0.95, 0.95),
    (1.00, 0.60, 0.20),
    (1.00, 0.50, 0.85),
)
BONES_ID = 0
JOINTS_ID = 1
LABEL_ID = 2
LABEL_HEIGHT_M = 0.15
LABEL_CLEARANCE_M = 0.2
"""Gap between the highest drawn joint and the label's centre."""
# Marker type and action values of visualization_msgs/Marker (the same in every ROS 2 distribution).
LINE_LIST, SPHERE_LIST, TEXT_VIEW_FACING = 5, 7, 9
ADD, DELETEALL = 0, 3


@dataclass(frozen=True)
class MarkerStyle:
    """How skeletons look in RViz (sizes in metres)."""

    bone_width: float = 0.012
    joint_diameter: float = 0.03
    lifetime_s: float = 0.5
    """Markers not refreshed within this time vanish (0 = never)."""
    min_alpha: float = 0.25
    """Alpha of a drawn joint with confidence 0 (inferred or filled); confidence 1 gives alpha 1."""
    namespace_prefix: str = "person"

    def __post_init__(self) -> None:
        if self.bone_width <= 0 or self.joint_diameter <= 0:
            raise ValueError("bone_width and joint_diameter must be positive")
        if self.lifetime_s < 0:
            raise ValueError("lifetime_s must be >= 0 (0 keeps markers until they are replaced or deleted)")
        if not 0.0 < self.min_alpha <= 1.0:
            raise ValueError("min_alpha must lie in (0, 1]: RViz hides points whose alpha is 0")


def namespace(style: MarkerStyle, person_id: int) -> str:
    return f"{style.namespace_prefix}_{int(person_id)}"


def joint_colors(layout: Layout, confidence: np.ndarray, style: MarkerStyle) -> np.ndarray:
    """(J, 4) RGBA per joint: its part's colour, alpha from its confidence."""
    rgba = np.empty((layout.num_joints, 4), dtype=np.float64)
    for part, joints in layout.parts.items():
        rgba[joints, :3] = PART_COLORS.get(part, OTHER_PART_COLOR)
    rgba[:, 3] = style.min_alpha + (1.0 - style.min_alpha) * np.clip(confidence, 0.0, 1.0)
    return rgba


@functools.cache
def _bone_array(layout: str) -> np.ndarray:
    """(B, 2) parent, child: the bones once per layout, not rebuilt for every person and frame."""
    return np.array(get_layout(layout).bones, dtype=np.int64).reshape(-1, 2)


def _points(types: MessageTypes, xyz: np.ndarray) -> list:
    # The classes themselves, not types.new: every field is given, and these are hundreds per person and frame.
    point = types.Point
    return [point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, dtype=np.float64).tolist()]


def _colors(types: MessageTypes, rgba: np.ndarray) -> list:
    color = types.ColorRGBA
    return [color(r=r, g=g, b=b, a=a) for r, g, b, a in np.asarray(rgba, dtype=np.float64).tolist()]


def _marker(types: MessageTypes, header: Any, ns: str, marker_id: int, marker_type: int, scale: tuple,
            points: list, colors: list, style: MarkerStyle, position: tuple = (0.0, 0.0, 0.0),
            color: tuple = (1.0, 1.0, 1.0), text: str = "") -> Any:
    pose = types.new(types.Pose, position=types.new(types.Point, x=position[0], y=position[1], z=position[2]),
                     orientation=types.new(types.Quaternion, x=0.0, y=0.0, z=0.0, w=1.0))
    return types.new(
        types.Marker, header=header, ns=ns, id=marker_id, type=marker_type, action=ADD, pose=pose,
        scale=types.new(types.Vector3, x=float(scale[0]), y=float(scale[1]), z=float(scale[2])),
        # The marker colour is unused when every point has its own, but RViz rejects a zero alpha.
        color=types.new(types.ColorRGBA, r=color[0], g=color[1], b=color[2], a=1.0),
        lifetime=make_duration(types, style.lifetime_s), frame_locked=False, points=points, colors=colors,
        text=text,
    )


def person_color(person_id: int) -> tuple[float, float, float]:
    return PERSON_COLORS[int(person_id) % len(PERSON_COLORS)]


def person_markers(types: MessageTypes, header: Any, positions: np.ndarray, confidence: np.ndarray,
                   status: np.ndarray, person_id: int, layout: str | Layout = "wholebody133",
                   style: MarkerStyle = MarkerStyle()) -> list:
    """The bones, joints and id label markers of one person: positions (J, 3) in the header's frame, a camera
    optical frame (y down: the label goes above the highest joint, at the lowest y).
    """
    skeleton = layout if isinstance(layout, Layout) else get_layout(layout)
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape != (skeleton.num_joints, 3):
        raise ValueError(f"positions has shape {positions.shape}, expected ({skeleton.num_joints}, 3) for layout "
                         f"{skeleton.name}")
    drawn = (np.asarray(status) != JointStatus.MISSING) & np.isfinite(positions).all(axis=1)
    rgba = joint_colors(skeleton, np.asarray(confidence, dtype=np.float64), style)
    ns = namespace(style, person_id)
    markers = []
    bones = _bone_array(skeleton.name)
    bones = bones[drawn[bones[:, 0]] & drawn[bones[:, 1]]]
    # One Point per drawn joint and one colour per bone, each listed wherever it appears (serialised alike, and
    # half the messages to build, which is most of a frame's writing).
    points = dict(zip(np.flatnonzero(drawn).tolist(), _points(types, positions[drawn]), strict=True))
    if len(bones):
        # Both ends of a bone take the child's part colour and the fainter of the two alphas.
        bone_rgba = rgba[bones[:, 1]].copy()
        bone_rgba[:, 3] = np.minimum(rgba[bones[:, 0], 3], rgba[bones[:, 1], 3])
        markers.append(_marker(types, header, ns, BONES_ID, LINE_LIST, (style.bone_width, 0.0, 0.0),
                               [points[joint] for joint in bones.reshape(-1).tolist()],
                               [color for color in _colors(types, bone_rgba) for _end in range(2)], style))
    if drawn.any():
        diameter = style.joint_diameter
        markers.append(_marker(types, header, ns, JOINTS_ID, SPHERE_LIST, (diameter, diameter, diameter),
                               list(points.values()), _colors(types, rgba[drawn]), style))
        top = positions[drawn][np.argmin(positions[drawn, 1])]
        label_at = (float(top[0]), float(top[1]) - LABEL_CLEARANCE_M, float(top[2]))
        markers.append(_marker(types, header, ns, LABEL_ID, TEXT_VIEW_FACING, (0.0, 0.0, LABEL_HEIGHT_M), [], [],
                               style, label_at, person_color(person_id), str(int(person_id))))
    return markers


def delete_person(types: MessageTypes, header: Any, person_id: int, style: MarkerStyle = MarkerStyle()) -> Any:
    """A marker that removes every marker of one person (DELETEALL restricted to their namespace)."""
    return types.new(types.Marker, header=header, ns=namespace(style, person_id), id=0, action=DELETEALL)


class SkeletonMarkers:
    """Turns each frame's skeletons into a MarkerArray, deleting the markers of people who left the frame."""

    def __init__(self, types: MessageTypes, layout: str | Layout = "wholebody133",
                 style: MarkerStyle = MarkerStyle()):
        self.types = types
        self.layout = layout if isinstance(layout, Layout) else get_layout(layout)
        self.style = style
        self._shown: set[int] = set()

    def update(self, header: Any, positions: np.ndarray, confidence: np.ndarray, status: np.ndarray,
               person_ids: Any) -> Any:
        """MarkerArray for (P, J, 3) positions with (P, J) confidence and status; P may be 0."""
        ids = [int(i) for i in np.asarray(person_ids).reshape(-1)]
        if len(ids) != len(positions):
            raise ValueError(f"{len(ids)} person ids for {len(positions)} skeletons")
        markers = [delete_person(self.types, header, gone, self.style) for gone in sorted(self._shown - set(ids))]
        for p, person_id in enumerate(ids):
            markers += person_markers(self.types, header, positions[p], confidence[p], status[p], person_id,
                                      self.layout, self.style)
        self._shown = set(ids)
        return self.types.new(self.types.MarkerArray, markers=markers)

    def clear(self, header: Any) -> Any:
        """MarkerArray that removes everything this publisher drew (for deactivation or shutdown)."""
        markers = [delete_person(self.types, header, shown, self.style) for shown in sorted(self._shown)]
        self._shown = set()
        return self.types.new(self.types.MarkerArray, markers=markers)
