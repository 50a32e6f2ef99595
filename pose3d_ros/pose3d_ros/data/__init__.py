"""Training and evaluation data: Human3.6M motion, whole-body synthesis, synthetic cameras and 2D detections,
and the H3WB formats. No ROS. See docs/data.md.
"""

from __future__ import annotations

from .h36m import SOURCE_FPS, TEST_SUBJECTS, TRAIN_SUBJECTS, load_h36m, to_h36m17
from .sets import make_lifting_set, make_sequence_set

__all__ = [
    "SOURCE_FPS", "TEST_SUBJECTS", "TRAIN_SUBJECTS", "load_h36m", "make_lifting_set", "make_sequence_set", "to_h36m17",
]
