"""Training and evaluation data, no ROS: Human3.6M motion, whole-body synthesis, synthetic cameras and 2D
detections, training sets for the lifter and the temporal refiner, and the H3WB formats. See docs/data.md.
"""

from __future__ import annotations

from .h3wb import (
    cross_validation_split,
    load_h3wb_json,
    load_h3wb_npz,
    score_h3wb,
    write_h3wb_predictions,
)
from .h36m import SOURCE_FPS, TEST_SUBJECTS, TRAIN_SUBJECTS, load_h36m, to_h36m17
from .sets import load_set, make_lifting_set, make_sequence_set, make_setup_sets, save_set
from .synthetic import synthetic_walk, write_motion_file
from .wholebody import Identity, sample_identity, synthesize_wholebody

__all__ = [
    "SOURCE_FPS", "TEST_SUBJECTS", "TRAIN_SUBJECTS", "Identity", "cross_validation_split", "load_h36m",
    "load_h3wb_json", "load_h3wb_npz", "load_set", "make_lifting_set", "make_sequence_set", "make_setup_sets",
    "sample_identity", "save_set", "score_h3wb", "synthesize_wholebody", "synthetic_walk", "to_h36m17",
    "write_h3wb_predictions", "write_motion_file",
]
