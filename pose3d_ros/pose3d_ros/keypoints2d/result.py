"""The 2D stage's output: whole-body keypoints of every person in one image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_ros.skeleton import WHOLEBODY133


@dataclass(frozen=True)
class Keypoints2D:
    """COCO-WholeBody keypoints of P people (P may be 0) in pixels of the source image.

    Follows the team's 2D contract: origin at the top-left corner of the top-left pixel; ``conf`` 0 marks a joint
    that was not detected, whose coordinates follow ``WHOLEBODY133.fill_missing``; never NaN.
    """

    kp2d: np.ndarray
    """(P, 133, 2) float32 pixels."""
    conf: np.ndarray
    """(P, 133) float32 in [0, 1]."""
    person_ids: np.ndarray
    """(P,) int64 ids, stable across frames of one stream where the backend tracks people."""
    image_size: tuple[int, int]
    """(width, height) of the source image."""
    layout: str = WHOLEBODY133.name

    def __post_init__(self) -> None:
        people = len(self.person_ids)
        joints = WHOLEBODY133.num_joints
        if self.kp2d.shape != (people, joints, 2) or self.conf.shape != (people, joints):
            raise ValueError(f"inconsistent keypoints: kp2d {self.kp2d.shape}, conf {self.conf.shape}, "
                             f"{people} person ids; expected ({people}, {joints}, 2) and ({people}, {joints})")

    def __len__(self) -> int:
        return len(self.person_ids)

    @classmethod
    def empty(cls, image_size: tuple[int, int]) -> Keypoints2D:
        """The result for an image with nobody in it."""
        joints = WHOLEBODY133.num_joints
        return cls(np.zeros((0, joints, 2), np.float32), np.zeros((0, joints), np.float32),
                   np.zeros(0, np.int64), image_size)

    def to_dict(self) -> dict:
        """JSON-ready form: one entry per person with its keypoints [[x, y], ...] and confidences."""
        return {
            "layout": self.layout,
            "image_size": list(self.image_size),
            "people": [
                {"id": int(person_id), "keypoints": np.round(kp.astype(float), 2).tolist(),
                 "confidence": np.round(conf.astype(float), 3).tolist()}
                for person_id, kp, conf in zip(self.person_ids, self.kp2d, self.conf, strict=True)
            ],
        }
