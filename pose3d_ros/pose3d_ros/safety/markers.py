"""What the monitor looks like: every object's outline placed by its frame's pose, the colour of each state, and
the RViz markers of a report (outlines coloured by state, a line from the deciding joint to the object's nearest
point, a label with the state and distance).

``pose3d run --render`` draws the same outlines and colours into its 3D view, so RViz and the rendered video agree.
Markers are built with a :class:`pose3d_ros.messages.MessageTypes`, so rclpy and rosbags classes both work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose3d_ros.messages import MessageTypes, make_duration

from .config import SafetyConfig
from .geometry import Pose
from .monitor import SafetyReport
from .states import SafetyState

STATE_RGB = {  # 0-255
    SafetyState.CLEAR: (90, 200, 90),
    SafetyState.WARNING: (255, 200, 0),
    SafetyState.PROTECTIVE_STOP: (240, 50, 50),
    SafetyState.UNKNOWN: (220, 80, 220),
}
OUTLINE_ID, DISTANCE_ID, LABEL_ID = 0, 1, 2
# Marker type and action values of visualization_msgs/Marker.
LINE_LIST, TEXT_VIEW_FACING = 5, 9
ADD, DELETE = 0, 2
SPACE_WIDTH_EM = 0.3
"""Width of a space in a label, in text heights: RViz 2 takes a text marker's scale.x as the space width, and
without one (0) draws every space as wide as a letter 1 m high, whatever the text height (rviz_rendering's
MovableText)."""


def object_outlines(config: SafetyConfig, poses: Mapping[str, Pose | None]) -> list[list[np.ndarray] | None]:
    """Each object's outline polylines ((N, 3) each) in the frame ``poses`` are given in; None for an object whose
    frame has no pose (a failed TF lookup: nothing trustworthy to draw).
    """
    outlines: list[list[np.ndarray] | None] = []
    for obj in config.objects:
        pose = poses.get(obj.frame)
        outlines.append(None if pose is None else [pose.apply(line) for line in obj.shape.outline()])
    return outlines


@dataclass(frozen=True)
class SafetyMarkerStyle:
    line_width: float = 0.01
    """Outline width of a clear object (m); other states are drawn twice as wide."""
    lifetime_s: float = 0.5
    """Markers not refreshed within this time vanish (0 = never)."""
    text_height: float = 0.08

    def __post_init__(self) -> None:
        if self.line_width <= 0 or self.text_height <= 0:
            raise ValueError("line_width and text_height must be positive")
        if self.lifetime_s < 0:
            raise ValueError("lifetime_s must be >= 0 (0 keeps markers until they are replaced)")


def safety_markers(types: MessageTypes, header: Any, report: SafetyReport,
                   outlines: list[list[np.ndarray] | None], style: SafetyMarkerStyle = SafetyMarkerStyle()) -> Any:
    """A MarkerArray for one report: per object (namespace ``safety_<name>``) its outline, the line from the
    deciding joint to the object's nearest surface point, and a label at its centre. ``outlines`` are in
    ``header``'s frame (the report's points' frame). What cannot be drawn (no pose, nobody measured) is deleted
    rather than left stale.
    """
    markers = []
    for o, name in enumerate(report.names):
        state = SafetyState(int(report.state[o]))
        colour = _colour(types, state)
        width = style.line_width * (1 if state == SafetyState.CLEAR else 2)
        ns = f"safety_{name}"
        lines = outlines[o]
        if lines is None:
            markers += [_delete(types, header, ns, marker_id) for marker_id in (OUTLINE_ID, DISTANCE_ID, LABEL_ID)]
            continue
        segments = np.concatenate([np.stack([line[:-1], line[1:]], axis=1).reshape(-1, 3) for line in lines])
        markers.append(_marker(types, header, ns, OUTLINE_ID, LINE_LIST, (width, 0.0, 0.0), colour, style,
                               points=_points(types, segments)))
        measured = bool(np.isfinite(report.distance[o]))
        if measured:
            ends = np.stack([report.joint_point[o], report.object_point[o]])
            markers.append(_marker(types, header, ns, DISTANCE_ID, LINE_LIST, (style.line_width, 0.0, 0.0), colour,
                                   style, points=_points(types, ends)))
        else:
            markers.append(_delete(types, header, ns, DISTANCE_ID))
        label = f"{name}: {state.name.lower()}" + (f" {report.distance[o]:.2f} m" if measured else "")
        text_scale = (SPACE_WIDTH_EM * style.text_height, 0.0, style.text_height)
        markers.append(_marker(types, header, ns, LABEL_ID, TEXT_VIEW_FACING, text_scale, colour, style,
                               position=segments.mean(axis=0), text=label))
    return types.new(types.MarkerArray, markers=markers)


def _colour(types: MessageTypes, state: SafetyState) -> Any:
    r, g, b = (channel / 255.0 for channel in STATE_RGB[state])
    return types.new(types.ColorRGBA, r=r, g=g, b=b, a=1.0)


def _points(types: MessageTypes, xyz: np.ndarray) -> list:
    return [types.new(types.Point, x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(xyz).tolist()]


def _marker(types: MessageTypes, header: Any, ns: str, marker_id: int, marker_type: int, scale: tuple, colour: Any,
            style: SafetyMarkerStyle, points: list | None = None, position: np.ndarray | None = None,
            text: str = "") -> Any:
    x, y, z = (0.0, 0.0, 0.0) if position is None else (float(v) for v in position)
    pose = types.new(types.Pose, position=types.new(types.Point, x=x, y=y, z=z),
                     orientation=types.new(types.Quaternion, x=0.0, y=0.0, z=0.0, w=1.0))
    return types.new(types.Marker, header=header, ns=ns, id=marker_id, type=marker_type, action=ADD, pose=pose,
                     scale=types.new(types.Vector3, x=float(scale[0]), y=float(scale[1]), z=float(scale[2])),
                     color=colour, lifetime=make_duration(types, style.lifetime_s), frame_locked=False,
                     points=points or [], text=text)


def _delete(types: MessageTypes, header: Any, ns: str, marker_id: int) -> Any:
    return types.new(types.Marker, header=header, ns=ns, id=marker_id, action=DELETE)
