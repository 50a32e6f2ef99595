"""video_source_node: sensor_msgs/Image + CameraInfo from a video file or a webcam (OpenCV), at its frame rate.

Lets the pipeline run without a camera driver. Stamps are the node's clock at capture; CameraInfo carries the
default intrinsics of pose3d_ros.camera (or those of ``horizontal_fov_deg``) and no distortion. As a camera driver
would, it publishes the camera's static TF (``tf.*``), so that the skeletons have a z-up frame tree for RViz.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
from cv_bridge import CvBridge
from geometry_msgs.msg import Quaternion, TransformStamped, Vector3
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from pose3d_ros.camera import assumed_intrinsics_warning, default_intrinsics, intrinsics_from_fov
from pose3d_ros.node_logic.camera_frames import camera_transforms
from pose3d_ros.node_logic.diagnostics import StageMonitor
from pose3d_ros.node_logic.qos import qos_settings
from pose3d_ros.ros.base import PipelineNode, run

WEBCAM_FALLBACK_FPS = 30.0


class VideoSourceNode(PipelineNode):
    def __init__(self) -> None:
        super().__init__("video_source_node")
        self.bridge = CvBridge()
        self.capture: cv2.VideoCapture | None = None
        self.timer = None
        self.static_tf = None

    def configure(self) -> None:
        source = self.param("source")
        if not source:
            raise ValueError("parameter source is empty: give a video file or a webcam index")
        is_webcam = source.isdigit()
        self.capture = cv2.VideoCapture(int(source) if is_webcam else source)
        if not self.capture.isOpened():
            raise FileNotFoundError(f"cannot open video source {source!r}")
        self.replay = self.param("loop") and not is_webcam
        fps = self.param("fps") or self.capture.get(cv2.CAP_PROP_FPS)
        self.period_s = 1.0 / (fps if fps and math.isfinite(fps) and fps > 0 else WEBCAM_FALLBACK_FPS)
        settings = qos_settings(self.param("qos.reliability"), self.param("qos.depth"))
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.depth,
                         reliability=(ReliabilityPolicy.RELIABLE if settings.reliability == "reliable"
                                      else ReliabilityPolicy.BEST_EFFORT),
                         durability=DurabilityPolicy.VOLATILE)
        self.image_pub = self.create_lifecycle_publisher(Image, "image", qos)
        self.info_pub = self.create_lifecycle_publisher(CameraInfo, "camera_info", qos)
        self.info: CameraInfo | None = None
        self.monitor = StageMonitor()  # input = frames read, output = frames published
        self._publish_static_tf()
        self.get_logger().info(f"publishing {source} at {1.0 / self.period_s:.1f} Hz")

    def _publish_static_tf(self) -> None:
        from tf2_ros import StaticTransformBroadcaster

        transforms = camera_transforms({name: self.param(name) for name in
                                        ("frame_id", "tf.enabled", "tf.body_frame", "tf.world_frame", "tf.height_m",
                                         "tf.pitch_deg", "tf.roll_deg")})
        if not transforms:
            return
        messages = []
        for edge in transforms:
            message = TransformStamped()
            message.header.stamp = self.get_clock().now().to_msg()
            message.header.frame_id, message.child_frame_id = edge.parent, edge.child
            message.transform.translation = Vector3(x=edge.translation[0], y=edge.translation[1], z=edge.translation[2])
            message.transform.rotation = Quaternion(x=edge.rotation[0], y=edge.rotation[1], z=edge.rotation[2],
                                                    w=edge.rotation[3])
            messages.append(message)
        self.static_tf = StaticTransformBroadcaster(self)
        self.static_tf.sendTransform(messages)
        self.get_logger().info("static TF: " + ", ".join(f"{edge.parent} -> {edge.child}" for edge in transforms))

    def _camera_info(self, width: int, height: int) -> CameraInfo:
        fov = self.param("horizontal_fov_deg")
        if fov <= 0 and self.info is None:  # once per node: the first frame's CameraInfo carries the assumption
            self.get_logger().warning(assumed_intrinsics_warning(width, height, "set horizontal_fov_deg to the "
                                                                 "camera's field of view"))
        K = intrinsics_from_fov(width, height, fov) if fov > 0 else default_intrinsics(width, height)
        info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
        info.d = [0.0] * 5  # plumb_bob has 5 coefficients (k1 k2 t1 t2 k3); an empty D confuses image_geometry
        info.k = np.asarray(K, dtype=np.float64).reshape(9)
        info.r = np.eye(3).reshape(9)
        info.p = np.hstack([K, np.zeros((3, 1))]).reshape(12).astype(np.float64)
        return info

    def subscribe(self) -> list:
        self.timer = self.create_timer(self.period_s, self._tick)
        return []

    def _tick(self) -> None:
        started = time.monotonic()
        ok, frame = self.capture.read()
        if not ok and self.replay:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if not ok:
            self.get_logger().info("end of the video: stopping publication")
            self.timer.cancel()
            return
        height, width = frame.shape[:2]
        if self.info is None or (self.info.width, self.info.height) != (width, height):
            self.info = self._camera_info(width, height)
        image = self.bridge.cv2_to_imgmsg(frame, encoding="bgr8")
        image.header.stamp = self.get_clock().now().to_msg()
        image.header.frame_id = self.param("frame_id")
        self.info.header = image.header
        self.image_pub.publish(image)
        self.info_pub.publish(self.info)
        self.monitor.record_input(started)
        self.monitor.record_output(time.monotonic() - started)

    def stopped(self) -> None:
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None

    def release(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None
        self.destroy_publishers("image_pub", "info_pub")
        if self.static_tf is not None:
            self.destroy_publisher(self.static_tf.pub_tf)
            self.static_tf = None


def main() -> None:
    run(VideoSourceNode)
