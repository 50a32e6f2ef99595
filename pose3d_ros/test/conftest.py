"""Shared fixtures: one torch thread, and the optional development data in ../shared/data (tests skip clearly
without it). Numeric RuntimeWarnings (overflow, invalid values, division by zero) fail the test that raises them:
in this code they mean a number went wrong on the way, even where a later check catches the result."""

import logging
import os
from pathlib import Path

import pytest
import torch

from pose3d_ros.node_logic.core_logs import propagate_again

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "error::RuntimeWarning")


@pytest.fixture(autouse=True)
def package_logs_reach_caplog():
    """``colcon test`` collects the launch tests into the same session as these, and importing ROS 2's ``launch``
    makes every logger created after it stop propagating to the root logger, where caplog listens
    (``launch.logging.LaunchLogger``). For the core's tests, this package's loggers (``pose3d_ros.*``, and the
    commands' ``pose3d.*``) propagate as they do anywhere else.
    """
    launch_class = logging.getLoggerClass()
    if launch_class is logging.Logger:  # no ROS 2 launch imported: nothing to undo
        yield
        return
    logging.setLoggerClass(logging.Logger)  # loggers a test's lazy imports create
    propagate_again(("pose3d", "pose3d_ros"))  # the commands' and the core's
    yield
    logging.setLoggerClass(launch_class)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tests' networks are small: on a shared CPU one thread is many times faster than competing ones (and it is
    what the nodes and ``pose3d run`` use by default)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} not found: this test needs the shared development data "
                    f"(set POSE3D_SHARED_DATA to its folder)")
    return path


@pytest.fixture(scope="session")
def mocap_path() -> Path:
    """Real Human3.6M motion (shared/data/mocap/h36m_positions_32j_50hz.npz)."""
    return _shared_file("mocap/h36m_positions_32j_50hz.npz")


@pytest.fixture(scope="session")
def video_path() -> Path:
    """A real 960x540 video of a person (shared/data/video/mmpose_demo.mp4)."""
    return _shared_file("video/mmpose_demo.mp4")
