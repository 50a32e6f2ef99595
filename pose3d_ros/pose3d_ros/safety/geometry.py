"""Signed distances from many points to the monitored shapes, and the poses that place the shapes.

Every shape is solid and lives in its own frame. ``surface(points)`` takes (N, 3) points in that frame and returns
their signed distance to the shape's surface, (N,) metres, **positive outside, zero on the surface and negative
inside** (minus the depth to the nearest surface point), with that nearest surface point (N, 3). A signed
distance keeps "how far into the zone" measurable, and the thresholds compare one number whatever the side.
All functions are vectorised over the points: one call per object per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

_CIRCLE_SEGMENTS = 24


@dataclass(frozen=True)
class Pose:
    """A rigid transform: ``apply`` maps points of the child frame into the parent frame."""

    rotation: Rotation
    translation: np.ndarray

    @classmethod
    def identity(cls) -> Pose:
        return cls(Rotation.identity(), np.zeros(3))

    @classmethod
    def from_quaternion(cls, translation, quaternion_xyzw) -> Pose:
        """From a translation (m) and a unit quaternion (x, y, z, w), as TF and the YAML give them."""
        quaternion = np.asarray(quaternion_xyzw, dtype=np.float64)
        norm = np.linalg.norm(quaternion)
        if not np.isfinite(norm) or abs(norm - 1.0) > 1e-3:
            raise ValueError(f"quaternion {quaternion.tolist()} is not a unit quaternion (norm {norm:g})")
        return cls(Rotation.from_quat(quaternion / norm), np.asarray(translation, dtype=np.float64))

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.rotation.apply(points) + self.translation

    def inverse_apply(self, points: np.ndarray) -> np.ndarray:
        return self.rotation.inv().apply(np.asarray(points, dtype=np.float64) - self.translation)

    def __mul__(self, other: Pose) -> Pose:
        """Composition: ``(a * b).apply(p) == a.apply(b.apply(p))``."""
        return Pose(self.rotation * other.rotation, self.rotation.apply(other.translation) + self.translation)

    def inverse(self) -> Pose:
        inverse = self.rotation.inv()
        return Pose(inverse, -inverse.apply(self.translation))


# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capsule:
    """The points within ``radius`` of the segment start-end (a sphere when they coincide): a robot link."""

    start: np.ndarray
    end: np.ndarray
    radius: float

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = np.asarray(points, dtype=np.float64)
        axis = self.end - self.start
        length2 = float(axis @ axis)
        t = np.zeros(len(points)) if length2 == 0 else np.clip((points - self.start) @ axis / length2, 0.0, 1.0)
        on_axis = self.start + t[:, None] * axis
        offset = points - on_axis
        radial = np.linalg.norm(offset, axis=1)
        # A point on the axis has every radial direction: any one perpendicular to the axis will do.
        direction = np.where(radial[:, None] > 0, offset / np.maximum(radial, 1e-300)[:, None], _perpendicular(axis))
        return radial - self.radius, on_axis + self.radius * direction

    def outline(self) -> list[np.ndarray]:
        axis = self.end - self.start
        u = _perpendicular(axis)
        v = np.cross(axis / np.linalg.norm(axis), u) if axis.any() else np.array([0.0, 0.0, 1.0])
        angles = np.linspace(0, 2 * np.pi, _CIRCLE_SEGMENTS + 1)
        ring = self.radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)
        lines = [self.start + ring, self.end + ring]
        lines += [np.stack([self.start + ring[k], self.end + ring[k]]) for k in range(0, _CIRCLE_SEGMENTS, 6)]
        if not axis.any():  # a sphere: a second ring across the first
            w = np.cross(u, v)
            lines.append(self.start + self.radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w))
        return lines


@dataclass(frozen=True)
class Box:
    """An axis-aligned box of its frame: ``centre`` and ``half_size`` (3,), metres."""

    centre: np.ndarray
    half_size: np.ndarray

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        local = np.asarray(points, dtype=np.float64) - self.centre
        beyond = np.abs(local) - self.half_size  # per axis: > 0 outside that slab
        outside = np.linalg.norm(np.maximum(beyond, 0.0), axis=1)
        depth = beyond.max(axis=1)  # inside: minus the distance to the nearest face
        inside = depth <= 0
        closest = np.clip(local, -self.half_size, self.half_size)
        rows = np.flatnonzero(inside)
        face = beyond[rows].argmax(axis=1)
        closest[rows, face] = np.where(local[rows, face] >= 0, 1.0, -1.0) * self.half_size[face]
        return np.where(inside, depth, outside), closest + self.centre

    def outline(self) -> list[np.ndarray]:
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64)
        return _prism_outline(self.centre[:2] + corners * self.half_size[:2], self.centre[2] - self.half_size[2],
                              self.centre[2] + self.half_size[2])


@dataclass(frozen=True)
class Cylinder:
    """A vertical cylinder (axis along its frame's z): ``centre`` (x, y), ``radius``, between ``z_min`` and
    ``z_max``.
    """

    centre: np.ndarray
    radius: float
    z_min: float
    z_max: float

    def _profile(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offset = xy - self.centre
        radial = np.linalg.norm(offset, axis=1)
        direction = np.where(radial[:, None] > 0, offset / np.maximum(radial, 1e-300)[:, None], [1.0, 0.0])
        return radial - self.radius, self.centre + self.radius * direction

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _extruded_surface(np.asarray(points, dtype=np.float64), self._profile, self.z_min, self.z_max)

    def outline(self) -> list[np.ndarray]:
        angles = np.linspace(0, 2 * np.pi, _CIRCLE_SEGMENTS + 1)
        ring = self.centre + self.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return _prism_outline(ring, self.z_min, self.z_max, vertical_every=6)


@dataclass(frozen=True)
class ExtrudedPolygon:
    """A polygon of its frame's x-y plane (V, 2), extruded between ``z_min`` and ``z_max``: a floor zone.

    Inside is decided by the even-odd rule, so a self-intersecting outline still defines a region; give a simple
    polygon to mean what it looks like.
    """

    vertices: np.ndarray
    z_min: float
    z_max: float

    def _profile(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.vertices
        b = np.roll(self.vertices, -1, axis=0)
        edge = b - a  # (E, 2)
        rel = xy[:, None, :] - a  # (N, E, 2)
        t = np.clip((rel * edge).sum(-1) / (edge * edge).sum(-1), 0.0, 1.0)
        foot = a + t[..., None] * edge
        gap = np.linalg.norm(xy[:, None, :] - foot, axis=-1)
        nearest = gap.argmin(axis=1)
        rows = np.arange(len(xy))
        # Even-odd rule: a ray towards +x crosses the boundary an odd number of times from inside.
        straddles = (a[:, 1] > xy[:, None, 1]) != (b[:, 1] > xy[:, None, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing_x = a[:, 0] + (xy[:, None, 1] - a[:, 1]) * edge[:, 0] / edge[:, 1]
        inside = (straddles & (xy[:, None, 0] < crossing_x)).sum(axis=1) % 2 == 1
        distance = gap[rows, nearest]
        return np.where(inside, -distance, distance), foot[rows, nearest]

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _extruded_surface(np.asarray(points, dtype=np.float64), self._profile, self.z_min, self.z_max)

    def outline(self) -> list[np.ndarray]:
        return _prism_outline(np.vstack([self.vertices, self.vertices[:1]]), self.z_min, self.z_max)


Shape = Capsule | Box | Cylinder | ExtrudedPolygon


def polygon_area(vertices: np.ndarray) -> float:
    """Signed area (shoelace), to refuse degenerate polygons."""
    x, y = np.asarray(vertices, dtype=np.float64).T
    return 0.5 * float(x @ np.roll(y, -1) - y @ np.roll(x, -1))


def _extruded_surface(points: np.ndarray, profile, z_min: float, z_max: float) -> tuple[np.ndarray, np.ndarray]:
    """A 2D profile (signed distance and nearest boundary point in x-y) extruded between two heights."""
    radial, boundary = profile(points[:, :2])
    z = points[:, 2]
    axial = np.maximum(z_min - z, z - z_max)  # > 0 above or below, minus the distance to the nearer cap inside
    inside = (radial <= 0) & (axial <= 0)
    outside = np.hypot(np.maximum(radial, 0.0), np.maximum(axial, 0.0))
    closest = points.copy()
    closest[:, :2] = np.where((radial > 0)[:, None], boundary, points[:, :2])
    closest[:, 2] = np.clip(z, z_min, z_max)
    # Inside: out through the side or through the nearer cap, whichever is closer.
    through_side = inside & (radial >= axial)
    through_cap = inside & ~through_side
    closest[through_side, :2] = boundary[through_side]
    closest[through_cap, 2] = np.where(z[through_cap] - z_min < z_max - z[through_cap], z_min, z_max)
    return np.where(inside, np.maximum(radial, axial), outside), closest


def _perpendicular(axis: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to ``axis`` (x for a zero axis)."""
    if not np.any(axis):
        return np.array([1.0, 0.0, 0.0])
    helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
    normal = np.cross(axis, helper)
    return normal / np.linalg.norm(normal)


def _prism_outline(ring: np.ndarray, z_min: float, z_max: float, vertical_every: int = 1) -> list[np.ndarray]:
    """Polylines of a closed x-y ``ring`` (K, 2) at both heights, and vertical edges at every n-th point."""
    def at(z: float) -> np.ndarray:
        return np.column_stack([ring, np.full(len(ring), z)])

    bottom, top = at(z_min), at(z_max)
    return [bottom, top] + [np.stack([bottom[k], top[k]]) for k in range(0, len(ring) - 1, vertical_every)]
