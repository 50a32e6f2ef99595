"""Worker-safety monitoring without ROS: distances from people's joints to robot links and zones, states with
hysteresis, and fail-safe ``unknown`` (docs/safety.md). A monitoring aid, not a certified safety function.
"""

from .config import SafetyConfig, SafetyConfigError
from .geometry import Box, Capsule, Cylinder, ExtrudedPolygon, Pose
from .monitor import SafetyMonitor, SafetyReport
from .states import SafetyState, UnknownCause

__all__ = ["Box", "Capsule", "Cylinder", "ExtrudedPolygon", "Pose", "SafetyConfig", "SafetyConfigError",
           "SafetyMonitor", "SafetyReport", "SafetyState", "UnknownCause"]
