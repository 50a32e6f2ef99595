"""The RViz configuration of a launch: topics it names, fixed frame and camera TF, floor, window layout."""

import struct
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from pose3d_ros import rviz
from pose3d_ros.node_logic.camera_frames import camera_transforms
from pose3d_ros.node_logic.launch_config import launch_parameters
from pose3d_ros.rviz import RvizSetup, rviz_config, rviz_setup, topics

PACKAGE = Path(__file__).resolve().parents[1]
DEFAULT_ARGUMENTS = {"source": "video.mp4", "use_temporal": "true", "namespace": "", "image_topic": "/camera/image_raw"}
# QMainWindow::saveState() of Qt 5.15 (PyQt5) for a window with a toolbar "Tools", a dock "Displays" on the left
# (300 px) and docks "Camera" over "2D keypoints" on the right (600 px).
QT_SAVED_STATE = (
    "000000ff00000000fd00000002000000000000012c000003d7fc0200000001fb000000100044006900730070006c0061007900730100000011"
    "000003d70000002c00ffffff0000000100000258000003d7fc0200000002fb0000000c00430061006d0065007200610100000011000001e900"
    "00002c00fffffffb00000018003200440020006b006500790070006f0069006e007400730100000200000001e80000002c00ffffff000002b0"
    "000003d700000004000000040000000800000008fc0000000100000002000000010000000a0054006f006f006c00730100000000ffffffff00"
    "00000000000000")


def shipped_params():
    return YAML(typ="safe").load((PACKAGE / "config" / "pipeline.yaml").read_text())


def with_parameters(node, **values):
    document = shipped_params()
    document[node]["ros__parameters"].update(values)
    return document


def displays_by_name(config):
    return {display["Name"]: display for display in config["Visualization Manager"]["Displays"]}


def dock_columns(hex_state):
    """({dock area index: (width, [(dock name, visible, size)])}, {tool bar area: [(name, visible)]}) of a
    QMainWindow state (Qt 5's format)."""
    data, at = bytes.fromhex(hex_state), 0

    def take(fmt):
        nonlocal at
        values = struct.unpack_from(fmt, data, at)
        at += struct.calcsize(fmt)
        return values

    assert take(">iiB") == (0xFF, 0, 0xFD)
    columns = {}
    for _ in range(take(">i")[0]):
        area, width, _height, sequence, _orientation, count = take(">iiiBBi")
        assert sequence == 0xFC
        docks = []
        for _ in range(count):
            assert take(">B") == (0xFB,)
            length = take(">I")[0]
            name = data[at:at + length].decode("utf-16-be")
            at += length
            flags, _pos, size, _minimum, _maximum = take(">Biiii")
            docks.append((name, bool(flags & 1), size))
        columns[area] = (width, docks)
    take(">ii4i")  # the central widget's size, the corners' areas
    assert take(">B") == (0xFC,)
    toolbars = {}
    for _ in range(take(">i")[0]):
        area, count = take(">ii")
        for _ in range(count):
            length = take(">I")[0]
            name = data[at:at + length].decode("utf-16-be")
            at += length
            shown, _pos, _size, _geometry0, _geometry1 = take(">BiiII")
            toolbars.setdefault(area, []).append((name, bool(shown & 1)))
    assert at == len(data)
    return columns, toolbars


def test_the_default_launch_shows_the_refined_skeletons_in_the_camera_body_frame_above_the_floor():
    setup = rviz_setup(shipped_params(), DEFAULT_ARGUMENTS)
    assert setup == RvizSetup(fixed_frame="camera_link", floor_z=-1.2)
    config = rviz_config(setup)
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "camera_link"
    shown = displays_by_name(config)
    assert list(shown) == ["Floor", "Skeletons (refined)", "Skeletons (per frame, lifter)", "TF", "Camera"]
    assert shown["Skeletons (refined)"]["Enabled"] and not shown["Skeletons (per frame, lifter)"]["Enabled"]
    assert topics(config) == {"/temporal_node/markers", "/lifter_node/markers", "/camera/image_raw"}
    assert shown["Floor"]["Plane"] == "XY" and shown["Floor"]["Offset"]["Z"] == -1.2
    # The view looks over the camera at the ground where people stand, 0.5 m to 8 m ahead, from behind and above.
    view = config["Visualization Manager"]["Views"]["Current"]
    focus = np.array([view["Focal Point"][axis] for axis in "XYZ"])
    eye = focus + view["Distance"] * np.array([np.cos(view["Yaw"]) * np.cos(view["Pitch"]),
                                               np.sin(view["Yaw"]) * np.cos(view["Pitch"]), np.sin(view["Pitch"])])
    assert 0.5 < focus[0] < 8.0 and eye[0] < 0.0 < eye[2] - setup.floor_z


def test_the_config_names_only_the_topics_the_launch_publishes():
    namespaced = rviz_config(rviz_setup(shipped_params(), {**DEFAULT_ARGUMENTS, "namespace": "/robot1/",
                                                           "image_topic": "cam/image"}))
    assert topics(namespaced) == {"/robot1/temporal_node/markers", "/robot1/lifter_node/markers", "/robot1/cam/image"}
    lifter_only = rviz_config(rviz_setup(shipped_params(), {**DEFAULT_ARGUMENTS, "use_temporal": "false"}))
    assert displays_by_name(lifter_only)["Skeletons (per frame, lifter)"]["Enabled"]
    assert topics(lifter_only) == {"/lifter_node/markers", "/camera/image_raw"}
    no_markers = rviz_config(rviz_setup(with_parameters("temporal_node", markers={"enabled": False}),
                                        DEFAULT_ARGUMENTS))
    assert topics(no_markers) == {"/lifter_node/markers", "/camera/image_raw"}
    assert displays_by_name(no_markers)["Skeletons (per frame, lifter)"]["Enabled"]
    debug = rviz_config(rviz_setup(with_parameters("keypoints2d_node", publish_debug_image=True), DEFAULT_ARGUMENTS))
    assert "/keypoints2d_node/debug_image" in topics(debug)


def test_safety_displays_exist_exactly_when_safety_node_runs():
    safety_arguments = {**DEFAULT_ARGUMENTS, "namespace": "robot1", "safety_config": "arm.yaml"}
    safety = displays_by_name(rviz_config(rviz_setup(shipped_params(), safety_arguments)))
    assert safety["Safety"]["Topic"]["Value"] == "/robot1/safety_node/markers"
    assert safety["Monitored joints"]["Topic"]["Value"] == "/robot1/safety/monitored_joints"
    assert safety["Safety"]["Enabled"] and not safety["Monitored joints"]["Enabled"]  # the skeletons draw them
    assert safety["Monitored joints"]["Class"] == "rviz_default_plugins/PoseArray"
    without = rviz_config(rviz_setup(shipped_params(), {**DEFAULT_ARGUMENTS, "safety_config": ""}))
    assert not {"Safety", "Monitored joints"} & set(displays_by_name(without))
    assert not any("safety" in topic for topic in topics(without))
    # markers.enabled: false leaves the monitored joints, which safety_node publishes anyway
    no_markers = rviz_config(rviz_setup(with_parameters("safety_node", markers={"enabled": False}), safety_arguments))
    assert topics(no_markers) >= {"/robot1/safety/monitored_joints"}
    assert "/robot1/safety_node/markers" not in topics(no_markers)


def test_the_fixed_frame_is_gravity_aligned_when_the_attitude_is_known():
    level = with_parameters("video_source_node", tf={"world_frame": "floor", "height_m": 2.0, "pitch_deg": 30.0})
    setup = rviz_setup(level, DEFAULT_ARGUMENTS)
    assert (setup.fixed_frame, setup.floor_z) == ("floor", 0.0)
    assert rviz_setup(shipped_params(), {**DEFAULT_ARGUMENTS, "fixed_frame": "base_link"}).fixed_frame == "base_link"
    assert rviz_setup(shipped_params(), {**DEFAULT_ARGUMENTS, "fixed_frame": "base_link"}).floor_z == 0.0


def rotation(quaternion):
    x, y, z, w = quaternion
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_camera_transforms_make_the_optical_frame_z_up_and_place_the_camera_in_the_world():
    parameters = launch_parameters(shipped_params(), "video_source_node", {"source": "video.mp4"})
    (optical,) = camera_transforms(parameters)
    assert (optical.parent, optical.child, optical.translation) == ("camera_link", "camera_optical_frame",
                                                                   (0.0, 0.0, 0.0))
    np.testing.assert_allclose(optical.rotation, (-0.5, 0.5, -0.5, 0.5))  # REP-103's optical rotation
    # optical z (forward) is the body's x, optical y (down) the body's -z, optical x (right) the body's -y
    np.testing.assert_allclose(rotation(optical.rotation) @ np.eye(3), [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)
    tilted = {**parameters, "tf.world_frame": "floor", "tf.height_m": 1.5, "tf.pitch_deg": 30.0, "tf.roll_deg": 10.0}
    world, body_to_optical = camera_transforms(tilted)
    assert (world.parent, world.child, world.translation) == ("floor", "camera_link", (0.0, 0.0, 1.5))
    assert body_to_optical == optical
    forward = rotation(world.rotation) @ [1.0, 0.0, 0.0]
    np.testing.assert_allclose(forward[2], -np.sin(np.radians(30.0)))  # pitched 30 degrees down
    right = rotation(world.rotation) @ [0.0, -1.0, 0.0]
    assert right[2] < 0  # positive roll lowers the right side
    assert all(type(value) is float for edge in (world, optical) for value in edge.translation + edge.rotation)
    assert camera_transforms({**parameters, "tf.enabled": False}) == []


def test_the_window_stacks_the_image_panels_right_of_the_view_in_a_fixed_order():
    # The reader of the state agrees with Qt's own output ...
    assert dock_columns(QT_SAVED_STATE) == ({0: (300, [("Displays", True, 983)]),
                                             1: (600, [("Camera", True, 489), ("2D keypoints", True, 488)])},
                                            {2: [("Tools", True)]})
    # ... and reads the window of a launch with the debug image: Displays left, Camera over 2D keypoints right.
    config = rviz_config(rviz_setup(with_parameters("keypoints2d_node", publish_debug_image=True), DEFAULT_ARGUMENTS))
    geometry = config["Window Geometry"]
    assert (geometry["Width"], geometry["Height"]) == rviz.WINDOW_SIZE
    columns, toolbars = dock_columns(geometry["QMainWindow State"])
    assert toolbars == {2: [("Tools", True)]}  # RViz's tool bar on top (left out, Qt draws it over the menus)
    assert [name for name, _, _ in columns[0][1]] == ["Displays"]
    assert [name for name, _, _ in columns[1][1]] == ["Camera", "2D keypoints"]
    assert all(visible and size > 400 for _, visible, size in columns[1][1])
    assert columns[1][0] >= 600  # a 960x540 image shows at 600x338 or more
    single, _ = dock_columns(rviz_config(RvizSetup())["Window Geometry"]["QMainWindow State"])
    assert [name for name, _, _ in single[1][1]] == ["Camera"]


def test_the_shipped_config_is_the_default_launch_one():
    shipped = YAML(typ="safe").load((PACKAGE / "config" / "pose3d.rviz").read_text())
    assert shipped == rviz_config(rviz_setup(shipped_params(), DEFAULT_ARGUMENTS)), (
        "regenerate config/pose3d.rviz: yaml.safe_dump(rviz_config(RvizSetup()), sort_keys=False)")


@pytest.mark.parametrize("panels", [("Camera",), ("Camera", "2D keypoints")])
def test_qt_restores_the_layout(panels):
    """Qt itself (PyQt5, when installed) puts the docks where the state says, whatever order they were made in."""
    qt_core = pytest.importorskip("PyQt5.QtCore", reason="PyQt5 is not installed")
    qt_widgets = pytest.importorskip("PyQt5.QtWidgets")
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = qt_widgets.QApplication.instance() or qt_widgets.QApplication([])
    window = qt_widgets.QMainWindow()
    window.setCentralWidget(qt_widgets.QLabel("3D view"))
    toolbar = window.addToolBar("Tools")
    toolbar.setObjectName("Tools")
    docks = {}
    for name in reversed(("Displays",) + panels):  # made in the wrong order, in the wrong area
        docks[name] = qt_widgets.QDockWidget(name)
        docks[name].setObjectName(name)
        docks[name].setWidget(qt_widgets.QLabel(name))
        window.addDockWidget(qt_core.Qt.LeftDockWidgetArea, docks[name])
    geometry = rviz.window_geometry(panels)
    window.resize(geometry["Width"], geometry["Height"])
    window.show()
    app.processEvents()
    assert window.restoreState(qt_core.QByteArray.fromHex(geometry["QMainWindow State"].encode()))
    app.processEvents()
    assert window.dockWidgetArea(docks["Displays"]) == qt_core.Qt.LeftDockWidgetArea
    assert window.toolBarArea(toolbar) == qt_core.Qt.TopToolBarArea
    tops = [docks[name].geometry().top() for name in panels]
    assert tops == sorted(tops) and all(window.dockWidgetArea(docks[name]) == qt_core.Qt.RightDockWidgetArea
                                        for name in panels)
    assert all(docks[name].width() >= rviz.RIGHT_DOCK_WIDTH and docks[name].height() > 400 for name in panels)
