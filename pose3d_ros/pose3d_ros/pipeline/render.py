"""The rendered video: the image with its 2D keypoints beside a 3D view of the skeletons, drawn with OpenCV.

The 3D view is a virtual camera that orbits slowly around the people (so that depth is visible) above a floor
grid placed under their feet. Bones are coloured by the per-joint status of their child joint, so that what the
temporal stage filled in is visible at a glance. Drawing costs a few milliseconds a frame (no matplotlib).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from pose3d_ros.camera import level_axes
from pose3d_ros.safety import SafetyReport, SafetyState
from pose3d_ros.safety.markers import STATE_RGB
from pose3d_ros.skeleton import WHOLEBODY133, JointStatus, Layout

from .outputs import partial_path, publish

STATUS_COLOURS = {  # BGR
    JointStatus.OBSERVED: (90, 200, 90),
    JointStatus.INFERRED: (0, 160, 255),
    JointStatus.REFINED: (240, 180, 60),
    JointStatus.FILLED: (200, 90, 220),
}
PERSON_COLOURS = [(60, 180, 255), (255, 140, 60), (120, 220, 120), (200, 120, 240), (80, 220, 230), (240, 90, 160)]
SAFETY_COLOURS = {state: rgb[::-1] for state, rgb in STATE_RGB.items()}  # BGR, the colours of the RViz markers
BACKGROUND_3D = (38, 34, 32)
GRID_COLOUR = (80, 76, 72)
GHOST_COLOUR = (150, 150, 150)
MAX_OUTPUT_HEIGHT = 720
VIEW_DISTANCE_M = 3.4
"""Distance of the 3D view from the people's centre; farther when they are spread wider (up to MAX_VIEW_DISTANCE_M)."""
MAX_VIEW_DISTANCE_M = 14.0
VIEW_ELEVATION_DEG = 18.0
ORBIT_PERIOD_S = 12.0
ORBIT_CENTRE_DEG = 40.0  # azimuth around which the view swings, from the camera's own viewpoint
ORBIT_AMPLITUDE_DEG = 35.0


def person_colour(person_id: int) -> tuple[int, int, int]:
    return PERSON_COLOURS[int(person_id) % len(PERSON_COLOURS)]


def _thin_parts(layout: Layout) -> np.ndarray:
    """True for joints drawn with thin lines (face and hands)."""
    thin = np.zeros(layout.num_joints, bool)
    for name, part in layout.parts.items():
        if name != "body":
            thin[part] = True
    return thin


class Renderer:
    """Composes one output frame: ``render(frame_image, 2D people, 3D people, stamp)``."""

    def __init__(self, layout: Layout = WHOLEBODY133, label_3d: str = "3D refined",
                 up: np.ndarray | None = None) -> None:
        """``up``: the world's up direction in the camera frame when the camera's attitude is known (the 3D view
        then stands people upright under a pitched camera); None: the camera is taken to be level.
        """
        self.layout = layout
        self.axes = level_axes(up)
        self.label_3d = label_3d
        self.bones = np.array(layout.bones)
        self.thin = _thin_parts(layout)
        self._target: np.ndarray | None = None  # smoothed orbit centre and floor, world frame
        self._floor: float | None = None
        self._distance = VIEW_DISTANCE_M

    def _to_world(self, points: np.ndarray) -> np.ndarray:
        """Camera optical frame (x right, y down, z forward) -> the view's world (x right, y forward, z up)."""
        return points @ self.axes.T

    # ---- 2D -------------------------------------------------------------------------------------

    def draw_2d(self, image: np.ndarray, kp2d: np.ndarray, conf: np.ndarray, person_ids: np.ndarray) -> np.ndarray:
        """The image with every person's detected bones (both ends with confidence > 0) and id."""
        canvas = image.copy()
        scale = max(1.0, image.shape[0] / 540)
        for points, confidence, person_id in zip(kp2d, conf, person_ids, strict=True):
            colour = person_colour(person_id)
            seen = confidence > 0
            pixels = np.round(points * 16).astype(np.int32)  # 4 bits of sub-pixel precision
            for parent, child in self.bones:
                if seen[parent] and seen[child]:
                    thickness = 1 if self.thin[child] else max(2, int(2 * scale))
                    cv2.line(canvas, tuple(pixels[parent]), tuple(pixels[child]), colour, thickness, cv2.LINE_AA, 4)
            for joint in np.flatnonzero(seen & ~self.thin):
                cv2.circle(canvas, tuple(pixels[joint]), int(3 * scale) * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
            if seen.any():
                top = points[seen].min(axis=0)
                _label(canvas, f"id {person_id}", (int(top[0]), max(15, int(top[1]) - 10)), colour)
        return canvas

    # ---- 3D -------------------------------------------------------------------------------------

    def _view(self, stamp_s: float, size: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Rotation and position of the orbiting virtual camera, and its focal length in pixels."""
        swing = math.sin(2 * math.pi * stamp_s / ORBIT_PERIOD_S)
        azimuth = math.radians(ORBIT_CENTRE_DEG + ORBIT_AMPLITUDE_DEG * swing)
        elevation = math.radians(VIEW_ELEVATION_DEG)
        # world: x right, y forward (away from the real camera), z up; the view looks at the target from behind
        # the real camera, turned by the azimuth around the vertical.
        offset = self._distance * np.array([math.sin(azimuth) * math.cos(elevation),
                                             -math.cos(azimuth) * math.cos(elevation), math.sin(elevation)])
        eye = self._target + offset
        forward = -offset / np.linalg.norm(offset)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])  # rows: the view's optical axes in world coordinates
        return rotation, eye, 0.9 * size

    def _update_target(self, world: list[np.ndarray]) -> None:
        if not world:
            return
        points = np.concatenate(world)
        centre = points.mean(axis=0)
        floor = float(points[:, 2].min())
        # everyone in view: the view's half-width (focal 0.9 × its size) is 0.55 of the distance
        spread = float(np.linalg.norm(points - centre, axis=-1).max())
        distance = float(np.clip(2.0 * spread + 1.0, VIEW_DISTANCE_M, MAX_VIEW_DISTANCE_M))
        if self._target is None:
            self._target, self._floor, self._distance = centre, floor, distance
        else:  # smooth, so that the view does not shake with the skeletons
            self._target = 0.9 * self._target + 0.1 * centre
            self._floor = 0.9 * self._floor + 0.1 * floor
            self._distance = 0.9 * self._distance + 0.1 * distance

    def draw_3d(self, size: int, positions: np.ndarray, status: np.ndarray, person_ids: np.ndarray,
                stamp_s: float, ghost: np.ndarray | None = None,
                safety: tuple[list[list[np.ndarray]], SafetyReport] | None = None) -> np.ndarray:
        """A (size, size) view of P skeletons in the camera frame (P, J, 3), bones coloured by status, over the
        ``ghost`` skeletons (P', J, 3; the raw ones, to see what the temporal stage changed) in thin grey.
        ``safety``: (each monitored object's outline polylines in the camera frame, the frame's report): the
        objects coloured by state and a line from each one's deciding joint to its nearest surface point.
        """
        canvas = np.empty((size, size, 3), np.uint8)
        canvas[:] = BACKGROUND_3D
        valid = [status[p] != JointStatus.MISSING for p in range(len(positions))]
        world = [self._to_world(pose) for pose in positions]
        self._update_target([pose[ok] for pose, ok in zip(world, valid, strict=True) if ok.any()])
        if self._target is None:
            _label(canvas, "nobody yet", (10, size // 2), (200, 200, 200))
            return canvas
        rotation, eye, focal = self._view(stamp_s, size)

        def project(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            local = (points - eye) @ rotation.T
            in_front = local[..., 2] > 0.1
            depth = np.where(in_front, local[..., 2], 1.0)
            pixels = focal * local[..., :2] / depth[..., None] + size / 2
            return np.round(pixels * 16).astype(np.int64), in_front

        self._draw_grid(canvas, project)
        if safety is not None:
            self._draw_safety(canvas, project, *safety)
        for pose in ghost if ghost is not None else ():
            pixels, in_front = project(self._to_world(pose))
            for parent, child in self.bones:
                if in_front[parent] and in_front[child]:
                    cv2.line(canvas, tuple(pixels[parent]), tuple(pixels[child]), GHOST_COLOUR, 1, cv2.LINE_AA, 4)
        for pose, joint_status, ok, person_id in zip(world, status, valid, person_ids, strict=True):
            pixels, in_front = project(pose)
            drawable = ok & in_front
            for parent, child in self.bones:
                if drawable[parent] and drawable[child]:
                    colour = STATUS_COLOURS.get(JointStatus(int(joint_status[child])), (128, 128, 128))
                    cv2.line(canvas, tuple(pixels[parent]), tuple(pixels[child]), colour,
                             1 if self.thin[child] else 3, cv2.LINE_AA, 4)
            root = self.layout.root
            if drawable[root]:
                head = pixels[root] // 16
                _label(canvas, f"id {person_id}  {pose[root, 1]:.1f} m", (int(head[0]) - 30, int(head[1]) - 25),
                       person_colour(person_id))
        self._draw_legend(canvas, ghost is not None)
        return canvas

    def _draw_grid(self, canvas: np.ndarray, project) -> None:
        half, step = 3.0, 0.5
        ticks = np.arange(-half, half + 1e-6, step)
        cx, cy = self._target[0], self._target[1]
        for t in ticks:
            for a, b in (((cx + t, cy - half), (cx + t, cy + half)), ((cx - half, cy + t), (cx + half, cy + t))):
                ends = np.array([[a[0], a[1], self._floor], [b[0], b[1], self._floor]])
                pixels, in_front = project(ends)
                if in_front.all():
                    cv2.line(canvas, tuple(pixels[0]), tuple(pixels[1]), GRID_COLOUR, 1, cv2.LINE_AA, 4)

    def _draw_safety(self, canvas: np.ndarray, project, outlines: list[list[np.ndarray]],
                     report: SafetyReport) -> None:
        for o, lines in enumerate(outlines):
            colour = SAFETY_COLOURS[SafetyState(int(report.state[o]))]
            thickness = 1 if report.state[o] == SafetyState.CLEAR else 2
            for line in lines:
                pixels, in_front = project(self._to_world(line))
                for a in range(len(line) - 1):
                    if in_front[a] and in_front[a + 1]:
                        cv2.line(canvas, tuple(pixels[a]), tuple(pixels[a + 1]), colour, thickness, cv2.LINE_AA, 4)
            if np.isfinite(report.distance[o]):
                pixels, in_front = project(self._to_world(np.stack([report.joint_point[o], report.object_point[o]])))
                if in_front.all():
                    cv2.line(canvas, tuple(pixels[0]), tuple(pixels[1]), colour, 1, cv2.LINE_AA, 4)
                    middle = (pixels[0] + pixels[1]) // 32
                    _label(canvas, f"{report.distance[o]:.2f} m", (int(middle[0]) + 4, int(middle[1])), colour)
        y = 22
        for o, name in enumerate(report.names):  # the states, top right
            state = SafetyState(int(report.state[o]))
            text = f"{name}: {state.name.lower()}"
            width = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)[0][0]
            _label(canvas, text, (canvas.shape[1] - width - 10, y), SAFETY_COLOURS[state])
            y += 20

    def _draw_legend(self, canvas: np.ndarray, ghost: bool) -> None:
        _label(canvas, self.label_3d, (10, 22), (230, 230, 230))
        entries = [(status.name.lower(), colour) for status, colour in STATUS_COLOURS.items()]
        if ghost:
            entries.append(("raw (lifter)", GHOST_COLOUR))
        y = canvas.shape[0] - 12
        for text, colour in reversed(entries):
            _label(canvas, text, (10, y), colour)
            y -= 20

    # ---- composite ------------------------------------------------------------------------------

    @staticmethod
    def fit(image: np.ndarray) -> np.ndarray:
        """The image at the output's size (at most MAX_OUTPUT_HEIGHT high): what to keep of a frame that waits
        for its refined skeletons.
        """
        height, width = image.shape[:2]
        if height <= MAX_OUTPUT_HEIGHT:
            return image
        scale = MAX_OUTPUT_HEIGHT / height
        return cv2.resize(image, (round(width * scale), MAX_OUTPUT_HEIGHT), interpolation=cv2.INTER_AREA)

    def render(self, image: np.ndarray, kp2d: np.ndarray, conf: np.ndarray, person_ids_2d: np.ndarray,
               positions: np.ndarray, status: np.ndarray, person_ids_3d: np.ndarray, stamp_s: float,
               image_height: int | None = None, ghost: np.ndarray | None = None,
               safety: tuple[list[list[np.ndarray]], SafetyReport] | None = None) -> np.ndarray:
        """The output frame: 2D overlay on the left, 3D view on the right, at most MAX_OUTPUT_HEIGHT high.

        ``image`` may be a :meth:`fit` copy of the frame whose keypoints ``kp2d`` are in pixels of the original,
        ``image_height`` high (default: the image's own height). ``ghost``, ``safety``: see :meth:`draw_3d`.
        """
        image = self.fit(image)
        scale = image.shape[0] / (image_height or image.shape[0])
        left = self.draw_2d(image, np.asarray(kp2d) * scale, conf, person_ids_2d)
        _label(left, f"t = {stamp_s:.2f} s", (10, 22), (255, 255, 255))
        right = self.draw_3d(left.shape[0], positions, status, person_ids_3d, stamp_s, ghost, safety)
        return np.hstack([left, right])


def _label(canvas: np.ndarray, text: str, origin: tuple[int, int], colour) -> None:
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, 1, cv2.LINE_AA)


class VideoSink:
    """An MPEG-4 (mp4v) video file; the frame size is fixed by the first frame. It is written under its partial
    name and renamed into place by :meth:`close` (:meth:`abort` removes it), so a file under the output's name has
    its index and plays.

    mp4v is the codec every pip OpenCV build can write (H.264 needs an encoder the wheels do not carry); VLC, mpv
    and Firefox play it, ``ffmpeg -i render.mp4 -c:v libx264 out.mp4`` converts it for other players.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            height, width = frame.shape[:2]
            self.size = (width, height)
            self.writer = cv2.VideoWriter(str(partial_path(self.path)), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                          self.size)
            if not self.writer.isOpened():
                raise ValueError(f"OpenCV cannot write the video {self.path}")
        if (frame.shape[1], frame.shape[0]) != self.size:  # the source changed resolution mid-stream
            frame = cv2.resize(frame, self.size)
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            publish(self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        partial_path(self.path).unlink(missing_ok=True)
