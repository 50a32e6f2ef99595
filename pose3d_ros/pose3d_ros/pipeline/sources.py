"""Frame sources: a video file, a webcam, a rosbag2 (sqlite3 or MCAP) or a single .mcap / .db3 file, the demo clip.

Every source yields :class:`Frame` objects: a BGR uint8 image, its timestamp, the camera's optical frame id and
the intrinsics to lift it with. Intrinsics come, in order of precedence, from the ``--fx/--fy/--cx/--cy`` values
(:class:`IntrinsicsOverride`), from the stream's CameraInfo, or from ``pose3d_ros.camera.default_intrinsics``.
A frame that cannot be decoded is logged and recorded in ``source.gaps``; it never stops the stream. A source
that has to stop before its end says where and why in ``source.ended_early``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pose3d_ros.camera import assumed_intrinsics_warning, default_intrinsics
from pose3d_ros.node_logic.camera_info import camera_matrix
from pose3d_ros.node_logic.depth_input import nearest_stamp

LOG = logging.getLogger(__name__)

DEFAULT_FRAME_ID = "camera_optical_frame"
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
DEPTH_ENCODINGS = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}
DEFAULT_DEPTH_MAX_OFFSET_S = 0.05
DEPTH_BUFFER = 8
"""Depth images kept for pairing, and colour frames held back waiting for theirs (a depth stream a few frames
behind the colour one in the recording is still paired)."""
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
INTRINSICS_REMEDY = "--fx/--fy/--cx/--cy, or a recording with a calibrated CameraInfo topic (--camera-info-topic)"
BAG_FILE_SUFFIXES = (".mcap", ".db3")


@dataclass(frozen=True)
class CameraModel:
    """A camera as the lift step needs it: intrinsics and, from a CameraInfo, the raw image's lens distortion."""

    K: np.ndarray
    """(3, 3) float64."""
    distortion: np.ndarray | None = None
    """CameraInfo.d, or None for an ideal pinhole image."""
    distortion_model: str = ""


@dataclass
class Frame:
    """One camera image with what the pipeline needs to lift it."""

    index: int
    """Position in the source (0-based, counting skipped frames too)."""
    stamp_ns: int
    """Timestamp in nanoseconds: header stamp for bags, index / fps for video files, capture time for webcams."""
    image: np.ndarray
    """(H, W, 3) uint8, BGR (OpenCV order)."""
    camera: CameraModel
    frame_id: str
    """The camera's optical frame (x right, y down, z forward), used as header.frame_id of every output."""
    depth: np.ndarray | None = None
    """The depth image aligned to this image and paired with it by stamp (uint16 mm or float32 m), if any."""
    depth_encoding: str | None = None

    @property
    def K(self) -> np.ndarray:
        return self.camera.K

    @property
    def stamp_s(self) -> float:
        return self.stamp_ns * 1e-9


@dataclass
class Gap:
    """Consecutive frames of a source that are not in a run's outputs, all for the same reason."""

    first: int
    last: int
    reason: str
    first_stamp_ns: int | None = None
    last_stamp_ns: int | None = None
    """Stamps where known (a video's index / fps, a recording's message time), else None."""

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def text(self) -> str:
        frames = f"frame {self.first}" if self.count == 1 else f"frames {self.first}-{self.last} ({self.count})"
        if self.first_stamp_ns is None:
            times = ""
        elif self.count == 1 or self.last_stamp_ns is None:
            times = f" at {self.first_stamp_ns * 1e-9:.2f} s"
        else:
            times = f" {self.first_stamp_ns * 1e-9:.2f}-{self.last_stamp_ns * 1e-9:.2f} s"
        return f"{frames}{times}: {self.reason}"

    def to_dict(self) -> dict:
        def seconds(stamp_ns: int | None) -> float | None:
            return None if stamp_ns is None else stamp_ns * 1e-9

        return {"first_frame": self.first, "last_frame": self.last, "frames": self.count,
                "first_s": seconds(self.first_stamp_ns), "last_s": seconds(self.last_stamp_ns), "reason": self.reason}


class GapLog:
    """The frames a source or a run leaves out, merged into :class:`Gap` s; the first frame of each gap is logged
    as a warning when it happens (the rest at debug level), the whole list goes into the run's summary.
    """

    def __init__(self) -> None:
        self.gaps: list[Gap] = []

    @property
    def frames(self) -> int:
        return sum(gap.count for gap in self.gaps)

    def add(self, index: int, reason: str, stamp_ns: int | None = None) -> None:
        last = self.gaps[-1] if self.gaps else None
        if last is not None and last.reason == reason and index == last.last + 1:
            last.last, last.last_stamp_ns = index, stamp_ns
            LOG.debug("skipping frame %d: %s", index, reason)
            return
        self.gaps.append(Gap(index, index, reason, stamp_ns, stamp_ns))
        at = "" if stamp_ns is None else f" (at {stamp_ns * 1e-9:.2f} s)"
        LOG.warning("skipping frame %d: %s%s", index, reason, at)


@dataclass(frozen=True)
class FrameTruth:
    """What a synthetic frame really shows, for measuring the pipeline against it: the people in the picture.

    A person is listed when any of their joints projects into the image, hidden or not; joints are in
    COCO-WholeBody order, and those the figure has no counterpart for are not ``defined`` (NaN positions).
    """

    index: int
    """The frame's position in its source (Frame.index)."""
    person_ids: np.ndarray
    """(P,) int64, each person's id for the whole clip."""
    joints: np.ndarray
    """(P, J, 3) float64, metres in the camera optical frame (x right, y down, z forward)."""
    defined: np.ndarray
    """(P, J) bool."""
    kp2d: np.ndarray
    """(P, J, 2) float64, the joints' projections in pixels (origin at the top-left corner of the image)."""
    visible: np.ndarray
    """(P, J) bool: defined, in the image, facing the camera (face points) and not behind a nearer person."""

    def __post_init__(self) -> None:
        people = len(self.person_ids)
        joints = self.defined.shape[-1] if self.defined.ndim == 2 else -1
        shapes = {"joints": (self.joints.shape, (people, joints, 3)), "defined": (self.defined.shape, (people, joints)),
                  "kp2d": (self.kp2d.shape, (people, joints, 2)), "visible": (self.visible.shape, (people, joints))}
        wrong = [f"{name} {shape}" for name, (shape, expected) in shapes.items() if shape != expected]
        if joints < 0 or wrong:
            raise ValueError(f"inconsistent truth for frame {self.index} ({people} people): {', '.join(wrong)}")
        if (self.visible & ~self.defined).any():
            raise ValueError(f"truth for frame {self.index} marks undefined joints visible")


@dataclass(frozen=True)
class IntrinsicsOverride:
    """Pinhole values given on the command line; each one given replaces the stream's (or the default) value.

    A lone ``fx`` also sets ``fy`` (square pixels).
    """

    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None

    @property
    def empty(self) -> bool:
        return self.fx is None and self.fy is None and self.cx is None and self.cy is None

    def apply(self, K: np.ndarray) -> np.ndarray:
        K = np.array(K, dtype=np.float64)
        fx = self.fx if self.fx is not None else (self.fy if self.fy is not None else None)
        fy = self.fy if self.fy is not None else (self.fx if self.fx is not None else None)
        for value, (row, col) in ((fx, (0, 0)), (fy, (1, 1)), (self.cx, (0, 2)), (self.cy, (1, 2))):
            if value is not None:
                if not np.isfinite(value) or (row == col and value <= 0):
                    raise ValueError(f"invalid intrinsics value {value}: focal lengths must be positive and finite")
                K[row, col] = value
        return K


class FrameSource:
    """Base of all sources: iterate to get frames; ``close()`` releases the device or file."""

    description: str = ""
    path: Path | None = None
    """The file or folder read; None for cameras and the demo."""
    fps: float | None = None
    """Nominal frame rate when the source knows it (video files), else None."""
    live = False
    """Frames come at the source's own pace (a camera) and are worth less as they age: a busy pipeline drops the
    oldest waiting frame rather than fall behind. Files and recordings are never dropped from."""

    def __init__(self, intrinsics: IntrinsicsOverride | None = None) -> None:
        self.intrinsics = intrinsics or IntrinsicsOverride()
        self.unreadable = GapLog()
        self.ended_early: str | None = None
        """Why and where the source stopped before its end, if it did (a camera that stopped delivering)."""
        self._default_K: dict[tuple[int, int], np.ndarray] = {}
        self._warned_assumed_focal = False

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying file or device."""

    def truth(self, index: int) -> FrameTruth | None:
        """What frame ``index`` really shows, for sources that know it (the demo clip); None for camera images."""
        return None

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def skipped(self) -> int:
        """How many frames could not be read."""
        return self.unreadable.frames

    @property
    def gaps(self) -> list[Gap]:
        """The unreadable frames, as gaps."""
        return self.unreadable.gaps

    def _skip(self, index: int, reason: str, stamp_ns: int | None = None) -> None:
        self.unreadable.add(index, reason, stamp_ns)

    def _end_early(self, reason: str) -> None:
        self.ended_early = reason
        LOG.error("%s: %s", self.description, reason)

    def _camera(self, width: int, height: int, stream: CameraModel | None = None) -> CameraModel:
        """The stream's camera (or the default one for the image size) with the command-line values applied."""
        if stream is None:
            if (width, height) not in self._default_K:
                self._default_K[(width, height)] = default_intrinsics(width, height)
            if not self._warned_assumed_focal and self.intrinsics.fx is None and self.intrinsics.fy is None:
                self._warned_assumed_focal = True  # once per source, i.e. per run
                LOG.warning("%s: %s", self.description, assumed_intrinsics_warning(width, height, INTRINSICS_REMEDY))
            stream = CameraModel(self._default_K[(width, height)])
        if self.intrinsics.empty:
            return stream
        return CameraModel(self.intrinsics.apply(stream.K), stream.distortion, stream.distortion_model)


# --------------------------------------------------------------------------------------------------
# OpenCV sources
# --------------------------------------------------------------------------------------------------


class VideoFileSource(FrameSource):
    """A video file read with OpenCV; stamps are ``index / fps`` so that they are reproducible.

    A damaged stretch does not end the stream: unreadable frames are skipped and recorded as a gap, and reading
    goes on to the real end, which is the frame count the file states. OpenCV usually resynchronises by itself at
    the next keyframe; when it stops delivering frames before that count (a demuxer that gives up on a damaged
    container), the reader seeks past the damage frame by frame. After any such trouble, the decoder's timestamp
    says which frame it delivered, so frames are neither repeated nor misplaced. A file that states no frame
    count ends after MAX_FAILURES_WITHOUT_LENGTH unreadable frames in a row, with a warning that says where.
    Frames a demuxer skips without an error show as a jump of more than half a second in the decoder's timestamps
    and are recorded as a gap too.
    """

    MAX_FAILURES_WITHOUT_LENGTH = 10

    def __init__(self, path: Path, intrinsics: IntrinsicsOverride | None = None) -> None:
        super().__init__(intrinsics)
        self.path = Path(path)
        self.description = str(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file {self.path} does not exist")
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise ValueError(f"{self.path} is not a readable video file (OpenCV could not open it)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        if not np.isfinite(fps) or fps <= 0:
            LOG.warning("%s does not state its frame rate; assuming 30 fps for the timestamps", self.path)
            fps = 30.0
        self.fps = float(fps)
        self.frame_count = max(0, int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)))

    @property
    def _silent_jump(self) -> int:
        """A jump of the decoder's timestamps between two good frames, in frames, that means frames were skipped
        (a demuxer resynchronising after damage); smaller ones are a variable frame rate's irregular timing.
        """
        return max(2, round(self.fps / 2))

    def _stamp_ns(self, index: int) -> int:
        return round(index * 1e9 / self.fps)

    def _decoded_index(self) -> int | None:
        """The index of the frame just decoded, from its timestamp; None where the backend gives none."""
        position_ms = self.capture.get(cv2.CAP_PROP_POS_MSEC)
        return round(position_ms * self.fps / 1000) if np.isfinite(position_ms) and position_ms > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        expected = 0  # the index of the frame after the last one delivered
        failures = 0  # unreadable reads since then
        probe = 0  # the next frame to seek to when sequential reading is stuck
        last_decoded = -1  # the decoder's own index of the last good frame
        while True:
            ok, image = self.capture.read()
            if ok:
                decoded = self._decoded_index()
                index, reason = expected, "could not decode"
                if failures:  # after trouble, trust the decoder's timestamp over the count of reads
                    index = expected + failures if decoded is None else decoded
                    if index < expected:  # a frame delivered again after a seek
                        continue
                elif decoded is not None and last_decoded >= 0 and decoded - last_decoded > self._silent_jump:
                    index = expected + decoded - last_decoded - 1
                    reason = (f"skipped by the decoder without an error (its timestamps jump by "
                              f"{(decoded - last_decoded) / self.fps:.2f} s)")
                for lost in range(expected, index):
                    self._skip(lost, reason, self._stamp_ns(lost))
                last_decoded = index if decoded is None else decoded
                height, width = image.shape[:2]
                yield Frame(index, self._stamp_ns(index), image, self._camera(width, height), DEFAULT_FRAME_ID)
                expected, failures = index + 1, 0
                continue
            failures += 1
            if not self.frame_count:
                if failures >= self.MAX_FAILURES_WITHOUT_LENGTH:
                    LOG.warning("%s states no frame count: taking %d unreadable frames in a row after frame %d "
                                "(%.2f s) as its end", self.path, failures, expected - 1, (expected - 1) / self.fps)
                    return
                continue
            if expected >= self.frame_count or last_decoded >= self.frame_count - 1:
                return  # the real end
            if expected + failures < self.frame_count:
                continue  # reading on: the decoder usually recovers at the next keyframe
            probe = max(probe, expected)
            if probe >= self.frame_count:  # every frame up to the stated count tried: the rest is lost
                for lost in range(expected, self.frame_count):
                    self._skip(lost, "could not decode (nothing readable after it up to the stated end)",
                               self._stamp_ns(lost))
                return
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, probe)
            probe += 1

    def close(self) -> None:
        self.capture.release()


class WebcamSource(FrameSource):
    """A camera device opened by index with OpenCV; stamps are the wall-clock time of capture."""

    live = True

    def __init__(self, device: int, intrinsics: IntrinsicsOverride | None = None) -> None:
        super().__init__(intrinsics)
        self.description = f"webcam {device}"
        self.capture = cv2.VideoCapture(device)
        if not self.capture.isOpened():
            self.capture.release()
            raise FileNotFoundError(
                f"no camera at index {device} (is a webcam connected and free?); "
                "give a video file, a rosbag2 folder or an .mcap file with --source, or --source demo")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and fps > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        failures = 0
        while True:
            ok, image = self.capture.read()
            stamp_ns = time.time_ns()
            if not ok:
                failures += 1
                if failures > 30:
                    self._end_early(f"the camera stopped delivering frames after frame {index - failures} "
                                    f"({failures} failed captures in a row)")
                    return
                self._skip(index, "capture failed", stamp_ns)
                index += 1
                continue
            failures = 0
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            height, width = image.shape[:2]
            yield Frame(index, stamp_ns, image, self._camera(width, height), DEFAULT_FRAME_ID)
            index += 1

    def close(self) -> None:
        self.capture.release()


# --------------------------------------------------------------------------------------------------
# ROS images
# --------------------------------------------------------------------------------------------------

# cv_bridge's mapping: OpenCV names a Bayer pattern after its second row's first two pixels.
_BAYER = {
    "bayer_rggb8": cv2.COLOR_BayerBG2BGR, "bayer_bggr8": cv2.COLOR_BayerRG2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGR2BGR, "bayer_grbg8": cv2.COLOR_BayerGB2BGR,
}
# encoding -> (channels, dtype, conversion to BGR or None)
_RAW_ENCODINGS = {
    "bgr8": (3, np.uint8, None), "8UC3": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR), "8UC4": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR), "8UC1": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR), "16UC1": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "bgr16": (3, np.uint16, None), "rgb16": (3, np.uint16, cv2.COLOR_RGB2BGR),
    "bgra16": (4, np.uint16, cv2.COLOR_BGRA2BGR), "rgba16": (4, np.uint16, cv2.COLOR_RGBA2BGR),
    "yuv422": (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY), "uyvy": (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, np.uint8, cv2.COLOR_YUV2BGR_YUYV), "yuyv": (2, np.uint8, cv2.COLOR_YUV2BGR_YUYV),
    **{name: (1, np.uint8, code) for name, code in _BAYER.items()},
}
SUPPORTED_ENCODINGS = tuple(sorted(_RAW_ENCODINGS))


def image_from_ros(msg) -> np.ndarray:
    """A sensor_msgs/Image as a BGR uint8 array (any class with the message's fields, e.g. rosbags').

    16-bit images are min-max normalised per frame to 8 bits: cameras often fill only 10-12 of the 16 bits,
    and the 2D stage needs contrast, not absolute intensity. Raises ValueError on an unknown encoding or a
    buffer that does not match height, width and step (cv_bridge would read it cut or shifted without a word).
    """
    encoding = msg.encoding
    if encoding not in _RAW_ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, dtype, conversion = _RAW_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if height <= 0 or width <= 0 or step < row_bytes or data.size != step * height:
        raise ValueError(f"{encoding} image {width}x{height} with step {step} does not fit its "
                         f"{data.size}-byte buffer")
    if channels == 2 and width % 2:  # 4:2:2: two pixels share their colour
        raise ValueError(f"{encoding} image of odd width {width}")
    rows = data[: step * height].reshape(height, step)[:, :row_bytes]
    byte_order = ">" if msg.is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(byte_order)).astype(dtype)
    pixels = pixels.reshape((height, width, channels) if channels > 1 else (height, width))
    if itemsize == 2:
        pixels = cv2.normalize(pixels, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    image = cv2.cvtColor(pixels, conversion) if conversion is not None else pixels
    return np.ascontiguousarray(image)


def depth_from_ros(msg) -> tuple[np.ndarray, str]:
    """A sensor_msgs/Image depth image as it is (uint16 millimetres for 16UC1/mono16, float32 metres for 32FC1)
    with its encoding; ValueError for another encoding or a buffer that does not fit.
    """
    encoding = msg.encoding
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding {encoding!r} is not supported (supported: {', '.join(DEPTH_ENCODINGS)})")
    dtype = np.dtype(DEPTH_ENCODINGS[encoding])
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if height <= 0 or width <= 0 or step < width * dtype.itemsize or data.size != step * height:
        raise ValueError(f"{encoding} depth image {width}x{height} with step {step} does not fit its "
                         f"{data.size}-byte buffer")
    rows = np.ascontiguousarray(data[: step * height].reshape(height, step)[:, : width * dtype.itemsize])
    pixels = rows.view(dtype.newbyteorder(">" if msg.is_bigendian else "<")).astype(dtype)
    return pixels.reshape(height, width), encoding


def image_from_compressed(msg) -> np.ndarray:
    """A sensor_msgs/CompressedImage (JPEG, PNG, ...) as a BGR uint8 array; ValueError if it does not decode."""
    if "compressedDepth" in msg.format:
        raise ValueError(f"compressed depth images ({msg.format!r}) carry no picture of a person")
    image = cv2.imdecode(np.frombuffer(memoryview(msg.data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"CompressedImage with format {msg.format!r} does not decode")
    return image


def camera_from_camera_info(msg, width: int, height: int) -> CameraModel | None:
    """K and distortion of a sensor_msgs/CameraInfo; K is rescaled when the image is a resized version of the
    calibrated one (distortion coefficients act on normalised coordinates and stay as they are).

    Returns None for an uncalibrated CameraInfo (all-zero K), as camera drivers publish without calibration.
    """
    info_w, info_h = int(msg.width), int(msg.height)
    K, uncalibrated = camera_matrix(msg.k, info_w or width, info_h or height)  # lifter_node's reading of K
    if uncalibrated:
        return None
    if info_w > 0 and info_h > 0 and (info_w, info_h) != (width, height):
        K = np.diag([width / info_w, height / info_h, 1.0]) @ K
    distortion = np.asarray(msg.d, dtype=np.float64).reshape(-1)
    if not distortion.size or not np.any(distortion):
        return CameraModel(K)
    return CameraModel(K, distortion, str(msg.distortion_model))


# --------------------------------------------------------------------------------------------------
# rosbag2 / MCAP
# --------------------------------------------------------------------------------------------------


def _topic_namespace(topic: str) -> str:
    parts = topic.rstrip("/").split("/")
    if parts[-1] in ("compressed", "theora", "zstd"):  # image_transport sub-topics
        parts = parts[:-1]
    return "/".join(parts[:-1])


class BagSource(FrameSource):
    """Images (sensor_msgs/Image or CompressedImage) and CameraInfo from a recording, read with rosbags.

    ``path`` is a rosbag2 folder (sqlite3 or mcap storage), a single .mcap or .db3 file, or a ROS 1 .bag.
    Without ``image_topic`` the only image topic whose name has no "depth" in it is used (an error lists them when
    there are several). Without ``camera_info_topic`` the CameraInfo next to the image topic
    (``<namespace>/camera_info``) is used, or the only CameraInfo topic; frames before the first CameraInfo use the
    first one in the recording.

    Depth (issue #17): ``depth_topic`` names a sensor_msgs/Image topic of depth aligned to the colour image; None
    picks the only Image topic with "depth" in its name (a RealSense recording's aligned_depth_to_color, if there
    are several), "" reads none. Each frame gets the depth image nearest to it in stamp, when at most
    ``depth_max_offset_s`` away; ``depth_paired``, ``depth_too_far`` and ``depth_unreadable`` count what happened.
    """

    def __init__(self, path: Path, image_topic: str | None = None, camera_info_topic: str | None = None,
                 intrinsics: IntrinsicsOverride | None = None, depth_topic: str | None = None,
                 depth_max_offset_s: float = DEFAULT_DEPTH_MAX_OFFSET_S) -> None:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        super().__init__(intrinsics)
        self.path = Path(path)
        self.description = str(self.path)
        if not self.path.exists():
            raise FileNotFoundError(f"recording {self.path} does not exist")
        try:
            # Bags written without message definitions (older sqlite3 bags) fall back to the standard types.
            self.reader = AnyReader([self.path], default_typestore=get_typestore(Stores.LATEST))
            self.reader.open()
        except Exception as err:  # rosbags raises several unrelated error types for unreadable files
            raise ValueError(f"{self.path} is not a readable rosbag2/MCAP recording: {err}") from err
        self.image_connection = self._pick_image_connection(image_topic)
        self.camera_info_connection = self._pick_camera_info_connection(camera_info_topic)
        self.image_topic = self.image_connection.topic
        self.camera_info_topic = self.camera_info_connection.topic if self.camera_info_connection else None
        self.depth_connection = self._pick_depth_connection(depth_topic)
        self.depth_topic = self.depth_connection.topic if self.depth_connection else None
        self.depth_max_offset_ns = round(depth_max_offset_s * 1e9)
        self.depth_paired = self.depth_too_far = self.depth_unreadable = 0
        count = self.image_connection.msgcount
        duration_s = (self.reader.end_time - self.reader.start_time) * 1e-9
        self.frame_count = count or None
        self.fps = count / duration_s if count > 1 and duration_s > 0 else None
        LOG.info("%s: images from %s (%s), intrinsics from %s, depth from %s", self.path, self.image_topic,
                 self.image_connection.msgtype.rsplit("/", 1)[-1],
                 self.camera_info_topic or ("--fx/--fy/--cx/--cy" if not self.intrinsics.empty else "the default"),
                 self.depth_topic or "nowhere")

    def _topics_text(self) -> str:
        topics = sorted({(c.topic, c.msgtype) for c in self.reader.connections})
        return ", ".join(f"{topic} ({msgtype})" for topic, msgtype in topics) or "none"

    def _pick_image_connection(self, topic: str | None):
        images = [c for c in self.reader.connections if c.msgtype in IMAGE_TYPES]
        if topic is not None:
            chosen = [c for c in images if c.topic == topic]
            if not chosen:
                raise ValueError(f"{self.path} has no image topic {topic!r}; its topics: {self._topics_text()}")
            return chosen[0]
        colour = [c for c in images if "depth" not in c.topic.lower()]
        if len({c.topic for c in colour}) == 1:
            return colour[0]
        names = sorted({c.topic for c in images})
        if len(names) == 1:
            return images[0]
        if not names:
            raise ValueError(f"{self.path} has no sensor_msgs/Image or CompressedImage topic; "
                             f"its topics: {self._topics_text()}")
        raise ValueError(f"{self.path} has several image topics, choose one with --image-topic: {', '.join(names)}")

    def _pick_depth_connection(self, topic: str | None):
        if topic == "":
            return None
        images = [c for c in self.reader.connections if c.msgtype == "sensor_msgs/msg/Image"
                  and c is not self.image_connection]
        if topic is not None:
            chosen = [c for c in images if c.topic == topic]
            if not chosen:
                raise ValueError(f"{self.path} has no sensor_msgs/Image topic {topic!r} for depth; its topics: "
                                 f"{self._topics_text()}")
            return chosen[0]
        depth = sorted({c.topic for c in images if "depth" in c.topic.lower()})
        aligned = [name for name in depth if "aligned" in name.lower()]
        if len(depth) > 1 and len(aligned) != 1:
            LOG.warning("%s: several depth topics (%s) and no single aligned one: choose one with --depth-topic; "
                        "going on without depth", self.path, ", ".join(depth))
            return None
        name = aligned[0] if len(depth) > 1 else (depth[0] if depth else None)
        return next((c for c in images if c.topic == name), None)

    def _pick_camera_info_connection(self, topic: str | None):
        infos = [c for c in self.reader.connections if c.msgtype == CAMERA_INFO_TYPE]
        if topic is not None:
            chosen = [c for c in infos if c.topic == topic]
            if not chosen:
                raise ValueError(f"{self.path} has no CameraInfo topic {topic!r}; its topics: {self._topics_text()}")
            return chosen[0]
        beside = [c for c in infos if c.topic == f"{_topic_namespace(self.image_connection.topic)}/camera_info"]
        if beside:
            return beside[0]
        if len({c.topic for c in infos}) == 1:
            return infos[0]
        if infos:
            LOG.warning("%s: several CameraInfo topics and none beside %s; choose one with --camera-info-topic",
                        self.path, self.image_connection.topic)
        return None

    def _first_camera_info(self):
        if self.camera_info_connection is None:
            return None
        messages = self.reader.messages(connections=[self.camera_info_connection])
        while True:
            try:
                connection, _, raw = next(messages)
            except StopIteration:
                break
            except Exception as err:  # noqa: BLE001 - damaged storage: the image loop says where it ends
                LOG.warning("%s: CameraInfo unreadable (%s: %s)", self.path, type(err).__name__, err)
                break
            try:
                return self.reader.deserialize(raw, connection.msgtype)
            except Exception as err:  # a corrupt message: try the next one
                LOG.warning("%s: unreadable CameraInfo message: %s", self.path, err)
        LOG.warning("%s: CameraInfo topic %s has no readable message", self.path, self.camera_info_topic)
        return None

    def __iter__(self) -> Iterator[Frame]:
        camera_info = self._first_camera_info()
        connections = [self.image_connection] + [c for c in (self.camera_info_connection, self.depth_connection) if c]
        index = 0
        depths: list[tuple[int, np.ndarray, str]] = []  # the newest DEPTH_BUFFER depth images, by stamp
        waiting: list[Frame] = []  # colour frames whose depth may still come
        for connection, bag_stamp_ns, raw in self._messages(connections):
            if connection is self.camera_info_connection:
                try:
                    camera_info = self.reader.deserialize(raw, connection.msgtype)
                except Exception as err:
                    LOG.warning("%s: unreadable CameraInfo message: %s", self.path, err)
                continue
            if connection is self.depth_connection:
                self._add_depth(depths, raw, bag_stamp_ns)
                yield from self._release(waiting, depths, final=False)
                continue
            try:
                msg = self.reader.deserialize(raw, connection.msgtype)
                compressed = connection.msgtype.endswith("CompressedImage")
                image = image_from_compressed(msg) if compressed else image_from_ros(msg)
            except Exception as err:  # undecodable payload or pixels: count it and go on
                self._skip(index, str(err), bag_stamp_ns)
                index += 1
                continue
            height, width = image.shape[:2]
            stamp = msg.header.stamp
            stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec or bag_stamp_ns
            stream = camera_from_camera_info(camera_info, width, height) if camera_info is not None else None
            waiting.append(Frame(index, stamp_ns, image, self._camera(width, height, stream),
                                 msg.header.frame_id or DEFAULT_FRAME_ID))
            index += 1
            yield from self._release(waiting, depths, final=False)
        yield from self._release(waiting, depths, final=True)

    def _add_depth(self, depths: list, raw: bytes, bag_stamp_ns: int) -> None:
        try:
            msg = self.reader.deserialize(raw, self.depth_connection.msgtype)
            pixels, encoding = depth_from_ros(msg)
        except Exception as err:  # a corrupt message or another encoding: count it, log the first
            self.depth_unreadable += 1
            if self.depth_unreadable == 1:
                LOG.warning("%s: depth image on %s not used: %s", self.path, self.depth_topic, err)
            return
        stamp = msg.header.stamp
        depths.append((stamp.sec * 1_000_000_000 + stamp.nanosec or bag_stamp_ns, pixels, encoding))
        del depths[:-DEPTH_BUFFER]

    def _release(self, waiting: list[Frame], depths: list, final: bool) -> Iterator[Frame]:
        """The waiting frames no later depth image can be nearer to (all of them at the end), with their depth."""
        if self.depth_connection is None:
            yield from waiting
            waiting.clear()
            return
        newest = depths[-1][0] if depths else None
        while waiting and (final or len(waiting) > DEPTH_BUFFER
                           or (newest is not None and newest >= waiting[0].stamp_ns + self.depth_max_offset_ns)):
            frame = waiting.pop(0)
            best = nearest_stamp(frame.stamp_ns, [stamp for stamp, _, _ in depths], self.depth_max_offset_ns)
            if best is None:
                self.depth_too_far += 1
                if self.depth_too_far == 1:
                    LOG.warning("%s: no depth image within %.0f ms of frame %d; such frames are placed without "
                                "depth (counted in the summary)", self.path, self.depth_max_offset_ns / 1e6,
                                frame.index)
            else:
                self.depth_paired += 1
                _, frame.depth, frame.depth_encoding = depths[best]
            yield frame

    def _messages(self, connections: list) -> Iterator[tuple]:
        """The recording's messages, until its storage cannot be read further (a truncated or damaged .db3 or
        .mcap raises sqlite's or the MCAP reader's own errors mid-way): then the source ends early, saying where,
        and the frames read so far stay valid.
        """
        messages = self.reader.messages(connections=connections)
        last_ns = None
        while True:
            try:
                connection, stamp_ns, raw = next(messages)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - storage libraries raise many unrelated error types
                where = "before its first message" if last_ns is None else f"after {last_ns * 1e-9:.3f} s"
                self._end_early(f"the recording cannot be read {where}: {type(err).__name__}: {err}")
                return
            last_ns = stamp_ns
            yield connection, stamp_ns, raw

    def close(self) -> None:
        self.reader.close()


# --------------------------------------------------------------------------------------------------
# Choosing a source
# --------------------------------------------------------------------------------------------------


def _recording_path(path: Path) -> Path | None:
    """The path to open with rosbags: a bag folder, a storage file, or the only storage file of a folder."""
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return path
        files = [f for f in sorted(path.iterdir()) if f.suffix in BAG_FILE_SUFFIXES]
        if len(files) > 1:
            raise ValueError(f"{path} has no metadata.yaml and several storage files; give one of them: "
                             f"{', '.join(f.name for f in files)}")
        return files[0] if files else None
    return path if path.suffix in BAG_FILE_SUFFIXES + (".bag",) else None


def open_source(source: str | None, *, image_topic: str | None = None, camera_info_topic: str | None = None,
                intrinsics: IntrinsicsOverride | None = None, depth_topic: str | None = None,
                depth_max_offset_s: float = DEFAULT_DEPTH_MAX_OFFSET_S) -> FrameSource:
    """Open what ``pose3d run --source`` names: None (webcam 0), a webcam index, "demo" (or "demo:N" for the demo
    with N people, "demo:<scene>" for one of its scenes), a recording or a video.

    Raises FileNotFoundError for a path that does not exist or a camera that is not there, ValueError for a file
    that cannot be read, each with a message that says what to do.
    """
    if source is None or source.isdigit():
        return WebcamSource(int(source or 0), intrinsics)
    if source == "demo" or source.startswith("demo:"):
        from .demo import SCENES, DemoSource

        people = source.partition(":")[2]
        if people in SCENES:
            return DemoSource(intrinsics=intrinsics, scene=people)
        if people and not people.isdigit():
            raise ValueError(f"--source {source!r}: give the demo's number of people as demo:N, e.g. demo:2, or a "
                             f"scene: {', '.join(f'demo:{name}' for name in SCENES)}")
        return DemoSource(intrinsics=intrinsics) if not people else DemoSource(intrinsics=intrinsics,
                                                                                people=int(people))
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"source {source!r} does not exist (expected a video file, a rosbag2 folder, "
                                "an .mcap file, a webcam index or 'demo')")
    recording = _recording_path(path)
    if recording is not None:
        return BagSource(recording, image_topic, camera_info_topic, intrinsics, depth_topic, depth_max_offset_s)
    if path.is_dir():
        raise ValueError(f"{path} is a folder but not a rosbag2 recording (no metadata.yaml, .mcap or .db3 in it)")
    if image_topic or camera_info_topic or depth_topic:
        raise ValueError("--image-topic, --camera-info-topic and --depth-topic apply to recordings, not to video "
                         "files")
    return VideoFileSource(path, intrinsics)
