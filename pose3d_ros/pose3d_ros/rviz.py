"""The RViz 2 configuration a launch starts RViz with, built from what that launch runs.

RViz reads displays, fixed frame, view and window layout from one YAML file. Built here (ROS-free, tested)
rather than copied from a fixed file, so that it names only topics the launch publishes (a display of a topic
nobody publishes shows a warning), its fixed frame is the top of the camera's TF tree, the debug-image panel
exists only when that image is published, and the window opens with the image panels at a useful size in a fixed
order (RViz stacks docks in creation order otherwise, which varies from start to start). ``config/pose3d.rviz``
is this module's output for the default launch, for opening by hand.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from pose3d_ros.node_logic.launch_config import is_true, launch_parameters
from pose3d_ros.node_logic.parameters import parameter_defaults

STAGES = ("lifter_node", "temporal_node")
SAFETY_DISPLAY_NAME = "Safety"
MONITORED_JOINTS_DISPLAY_NAME = "Monitored joints"
SKELETON_DISPLAY_NAMES = {"temporal_node": "Skeletons (refined)", "lifter_node": "Skeletons (per frame, lifter)"}
CAMERA_PANEL = "Camera"
DEBUG_PANEL = "2D keypoints"
DISPLAYS_PANEL = "Displays"

# Window layout in pixels: the 3D view in the middle, the Displays panel on the left, the image panels stacked on
# the right (a 16:9 image fills their width). Fits a 1920x1080 screen; RViz keeps the proportions on a smaller one.
WINDOW_SIZE = (1600, 1000)
LEFT_DOCK_WIDTH = 330
RIGHT_DOCK_WIDTH = 600

# The view: an orbit camera behind and above the real camera, on the ground between the people nearest to it
# (0.5 m) and the farthest the 2D stage still finds (about 8 m), so that all of them are in the picture.
VIEW_FOCUS_AHEAD_M = 3.0
VIEW_FOCUS_HEIGHT_M = 0.9
VIEW_DISTANCE_M = 7.0
VIEW_PITCH_RAD = 0.45
FLOOR_SIZE_M = 12
"""Side of the floor grid (1 m cells) in front of the camera."""


@dataclass(frozen=True)
class RvizSetup:
    """What the RViz configuration depends on: the launch's topics, frames and published images."""

    namespace: str = ""
    image_topic: str = "/camera/image_raw"
    stages: tuple[str, ...] = STAGES
    """The nodes that publish skeleton markers (``~/markers``), the last one shown."""
    debug_image: bool = False
    fixed_frame: str = "camera_link"
    floor_z: float = -1.2
    """Height of the floor in the fixed frame, where the grid is drawn."""
    safety: bool = False
    """safety_node runs (launch argument safety_config): it publishes the joints it monitors on
    safety/monitored_joints."""
    safety_markers: bool = False
    """safety_node also publishes its objects (zones, robot links) and their states on ~/markers."""


def resolve_topic(topic: str, namespace: str) -> str:
    """The absolute name of ``topic`` for a node in ``namespace`` (absolute topics stay as they are)."""
    if topic.startswith("/"):
        return topic
    return "/" + "/".join(part for part in (namespace.strip("/"), topic) if part)


def rviz_fixed_frame(video_source_parameters: dict) -> str:
    """The top of the camera's TF tree as video_source_node publishes it: its gravity-aligned world frame when the
    camera's attitude is known (``tf.world_frame`` set), else the camera's body frame (z up when the camera is level).
    """
    return video_source_parameters["tf.world_frame"] or video_source_parameters["tf.body_frame"]


def rviz_setup(document: dict, arguments: dict[str, str]) -> RvizSetup:
    """The RViz setup of a launch with these launch ``arguments`` and parsed params file ``document``."""
    def parameters(node: str) -> dict:
        return {**parameter_defaults(node), **launch_parameters(document, node, arguments)}

    use_temporal = is_true(arguments.get("use_temporal", "true"))
    stages = tuple(stage for stage in (STAGES if use_temporal else STAGES[:1])
                   if parameters(stage)["markers.enabled"])
    video = parameters("video_source_node")
    safety = bool(arguments.get("safety_config", ""))
    fixed_frame = arguments.get("fixed_frame", "") or rviz_fixed_frame(video)
    return RvizSetup(
        namespace=arguments.get("namespace", ""), image_topic=arguments.get("image_topic", "/camera/image_raw"),
        stages=stages, debug_image=parameters("keypoints2d_node")["publish_debug_image"],
        safety=safety, safety_markers=safety and parameters("safety_node")["markers.enabled"],
        # the body frame is the camera's, tf.height_m above the floor; a world or robot frame has its z = 0 there
        fixed_frame=fixed_frame, floor_z=-video["tf.height_m"] if fixed_frame == video["tf.body_frame"] else 0.0)


def _topic(value: str, reliability: str = "Reliable") -> dict:
    return {"Depth": 1, "Durability Policy": "Volatile", "History Policy": "Keep Last",
            "Reliability Policy": reliability, "Value": value}


def _marker_display(name: str, topic: str, enabled: bool) -> dict:
    return {"Class": "rviz_default_plugins/MarkerArray", "Enabled": enabled, "Name": name, "Namespaces": {},
            "Topic": _topic(topic), "Value": enabled}


def _image_display(name: str, topic: str) -> dict:
    return {"Class": "rviz_default_plugins/Image", "Enabled": True, "Max Value": 1, "Median window": 5,
            "Min Value": 0, "Name": name, "Normalize Range": True, "Topic": _topic(topic, "Best Effort"),
            "Value": True}


def _monitored_joints_display(topic: str) -> dict:
    """safety_node's PoseArray as small white cones (its poses carry no orientation): the joints the monitor
    measures from. Off at start: the skeletons already draw those joints, and these, published after safety_node's
    work on a message, trail them by its latency; one tick shows exactly which joints count.
    """
    return {"Alpha": 1.0, "Class": "rviz_default_plugins/PoseArray", "Color": "255; 255; 255", "Enabled": False,
            "Head Length": 0.04, "Head Radius": 0.02, "Name": MONITORED_JOINTS_DISPLAY_NAME,
            "Shaft Length": 0.01, "Shaft Radius": 0.005, "Shape": "Arrow (3D)", "Topic": _topic(topic),
            "Value": False}


def image_panels(setup: RvizSetup) -> tuple[str, ...]:
    """The image panels, top to bottom."""
    return (CAMERA_PANEL, DEBUG_PANEL) if setup.debug_image else (CAMERA_PANEL,)


def displays(setup: RvizSetup) -> list[dict]:
    """The displays, each on a topic this setup publishes: floor grid, skeletons per stage (the last one shown),
    safety_node's objects and states and the joints it monitors when it runs, TF, and the image panels.
    """
    found = [{"Alpha": 0.5, "Cell Size": 1.0, "Class": "rviz_default_plugins/Grid", "Color": "160; 160; 164",
              "Enabled": True, "Line Style": {"Line Width": 0.03, "Value": "Lines"}, "Name": "Floor",
              "Normal Cell Count": 0, "Offset": {"X": FLOOR_SIZE_M / 2, "Y": 0.0, "Z": setup.floor_z},
              "Plane": "XY", "Plane Cell Count": FLOOR_SIZE_M, "Reference Frame": "<Fixed Frame>", "Value": True}]
    for stage in reversed(setup.stages):  # the shown stage first
        found.append(_marker_display(SKELETON_DISPLAY_NAMES[stage], resolve_topic(f"{stage}/markers", setup.namespace),
                                     stage == setup.stages[-1]))
    if setup.safety_markers:
        found.append(_marker_display(SAFETY_DISPLAY_NAME, resolve_topic("safety_node/markers", setup.namespace), True))
    if setup.safety:
        found.append(_monitored_joints_display(resolve_topic("safety/monitored_joints", setup.namespace)))
    found.append({"Class": "rviz_default_plugins/TF", "Enabled": True, "Frame Timeout": 15, "Marker Scale": 0.5,
                  "Name": "TF", "Show Arrows": False, "Show Axes": True, "Show Names": False, "Value": True})
    found.append(_image_display(CAMERA_PANEL, resolve_topic(setup.image_topic, setup.namespace)))
    if setup.debug_image:
        found.append(_image_display(DEBUG_PANEL, resolve_topic("keypoints2d_node/debug_image", setup.namespace)))
    return found


def topics(config: dict) -> set[str]:
    """Every topic an RViz configuration subscribes to."""
    return {display["Topic"]["Value"] for display in config["Visualization Manager"]["Displays"] if "Topic" in display}


def rviz_config(setup: RvizSetup) -> dict:
    """The RViz 2 configuration (the parsed YAML document) for ``setup``."""
    ahead, height = VIEW_FOCUS_AHEAD_M, setup.floor_z + VIEW_FOCUS_HEIGHT_M
    return {
        "Panels": [{"Class": "rviz_common/Displays", "Help Height": 0, "Name": DISPLAYS_PANEL,
                    "Property Tree Widget": {"Expanded": [], "Splitter Ratio": 0.6}}],
        "Visualization Manager": {
            "Class": "", "Displays": displays(setup), "Enabled": True,
            "Global Options": {"Background Color": "48; 48; 48", "Fixed Frame": setup.fixed_frame,
                               "Frame Rate": 30},
            "Name": "root",
            "Tools": [{"Class": "rviz_default_plugins/MoveCamera"}, {"Class": "rviz_default_plugins/FocusCamera"}],
            "Value": True,
            "Views": {"Current": {"Class": "rviz_default_plugins/Orbit", "Distance": VIEW_DISTANCE_M,
                                  "Focal Point": {"X": ahead, "Y": 0.0, "Z": round(height, 6)},
                                  "Focal Shape Fixed Size": True, "Focal Shape Size": 0.05,
                                  "Name": "Current View", "Near Clip Distance": 0.01, "Pitch": VIEW_PITCH_RAD,
                                  "Target Frame": "<Fixed Frame>", "Value": "Orbit (rviz_default_plugins)",
                                  "Yaw": math.pi},
                      "Saved": None},
        },
        "Window Geometry": window_geometry(image_panels(setup)),
    }


# --------------------------------------------------------------------------------------------------
# Window layout: Qt's QMainWindow state, which RViz restores from "QMainWindow State"
# --------------------------------------------------------------------------------------------------

# Markers and values of QMainWindow::saveState (Qt 5: qmainwindowlayout.cpp, qdockarealayout.cpp and
# qtoolbararealayout.cpp).
_VERSION_MARKER, _DOCK_STATE_MARKER, _SEQUENCE_MARKER, _WIDGET_MARKER = 0xFF, 0xFD, 0xFC, 0xFB
_TOOLBAR_STATE_MARKER = 0xFC
_TOP_TOOLBAR_AREA = 2
_DEFAULT_SIZE = -1
TOOLBAR = "Tools"
"""RViz's tool bar; a state without it leaves it on no tool bar area, drawn over the menus."""
_QT_VERTICAL = 2
_VISIBLE = 1
_DOCK_AREA_INDEX = {"left": 0, "right": 1}
_CORNERS = (4, 4, 8, 8)  # top-left, top-right: top area; bottom-left, bottom-right: bottom area (Qt's default)
_NO_MAXIMUM = 0xFFFFFF  # QWIDGETSIZE_MAX
_SEPARATOR_PX = 6


def _qstring(text: str) -> bytes:
    data = text.encode("utf-16-be")
    return struct.pack(">I", len(data)) + data


def qmainwindow_state(columns: dict[str, tuple[int, tuple[str, ...]]], height: int) -> str:
    """Hex of a QMainWindow state with dock columns ``{"left"|"right": (width, dock names top to bottom)}``, the
    docks of a column of equal height, and RViz's tool bar at the top. Dock names are the objectNames RViz gives its
    docks: a panel's or an image display's name. RViz restores it after creating its displays; docks not named keep
    Qt's default place.
    """
    central_width = WINDOW_SIZE[0] - sum(width + _SEPARATOR_PX for width, _ in columns.values())
    out = struct.pack(">iiBi", _VERSION_MARKER, 0, _DOCK_STATE_MARKER, len(columns))
    for area, (width, names) in sorted(columns.items(), key=lambda item: _DOCK_AREA_INDEX[item[0]]):
        out += struct.pack(">iiiBBi", _DOCK_AREA_INDEX[area], width, height, _SEQUENCE_MARKER, _QT_VERTICAL,
                           len(names))
        extent = (height - _SEPARATOR_PX * (len(names) - 1)) // len(names)
        for index, name in enumerate(names):
            out += (struct.pack(">B", _WIDGET_MARKER) + _qstring(name)
                    + struct.pack(">Biiii", _VISIBLE, index * (extent + _SEPARATOR_PX), extent, 0, _NO_MAXIMUM))
    out += struct.pack(">ii", central_width, height) + struct.pack(">4i", *_CORNERS)
    # one line of tool bars at the top holding RViz's: shown, at its start, its own size, not floating
    out += (struct.pack(">Biii", _TOOLBAR_STATE_MARKER, 1, _TOP_TOOLBAR_AREA, 1) + _qstring(TOOLBAR)
            + struct.pack(">BiiII", _VISIBLE, 0, _DEFAULT_SIZE, 0, 0))
    return out.hex()


def window_geometry(panels: tuple[str, ...]) -> dict:
    """RViz's "Window Geometry": size, position, and the Displays panel left of the 3D view, ``panels`` right of it."""
    width, height = WINDOW_SIZE
    state = qmainwindow_state({"left": (LEFT_DOCK_WIDTH, (DISPLAYS_PANEL,)), "right": (RIGHT_DOCK_WIDTH, panels)},
                              height - 80)  # less the menu, tool and status bars
    return {"Height": height, "Width": width, "X": 0, "Y": 0, "Hide Left Dock": False, "Hide Right Dock": False,
            "QMainWindow State": state, DISPLAYS_PANEL: {"collapsed": False},
            **{panel: {"collapsed": False} for panel in panels}}
