"""lifter_node: WholeBody2DArray (+ CameraInfo) -> Skeleton3DArray in the camera's optical frame, + RViz markers.

All people of a frame are lifted in one batch. CameraInfo is not paired by stamp: a camera's intrinsics do not
change, so the newest one is used (pairing would drop frames whenever the 2D stage skips one); without any, the
node waits ``camera_info_timeout_s``, then warns once and uses ``pose3d_ros.camera.default_intrinsics``.
Keypoints are undistorted with CameraInfo's model first, since the lifter assumes a pinhole camera.
The camera's attitude (the up direction, for lifters with the gravity input) comes from TF when ``gravity_frame``
is set (looked up here at each frame's stamp; ``node_logic.CameraAttitude`` turns it into the up direction and
counts failures), else from ``camera_pitch_deg`` / ``camera_roll_deg``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo

from pose3d_ros.camera import default_intrinsics
from pose3d_ros.messages import wholebody2d_to_numpy
from pose3d_ros.node_logic import (
    SUPPORTED_DISTORTION,
    CameraAttitude,
    CameraInfoWatch,
    camera_matrix,
    undistort_keypoints,
)
from pose3d_ros.ros.base import PipelineNode, SkeletonOutput, run


class LifterNode(PipelineNode):
    def __init__(self) -> None:
        super().__init__("lifter_node")
        self.lifter: Any = None
        self.camera_info: CameraInfo | None = None
        self.output: SkeletonOutput | None = None
        self.attitude: CameraAttitude | None = None
        self.tf_buffer: Any = None
        self.tf_listener: Any = None
        self._warned_models: set[str] = set()

    def configure(self) -> None:
        import torch

        from pose3d_ros.lifting import Lifter

        torch.set_num_threads(self.param("cpu_threads"))
        # a CUDA fallback warns through the core's log
        self.lifter = Lifter.load(self.param("weights") or None, device=self.param("device"),
                                  flip_test=self.param("flip_test"),
                                  perspective_correction=self.param("perspective_correction"),
                                  conf_threshold=self.param("conf_threshold"))
        self.layout = self.lifter.layout
        self.watch = CameraInfoWatch(self.param("camera_info_timeout_s"))
        self.attitude = CameraAttitude(self.param("gravity_frame"), self.param("camera_pitch_deg"),
                                       self.param("camera_roll_deg"))
        if self.attitude.gravity_frame:
            from tf2_ros import Buffer, TransformListener

            self.tf_buffer = Buffer()
            self.tf_listener = TransformListener(self.tf_buffer, self)
        if not self.lifter.uses_gravity and (self.attitude.gravity_frame or self.attitude.fixed is not None):
            self.get_logger().warning("these lifter weights have no gravity input: the camera's attitude is unused")
        self.output = SkeletonOutput(self, "skeletons3d", self.layout)
        self.get_logger().info(f"lifter ({self.layout.name}) on {self.lifter.device}")

    def subscribe(self) -> list:
        qos = self.input_qos()
        return [
            self.create_subscription(self.types.WholeBody2DArray, "keypoints2d", self._on_keypoints, qos,
                                     event_callbacks=self.qos_events("keypoints2d")),
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos,
                                     event_callbacks=self.qos_events("camera_info")),
        ]

    def _on_camera_info(self, info: CameraInfo) -> None:
        self.camera_info = info
        self.watch.info(time.monotonic())

    def _on_keypoints(self, msg: Any) -> None:
        decision = self.watch.image(time.monotonic())
        if self.watch.warning:
            self.get_logger().warning(self.watch.warning)
        if decision != "wait":
            self.enqueue(msg)

    def _intrinsics(self, frame: Any) -> Any:
        """K for this frame's keypoints, undistorting them when CameraInfo has a distortion model."""
        info = self.camera_info
        if info is None:
            return default_intrinsics(*frame.image_size), frame.kp2d
        K, defaulted = camera_matrix(info.k, info.width, info.height)
        if defaulted:
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

    def _up(self, header: Any) -> Any:
        """The up direction in the camera frame for this frame, or None (unknown, or a lifter without the input)."""
        if not self.lifter.uses_gravity:
            return None
        if not self.attitude.gravity_frame:
            return self.attitude.up()
        from rclpy.time import Time
        from tf2_ros import TransformException

        try:
            transform = self.tf_buffer.lookup_transform(header.frame_id, self.attitude.gravity_frame,
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

    def process(self, msg: Any) -> bool:
        frame = wholebody2d_to_numpy(msg, layout=self.layout.name)
        header = msg.header
        if self.param("camera_frame"):
            header.frame_id = self.param("camera_frame")
        if len(frame.person_ids):
            K, kp2d = self._intrinsics(frame)
            result = self.lifter.lift(kp2d, frame.conf, K, up=self._up(header))
            positions, error, status = result.positions, result.error, result.status
        else:
            positions = np.zeros((0, self.layout.num_joints, 3), np.float32)
            error, status = frame.conf, frame.conf.astype(np.uint8)  # (0, J) like the rest
        self.output.publish(header, frame.person_ids, positions, frame.conf, error, status)
        return True

    def stopped(self) -> None:
        self.output.clear()

    def release(self) -> None:
        self.lifter = None
        if self.tf_listener is not None:
            self.tf_listener.unregister()
        self.tf_listener = self.tf_buffer = None
        self.camera_info = None
        if self.output is not None:
            self.output.destroy()
            self.output = None


def main() -> None:
    run(LifterNode)
