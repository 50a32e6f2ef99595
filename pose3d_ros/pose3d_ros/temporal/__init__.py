"""Temporal stage: the 3D-UGCN refiner that smooths 3D skeletons over time and fills occluded joints and frames,
offline and streaming, with its baselines (linear interpolation over gaps, One-Euro). No ROS. See docs/temporal.md.

``from pose3d_ros.temporal import StreamingRefiner`` is the streaming API (:mod:`.streaming`). PyTorch is imported
on first use, so that importing the package (the CLI does, for its commands) stays fast.
"""

from __future__ import annotations

DEFAULT_LOOKAHEAD = 4
"""Frames the streaming refiner waits for before it outputs a frame (0.16 s at the 25 Hz training rate)."""
DEFAULT_MAX_GAP = 10
"""Longest run of missing frames of a joint that is still filled (0.4 s at 25 Hz); longer runs are MISSING."""
DEFAULT_OFFLINE_MAX_GAP_S = 2.0
"""Seconds: the longest gap (between a joint's two estimates) that offline refinement fills; longer ones are
MISSING."""

DEFAULT_ROOT_BANDWIDTH_S = 0.12
"""Seconds: the bandwidth of the root trajectory's local linear fit."""
ONE_EURO_MIN_CUTOFF = 1.0
"""Hz: the One-Euro baseline's cut-off at rest."""
ONE_EURO_BETA = 0.5
"""Hz per m/s: how fast the One-Euro baseline's cut-off rises with speed."""

__all__ = ["StreamingRefiner", "OfflineRefiner", "RefinedPose", "UGCN", "UGCNConfig", "OneEuroFilter", "fill_gaps"]

_HOMES = {"StreamingRefiner": "streaming", "OfflineRefiner": "offline", "RefinedPose": "streaming",
          "UGCN": "model", "UGCNConfig": "model",
          "OneEuroFilter": "baselines", "fill_gaps": "baselines"}


def __getattr__(name: str):
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
