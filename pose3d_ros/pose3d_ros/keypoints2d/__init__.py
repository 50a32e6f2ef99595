"""The 2D stage: COCO-WholeBody 133 keypoints of the people in an image, from MediaPipe (no ROS).

``create_detector(backend, **options)`` gives a callable ``detector(image_bgr) -> Keypoints2D`` that is also a
context manager; ``draw_keypoints`` overlays a result on an image. See docs/keypoints2d.md.
"""

from pose3d_ros.keypoints2d.detector import BACKENDS, KeypointDetector, StageTiming, create_detector
from pose3d_ros.keypoints2d.draw import draw_keypoints
from pose3d_ros.keypoints2d.image import to_rgb
from pose3d_ros.keypoints2d.result import Keypoints2D

__all__ = ["BACKENDS", "KeypointDetector", "Keypoints2D", "StageTiming", "create_detector", "draw_keypoints",
           "to_rgb"]
