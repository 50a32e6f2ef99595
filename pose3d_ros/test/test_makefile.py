"""The Makefile's set-up takes the user's choice of torch build (make -n: nothing is installed)."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def setup_commands(*variables: str) -> str:
    return subprocess.run(["make", "-C", str(REPO), "-n", "-B", "setup", *variables], check=True,
                          capture_output=True, text=True).stdout


def test_default_set_up_installs_the_pinned_torch_as_pip_finds_it():
    commands = setup_commands()
    assert "pip install --quiet  torch==2.13.0" in commands and "--index-url" not in commands
    assert "--system-site-packages" not in commands


def test_torch_index_is_pip_index_url_for_torch_only():
    commands = setup_commands("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    torch_line, package_line = (line for line in commands.splitlines() if "pip install" in line and
                                ("torch==" in line or "pose3d_ros" in line))
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in torch_line
    assert "--index-url" not in package_line


def test_keep_torch_uses_the_given_python_s_torch():
    commands = setup_commands("PYTHON=/opt/robot/python3", "KEEP_TORCH=1")
    assert "/opt/robot/python3 -m venv --system-site-packages .venv" in commands
    assert "has no torch" in commands  # a clear stop when there is none to keep
