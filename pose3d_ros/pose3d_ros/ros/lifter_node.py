"""lifter_node: WholeBody2DArray (+ CameraInfo) -> Skeleton3DArray in the camera's optical frame, + RViz markers.

All people of a frame are lifted in one batch. CameraInfo is not paired by stamp: a camera's intrinsics do not
change, so the newest one is used (pairing would drop frames whenever the 2D stage skips one); without any, the
node waits ``camera_info_timeout_s``, then warns once and uses ``pose3d_ros.camera.default_intrinsics``.
Keypoints are undistorted with CameraInfo's model first, since the lifter assumes a pinhole camera.

With ``depth_topic`` set, depth images (16UC1 mm or 32FC1 m, aligned to the colour image) go into a
message_filters Cache; each keypoints message takes the one nearest its stamp, if at most ``depth_max_offset_s``
away (not an ApproximateTimeSynchronizer: without a partner it would drop the keypoints, and the lift must go on
without depth). The depth image is checked (:class:`~pose3d_ros.node_logic.DepthCheck`) and people are placed from
it where it has enough valid pixels on their torso; Skeleton3D.placement says which.

The camera's attitude (the up direction, for lifters with the gravity input) comes from TF when ``gravity_frame``
is set (looked up here at each frame's stamp; ``node_logic.camera_attitude.CameraAttitude`` turns it into the up
direction and counts failures), else from ``camera_pitch_deg`` / ``camera_roll_deg``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from message_filters import Cache, Subscriber
from rclpy.clock import ClockType
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from tf2_ros import TransformException

from pose3d_ros.camera import assumed_intrinsics_warning, default_intrinsics
from pose3d_ros.messages import stamp_ns, wholebody2d_to_numpy
from pose3d_ros.node_logic.camera_attitude import CameraAttitude
from pose3d_ros.node_logic.camera_info import SUPPORTED_DISTORTION, CameraInfoWatch, camera_matrix, undistort_keypoints
from pose3d_ros.node_logic.depth_input import DepthCheck, nearest_stamp
from pose3d_ros.pipeline.sources import depth_from_ros
from pose3d_ros.ros.base import PipelineNode, SkeletonOutput, run


class LifterNode(PipelineNode):
    def __init__(self) -> None:
        super().__init__("lifter_node")
        self.lifter: Any = None
        self.camera_info: CameraInfo | None = None
        self.output: SkeletonOutput | None = None
        self._warned_models: set[str] = set()
        self.attitude: CameraAttitude | None = None
        self._warned_default_intrinsics = False
        self.depth_cache: Cache | None = None
        self.depth_check = DepthCheck()
        self.depth_too_far = 0

    def configure(self) -> None:
        import torch

        from pose3d_ros.lifting import Lifter

        torch.set_num_threads(self.param("cpu_threads"))
        self.attitude = CameraAttitude(self.param("gravity_frame"), self.param("camera_pitch_deg"),
                                       self.param("camera_roll_deg"))
        if self.attitude.gravity_frame:
            self.transforms()  # listening while the model loads, so that the first frames find their transform
        # a CUDA fallback warns through the core's log
        self.lifter = Lifter.load(self.param("weights") or None, device=self.param("device"),
                                  body_expert=self.param("body_expert") or None, flip_test=self.param("flip_test"),
                                  perspective_correction=self.param("perspective_correction"),
                                  conf_threshold=self.param("conf_threshold"),
                                  person_height_m=self.param("person_height_m"))
        self.layout = self.lifter.layout
        self.watch = CameraInfoWatch(self.param("camera_info_timeout_s"))
        if not self.lifter.uses_gravity and (self.attitude.gravity_frame or self.attitude.fixed is not None):
            self.get_logger().warning("these lifter weights have no gravity input: the camera's attitude is unused")
        self.output = SkeletonOutput(self, "skeletons3d", self.layout)
        self.get_logger().info(f"lifter ({self.layout.name}) on {self.lifter.device}")

    def subscribe(self) -> list:
        qos = self.input_qos()
        subscriptions = [
            self.create_subscription(self.types.WholeBody2DArray, "keypoints2d", self._on_keypoints, qos,
                                     event_callbacks=self.qos_events("keypoints2d")),
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos,
                                     event_callbacks=self.qos_events("camera_info")),
        ]
        if self.param("depth_topic"):
            depth = Subscriber(self, Image, self.param("depth_topic"), qos_profile=qos,
                               event_callbacks=self.qos_events(self.param("depth_topic")))
            self.depth_cache = Cache(depth, cache_size=15)  # half a second at 30 Hz: the 2D stage's delay
            subscriptions.append(depth)
        return subscriptions

    def _on_camera_info(self, info: CameraInfo) -> None:
        self.camera_info = info
        self.watch.info(time.monotonic())

    def _on_keypoints(self, msg: Any) -> None:
        decision = self.watch.image(time.monotonic())
        if self.watch.warning:
            self.get_logger().warning(self.watch.warning)
        if decision != "wait" or self.camera_info is not None:  # intrinsics do not change: no need to wait again
            self.enqueue(msg, self._depth_for(stamp_ns(msg.header)))

    def _depth_for(self, stamp: int) -> Image | None:
        """The cached depth image nearest ``stamp`` (ns), if within depth_max_offset_s; else None, counted."""
        if self.depth_cache is None:
            return None
        slop = round(self.param("depth_max_offset_s") * 1e9)
        candidates = self.depth_cache.getInterval(Time(nanoseconds=stamp - slop, clock_type=ClockType.ROS_TIME),
                                                  Time(nanoseconds=stamp + slop, clock_type=ClockType.ROS_TIME))
        best = nearest_stamp(stamp, [stamp_ns(image.header) for image in candidates], slop)
        if best is None:
            self.depth_too_far += 1
            self.get_logger().warning(
                f"no depth image within {slop / 1e6:.0f} ms of the keypoints' stamp ({self.depth_too_far} so far): "
                "people placed without depth; check depth_topic and that depth and colour are synchronised",
                throttle_duration_sec=10.0)
            return None
        return candidates[best]

    def _intrinsics(self, frame: Any) -> Any:
        """K for this frame's keypoints, undistorting them when CameraInfo has a distortion model."""
        info = self.camera_info
        if info is None:
            self._warn_default_intrinsics(*frame.image_size)
            return default_intrinsics(*frame.image_size), frame.kp2d
        K, defaulted = camera_matrix(info.k, info.width, info.height)
        if defaulted:
            self._warn_default_intrinsics(info.width or frame.image_size[0], info.height or frame.image_size[1])
            return K, frame.kp2d
        kp2d = frame.kp2d
        if self.param("undistort") and any(info.d):
            if info.distortion_model in SUPPORTED_DISTORTION:
                kp2d = undistort_keypoints(kp2d, K, info.d, info.distortion_model)
            elif info.distortion_model not in self._warned_models:
                self._warned_models.add(info.distortion_model)
                self.get_logger().warning(f"distortion model {info.distortion_model!r} is not supported; keypoints "
                                          f"are lifted as if undistorted")
        return K, kp2d

    def _warn_default_intrinsics(self, width: int, height: int) -> None:
        if not self._warned_default_intrinsics:
            self._warned_default_intrinsics = True
            self.get_logger().warning(assumed_intrinsics_warning(
                width, height, "publish the camera's calibrated sensor_msgs/CameraInfo on camera_info (remap it to "
                "your driver's topic), or set video_source_node's horizontal_fov_deg"))

    def _depth_metres(self, image: Image | None, image_size: tuple[int, int]) -> Any:
        if image is None:
            return None
        try:
            pixels, encoding = depth_from_ros(image)
        except ValueError as err:  # an encoding or a buffer that does not fit: the lift goes on without depth
            self.depth_check.refuse(err)
            depth = None
        else:
            depth = self.depth_check.metres(pixels, encoding, image_size)
        if self.depth_check.warning:
            self.get_logger().warning(self.depth_check.warning)
        return depth

    def _up(self, header: Any) -> Any:
        """The up direction in the camera frame for this frame, or None (unknown, or a lifter without the input)."""
        if not self.lifter.uses_gravity:
            return None
        if not self.attitude.gravity_frame:
            return self.attitude.up()
        try:
            transform = self.transforms().lookup_transform(header.frame_id, self.attitude.gravity_frame,
                                                        Time.from_msg(header.stamp))
            rotation = transform.transform.rotation
            up = self.attitude.up((rotation.x, rotation.y, rotation.z, rotation.w))
        except TransformException as err:
            up = self.attitude.up(failure=str(err))
        if self.attitude.warning:
            self.get_logger().warning(self.attitude.warning)
        return up

    def _diagnose(self, stat: Any) -> Any:
        stat = super()._diagnose(stat)
        if self.attitude is not None and self.attitude.gravity_frame:
            stat.add("gravity lookups failed", str(self.attitude.failures))
        return stat

    def process(self, msg: Any, depth: Image | None) -> bool:
        frame = wholebody2d_to_numpy(msg, layout=self.layout.name)
        header = msg.header
        if self.param("camera_frame"):
            header.frame_id = self.param("camera_frame")
        if len(frame.person_ids):
            K, kp2d = self._intrinsics(frame)
            result = self.lifter.lift(kp2d, frame.conf, K, depth=self._depth_metres(depth, frame.image_size),
                                      image_size=frame.image_size, up=self._up(header))
            positions, error, status, placement = result.positions, result.error, result.status, result.placement
        else:
            positions = np.zeros((0, self.layout.num_joints, 3), np.float32)
            error, status = frame.conf, frame.conf.astype(np.uint8)  # (0, J) like the rest
            placement = np.zeros(0, np.uint8)
        self.output.publish(header, frame.person_ids, positions, frame.conf, error, status, placement)
        return True

    def stopped(self) -> None:
        self.output.clear()
        self.depth_cache = None

    def release(self) -> None:
        self.lifter = None
        self.camera_info = None
        if self.output is not None:
            self.output.destroy()
            self.output = None


def main() -> None:
    run(LifterNode)
