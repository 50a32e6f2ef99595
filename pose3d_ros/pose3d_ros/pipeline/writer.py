"""The messages of ``pose3d run``: each frame's messages, as the ROS graph publishes them, into DIR/pose3d.mcap.

One :class:`FrameWriter` per run builds them (CameraInfo, the image with ``--write-images``, WholeBody2DArray,
the lifter's Skeleton3DArray and MarkerArray; later the refined ones and the safety states) and hands them to the
:class:`~pose3d_ros.pipeline.recording.McapRecorder`, which serialises and writes them in its own thread.
``pose3d bench writer`` times the same object on the rows of a skeletons.npz.
"""

from __future__ import annotations

from typing import Any

from pose3d_ros.markers import MarkerStyle, SkeletonMarkers
from pose3d_ros.messages import (
    MessageTypes,
    make_header,
    safety_state_array,
    skeleton3d_array,
    wholebody2d_array,
)
from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.skeleton import Layout

from .recording import McapRecorder, camera_info_msg, compressed_image_msg
from .sources import Frame

# The topics of the ROS graph started by launch/pipeline.launch.py (no namespace), so that the MCAP holds what
# `ros2 bag record` would record from it; the images under their image_transport "compressed" name.
TOPICS = {
    "image": "/camera/image_raw/compressed",
    "camera_info": "/camera/camera_info",
    "keypoints": "/keypoints2d",
    "raw": "/skeletons3d",
    "raw_markers": "/lifter_node/markers",
    "refined": "/skeletons3d_refined",
    "refined_markers": "/temporal_node/markers",
    "safety": "/safety/states",
}


def marker_builder(types: MessageTypes, layout: Layout, parameters: dict) -> SkeletonMarkers | None:
    """The markers a node publishes on ~/markers, styled by its markers.* parameters (None when disabled)."""
    if not parameters["markers.enabled"]:
        return None
    return SkeletonMarkers(types, layout, MarkerStyle(
        parameters["markers.bone_width"], parameters["markers.joint_diameter"], parameters["markers.lifetime_s"],
        parameters["markers.min_alpha"]))


class FrameWriter:
    """Builds a run's messages and records them; ``lifter`` / ``temporal``: those nodes' parameters (``temporal``
    None without the temporal stage).
    """

    def __init__(self, recorder: McapRecorder, types: MessageTypes, layout: Layout, lifter: dict,
                 temporal: dict | None, write_images: bool = False) -> None:
        self.recorder, self.types, self.layout, self.write_images = recorder, types, layout, write_images
        self._markers = {"raw": marker_builder(types, layout, lifter),
                         "refined": None if temporal is None else marker_builder(types, layout, temporal)}

    def frame_messages(self, frame: Frame, keypoints: Any, raw: SkeletonFrame) -> list[tuple[str, Any]]:
        """Everything recorded for a frame at once (all or nothing): CameraInfo, image, 2D, raw 3D, markers.

        Builds without writing: a ValueError (a stage's data the messages refuse) leaves the recording untouched.
        """
        types = self.types
        header = make_header(types, frame.stamp_ns, frame.frame_id)
        width, height = keypoints.image_size
        messages = [(TOPICS["camera_info"], camera_info_msg(types, header, frame.camera, width, height))]
        if self.write_images:
            messages.append((TOPICS["image"], compressed_image_msg(types, header, frame.image)))
        messages.append((TOPICS["keypoints"], wholebody2d_array(types, header, keypoints.kp2d, keypoints.conf,
                                                                keypoints.person_ids, (width, height))))
        return messages + self._node_output(raw, "raw")

    def write(self, messages: list[tuple[str, Any]], stamp_ns: int) -> None:
        for topic, msg in messages:
            self.recorder.write(topic, msg, stamp_ns)

    def refined(self, refined: SkeletonFrame) -> None:
        """temporal_node's messages for one refined frame."""
        self.write(self._node_output(refined, "refined"), refined.stamp_ns)

    def safety(self, report: Any) -> None:
        """safety_node's SafetyStateArray for one :class:`~pose3d_ros.safety.SafetyReport`."""
        header = make_header(self.types, report.stamp_ns, report.frame_id)
        self.recorder.write(TOPICS["safety"], safety_state_array(self.types, header, report), report.stamp_ns)

    def _node_output(self, skeletons: SkeletonFrame, topic: str) -> list[tuple[str, Any]]:
        """A node's messages for one frame: its Skeleton3DArray and, when enabled, its MarkerArray."""
        types = self.types
        header = make_header(types, skeletons.stamp_ns, skeletons.frame_id)
        messages = [(TOPICS[topic], skeleton3d_array(types, header, skeletons.positions, skeletons.confidence,
                                                     skeletons.error, skeletons.status, skeletons.person_ids,
                                                     self.layout, skeletons.placement))]
        markers = self._markers[topic]
        if markers is not None:
            messages.append((TOPICS[f"{topic}_markers"], markers.update(
                header, skeletons.positions, skeletons.confidence, skeletons.status, skeletons.person_ids)))
        return messages
