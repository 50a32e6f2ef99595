"""ROS 2 messages to an MCAP file that Foxglove opens and ``ros2 bag play`` replays, without ROS.

The recording is written by rosbags' rosbag2 writer (MCAP storage, bag format version 8): every message is real
CDR, every channel carries its schema as ``ros2msg`` text (the type's definition followed by its dependencies,
each after a line of 80 ``=`` and ``MSG: pkg/Type``), and the file holds the ``rosbag2`` metadata record. The
output folder gets the bag's ``metadata.yaml`` next to ``pose3d.mcap``, so that the folder itself is a rosbag2 bag:

* ``ros2 bag play DIR`` works on every ROS 2 distribution (Humble needs the metadata.yaml);
* ``ros2 bag play DIR/pose3d.mcap`` works from Iron on, Foxglove opens ``DIR/pose3d.mcap`` directly.

Messages are logged at their header stamp (the source image's time), so that the refined skeletons, which the
temporal stage releases a few frames late, line up with their image on replay. They are serialised by
:class:`~pose3d_ros.pipeline.cdr.CdrSerializer` (rosbags' bytes, a quarter of its time for markers).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .cdr import CdrSerializer

LOG = logging.getLogger(__name__)

MCAP_NAME = "pose3d.mcap"
STAGING_NAME = ".pose3d-recording"
"""The folder the bag is written in until it is closed; its files are then renamed into the output folder."""
BAG_VERSION = 8  # the newest format that Humble's and Jazzy's rosbag2 both read (QoS as a YAML string)


def _publisher_qos() -> list:
    """What an rclpy publisher with the default profile offers: reliable, volatile, keep last 10.

    Recorded with every topic so that ``ros2 bag play`` publishes with it (an empty profile list is not what a
    recorder writes, and older players handle it badly).
    """
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    unspecified = QosTime(0, 0)
    return [Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, unspecified,
                unspecified, QosLiveliness.AUTOMATIC, unspecified, False)]


class McapRecorder:
    """Writes messages built with a rosbags :class:`pose3d_ros.messages.MessageTypes` to ``DIR/pose3d.mcap``.

    Topics are added on first use. Close it (or use it as a context manager) to write the index and metadata;
    a recorder that is not closed leaves only its temporary folder behind, never a half-written pose3d.mcap.
    """

    def __init__(self, out_dir: Path, typestore: Any) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.out_dir = Path(out_dir)
        self.typestore = typestore
        self._cdr = CdrSerializer(typestore)
        self.path = self.out_dir / MCAP_NAME
        self._staging = self.out_dir / STAGING_NAME
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir(parents=True)
        # rosbags names the storage file after its folder: staging/pose3d/pose3d.mcap
        self._writer = Writer(self._staging / Path(MCAP_NAME).stem, version=BAG_VERSION,
                              storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        """Serialise ``msg`` (a rosbags message) to CDR and log it on ``topic`` at ``stamp_ns``."""
        msgtype = msg.__msgtype__
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore,
                                                     offered_qos_profiles=_publisher_qos())
            self._connections[topic] = connection
            self.counts[topic] = 0
        elif connection.msgtype != msgtype:
            raise ValueError(f"topic {topic} carries {connection.msgtype}, not {msgtype}")
        self._writer.write(connection, int(stamp_ns), self._cdr.serialize(msg, msgtype))
        self.counts[topic] += 1

    def close(self) -> Path:
        """Finish the file and move ``pose3d.mcap`` and ``metadata.yaml`` into the output folder."""
        if self._writer is None:
            return self.path
        self._writer.close()
        bag = self._writer.path
        self._writer = None
        for name in (MCAP_NAME, "metadata.yaml"):
            (bag / name).replace(self.out_dir / name)
        shutil.rmtree(self._staging, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Drop a recording that cannot be finished (the temporary folder is removed)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------------
# sensor_msgs built with a rosbags typestore
# --------------------------------------------------------------------------------------------------


def camera_info_msg(types: Any, header: Any, camera: Any, width: int, height: int) -> Any:
    """A sensor_msgs/CameraInfo of a :class:`~pose3d_ros.pipeline.sources.CameraModel`: its K and distortion
    (P = [K | 0]), so that lifter_node lifts a replay of the recording exactly as the pipeline did.
    """
    K = np.asarray(camera.K, dtype=np.float64)
    projection = np.zeros((3, 4))
    projection[:, :3] = K
    has_distortion = camera.distortion is not None
    return types.new(types.typestore.types["sensor_msgs/msg/CameraInfo"], header=header, height=int(height),
                     width=int(width), distortion_model=camera.distortion_model if has_distortion else "plumb_bob",
                     d=np.asarray(camera.distortion if has_distortion else np.zeros(5), dtype=np.float64),
                     k=K.reshape(-1), r=np.eye(3).reshape(-1), p=projection.reshape(-1))


def compressed_image_msg(types: Any, header: Any, image_bgr: np.ndarray, quality: int = 90) -> Any:
    """A sensor_msgs/CompressedImage (JPEG) of a BGR image, as compressed_image_transport publishes it."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not JPEG-encode an image of shape {image_bgr.shape}")
    return types.new(types.typestore.types["sensor_msgs/msg/CompressedImage"], header=header,
                     format="bgr8; jpeg compressed bgr8", data=encoded.reshape(-1))
