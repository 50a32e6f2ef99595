"""The ROS layer without ROS: entry points, launch arguments, topic names and the core's independence from rclpy.

Also the ament lint equivalent: ament_python packages usually carry test_flake8/test_pep257/test_copyright; this
project lints with ruff (its ruff.toml selects pyflakes, pycodestyle, isort, bugbear, pyupgrade and pydocstyle
rules), so ``colcon test`` runs ruff with the repository's configuration instead. There is no copyright test:
the licence is declared once, in package.xml and setup.py.
"""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent


def test_every_console_script_has_its_main():
    setup = (PACKAGE / "setup.py").read_text()
    scripts = re.findall(r'"(\w+) = pose3d_ros\.ros\.(\w+):main"', setup)
    assert {name for name, _ in scripts} == {"keypoints2d_node", "lifter_node", "temporal_node",
                                              "video_source_node", "safety_node"}
    for _, module in scripts:
        tree = ast.parse((PACKAGE / "pose3d_ros" / "ros" / f"{module}.py").read_text())
        assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body), module


def test_the_core_never_imports_rclpy():
    code = ("import sys, pose3d_ros.messages, pose3d_ros.markers, pose3d_ros.node_logic, pose3d_ros.safety.markers, "
            "pose3d_ros.safety.diagnostics, pose3d_ros.safety.heartbeat, pose3d_ros.safety.points, "
            "pose3d_ros.safety.upstream; "
            "assert not [m for m in sys.modules if m.startswith(('rclpy', 'rosidl'))], 'rclpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_every_launch_file_declares_its_documented_arguments():
    from pose3d_ros.node_logic.launch_config import LAUNCH_ARGUMENTS, LAUNCH_FILES

    files = {path.name: path.read_text() for path in (PACKAGE / "launch").glob("*.launch.py")}
    assert set(files) == set(LAUNCH_FILES)
    for name, source in files.items():
        assert f'LAUNCH_FILE = "{name}"' in source, f"{name} does not declare its arguments from node_logic"
    assert LAUNCH_FILES["pipeline.launch.py"] == tuple(LAUNCH_ARGUMENTS)
    assert set().union(*map(set, LAUNCH_FILES.values())) == set(LAUNCH_ARGUMENTS)
    docs = (REPO / "docs" / "ros.md").read_text()
    for name in LAUNCH_ARGUMENTS:
        assert f"| `{name}` |" in docs, f"launch argument {name} is not documented"
    for name in LAUNCH_FILES:
        assert f"`{name}`" in docs, f"launch file {name} is not documented"


def test_node_attributes_do_not_shadow_rclpy_ones():
    """A node attribute named like one of rclpy's (``_subscriptions`` did) silently breaks the executor."""
    lifecycle = pytest.importorskip("rclpy.lifecycle", reason="rclpy (ROS 2) is not installed")
    import rclpy

    rclpy.init()
    try:
        node = lifecycle.LifecycleNode("attribute_probe")
        rclpy_names = set(vars(node)) | set(dir(type(node)))
        node.destroy_node()
    finally:
        rclpy.shutdown()
    ours = set()
    for path in (PACKAGE / "pose3d_ros" / "ros").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
                    and isinstance(node.ctx, ast.Store)):
                ours.add(node.attr)
    assert ours and not ours & rclpy_names, f"attributes that shadow rclpy's: {sorted(ours & rclpy_names)}"


def test_a_double_parameter_takes_an_integer_and_a_bad_update_is_refused_with_its_reason():
    """``ros2 run pose3d_ros keypoints2d_node --ros-args -p movenet.feet_per_frame:=1`` died in declare_parameter
    (rclpy refuses an INTEGER for a DOUBLE); ``ros2 param set`` is checked like the params file.
    """
    pytest.importorskip("rclpy.lifecycle", reason="rclpy (ROS 2) is not installed")
    pytest.importorskip("cv_bridge", reason="cv_bridge (ROS 2) is not installed")
    import rclpy
    from rclpy.parameter import Parameter

    from pose3d_ros.ros.keypoints2d_node import Keypoints2DNode

    rclpy.init(args=["--ros-args", "-p", "movenet.feet_per_frame:=1", "-p", "movenet.part_max_age_s:=0.25"])
    try:
        node = Keypoints2DNode()  # the models load on configure, not here
        try:
            assert node.param("movenet.feet_per_frame") == 1.0 and type(node.param("movenet.feet_per_frame")) is float
            assert node.param("movenet.part_max_age_s") == 0.25
            assert node.set_parameters([Parameter("movenet.feet_per_frame", value=2)])[0].successful
            assert node.param("movenet.feet_per_frame") == 2.0
            refused = node.set_parameters([Parameter("movenet.feet_per_frame", value="half")])[0]
            assert not refused.successful and "must be a double" in refused.reason
            assert not node.set_parameters([Parameter("movenet.parts_per_frame", value=2.5)])[0].successful  # rclpy
            assert not node.set_parameters([Parameter("backend", value="openpose")])[0].successful
            assert node.param("backend") == "movenet"
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown()


def test_rviz_config_shows_the_topics_the_nodes_publish():
    from pose3d_ros.rviz import RvizSetup, rviz_config, topics

    assert topics(rviz_config(RvizSetup(debug_image=True, safety=True, safety_markers=True))) == {
        "/temporal_node/markers", "/lifter_node/markers", "/keypoints2d_node/debug_image", "/safety_node/markers",
        "/safety/monitored_joints", "/camera/image_raw"}
    sources = {path.stem: path.read_text() for path in (PACKAGE / "pose3d_ros" / "ros").glob("*.py")}
    assert '"~/markers"' in sources["base"].split("class SkeletonOutput")[1]
    assert "SkeletonOutput(self" in sources["lifter_node"] and "SkeletonOutput(self" in sources["temporal_node"]
    assert '"~/debug_image"' in sources["keypoints2d_node"]
    assert '"~/markers"' in sources["safety_node"] and '"safety/monitored_joints"' in sources["safety_node"]


def test_ruff_with_the_repository_configuration():
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))  # a venv not activated
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    result = subprocess.run([ruff, "check", "--config", str(REPO / "ruff.toml"), str(PACKAGE / "pose3d_ros" / "ros"),
                             str(PACKAGE / "launch"), str(PACKAGE / "test" / "test_pipeline_launch.py")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
