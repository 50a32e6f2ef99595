"""2D -> 3D lifting: SemGAN (default) and the SemGCN / SimpleBaseline baselines, their training, evaluation and
weights. ``from pose3d_ros.lifting import Lifter`` is the inference API (see :mod:`.lifter`).

PyTorch is imported on first use of :class:`Lifter`, so that importing the package (the CLI does, for its
commands) stays fast.
"""

from __future__ import annotations

__all__ = ["Lifter", "LiftResult"]


def __getattr__(name: str):
    if name in __all__:
        from . import lifter

        return getattr(lifter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
