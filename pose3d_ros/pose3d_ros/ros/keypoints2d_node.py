"""keypoints2d_node: sensor_msgs/Image (+ CameraInfo) -> pose3d_ros_msgs/WholeBody2DArray with the image's header.

Subscribes ``image`` and ``camera_info`` (paired by stamp with message_filters' ApproximateTimeSynchronizer, so
that a resolution mismatch between calibration and stream is caught; without CameraInfo it goes on after one
warning), publishes ``keypoints2d`` and, optionally, ``~/debug_image`` with the keypoints drawn.
"""

from __future__ import annotations

import time
from typing import Any

from cv_bridge import CvBridge
from message_filters import ApproximateTimeSynchronizer, Subscriber
from sensor_msgs.msg import CameraInfo, Image

from pose3d_ros.messages import stamp_ns, wholebody2d_array
from pose3d_ros.node_logic.camera_info import CameraInfoWatch
from pose3d_ros.node_logic.parameters import PARAMETERS
from pose3d_ros.pipeline.sources import image_from_ros
from pose3d_ros.ros.base import OUTPUT_QOS, PipelineNode, run


class Keypoints2DNode(PipelineNode):
    def __init__(self) -> None:
        super().__init__("keypoints2d_node")
        self.bridge = CvBridge()
        self.detector: Any = None
        self.watch: CameraInfoWatch | None = None
        self._reported_sizes: set = set()
        self._first_stamp_ns: int | None = None

    def configure(self) -> None:
        from pose3d_ros.keypoints2d import create_detector, draw_keypoints
        from pose3d_ros.keypoints2d.detector import detector_options

        backend, options = detector_options({p.name: self.param(p.name) for p in PARAMETERS[self.kind]})
        self.detector = create_detector(backend, **options)
        self.draw_keypoints = draw_keypoints
        self.watch = CameraInfoWatch(self.param("camera_info_timeout_s"))
        self.keypoints_pub = self.create_lifecycle_publisher(self.types.WholeBody2DArray, "keypoints2d", OUTPUT_QOS)
        self.debug_pub = (self.create_lifecycle_publisher(Image, "~/debug_image", OUTPUT_QOS)
                          if self.param("publish_debug_image") else None)
        self.get_logger().info(f"2D backend {backend} ready")

    def subscribe(self) -> list:
        qos = self.input_qos()
        image_sub = Subscriber(self, Image, "image", qos_profile=qos, event_callbacks=self.qos_events("image"))
        image_sub.registerCallback(self._on_image)
        subscriptions = [image_sub]
        self.use_camera_info = self.param("use_camera_info")
        if self.use_camera_info:
            info_sub = Subscriber(self, CameraInfo, "camera_info", qos_profile=qos,
                                  event_callbacks=self.qos_events("camera_info"))
            self.sync = ApproximateTimeSynchronizer([image_sub, info_sub], queue_size=5,
                                                    slop=self.param("sync_slop_s"))
            self.sync.registerCallback(self._on_image_and_info)
            subscriptions.append(info_sub)
        return subscriptions

    def _on_image(self, image: Image) -> None:
        if not self.use_camera_info:
            self.enqueue(image, None)
            return
        decision = self.watch.image(time.monotonic())
        if self.watch.warning:
            self.get_logger().warning(self.watch.warning)
        if decision == "without_info":
            self.enqueue(image, None)
        # "with_info": the synchronizer delivers it with its CameraInfo; "wait": not yet.

    def _on_image_and_info(self, image: Image, info: CameraInfo) -> None:
        self.watch.info(time.monotonic())
        self.enqueue(image, info)

    def process(self, image: Image, info: CameraInfo | None) -> bool:
        if info is not None and (info.width, info.height) != (image.width, image.height):
            sizes = (info.width, info.height, image.width, image.height)
            if sizes not in self._reported_sizes:
                self._reported_sizes.add(sizes)
                self.get_logger().warning(
                    f"CameraInfo is for {info.width}x{info.height} but the images are {image.width}x{image.height}: "
                    f"the calibration does not match the stream, 3D will be wrong")
        bgr = image_from_ros(image)  # ValueError for an Image whose fields do not describe its data
        stamp = stamp_ns(image.header)
        if self._first_stamp_ns is None:
            self._first_stamp_ns = stamp
        result = self.detector(bgr, timestamp_s=(stamp - self._first_stamp_ns) / 1e9)
        self.keypoints_pub.publish(wholebody2d_array(self.types, image.header, result.kp2d, result.conf,
                                                     result.person_ids, result.image_size, result.layout))
        if self.debug_pub is not None:
            overlay = self.draw_keypoints(bgr, result, min_conf=self.param("debug_min_confidence"))
            self.debug_pub.publish(self.bridge.cv2_to_imgmsg(overlay, encoding="bgr8", header=image.header))
        return True

    def release(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None
        self.destroy_publishers("keypoints_pub", "debug_pub")
        self._first_stamp_ns = None


def main() -> None:
    run(Keypoints2DNode)
