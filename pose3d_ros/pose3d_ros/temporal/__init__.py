"""Temporal stage: the 3D-UGCN refiner that smooths 3D skeletons over time and fills occluded joints and frames,
offline and streaming, with its baselines (linear interpolation over gaps, One-Euro). No ROS. See docs/temporal.md.

``from pose3d_ros.temporal import StreamingRefiner`` is the streaming API (:mod:`.streaming`). PyTorch is imported
on first use, so that importing the package (the CLI does, for its commands) stays fast.
"""

from __future__ import annotations

__all__ = ["StreamingRefiner", "RefinedPose", "UGCN", "UGCNConfig", "OneEuroFilter", "fill_gaps"]

_HOMES = {"StreamingRefiner": "streaming", "RefinedPose": "streaming", "UGCN": "model", "UGCNConfig": "model",
          "OneEuroFilter": "baselines", "fill_gaps": "baselines"}


def __getattr__(name: str):
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
