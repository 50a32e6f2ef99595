"""Pinhole cameras: default intrinsics, projection, world-to-camera transforms and camera sampling for training data.

Conventions (shared by every stage):

* Camera optical frame: x right, y down, z forward, metres (the ROS ``*_optical_frame`` convention).
* Pixels: origin at the top-left corner of the top-left pixel, so the centre of an image of width W and height H
  is (W/2, H/2) and pixel (i, j) covers [i, i+1) x [j, j+1).
* World frame of the motion data: z up (gravity), metres.
* A camera maps world points by ``X_cam = R @ X_world + t``.

No lens distortion is modelled: the 2D stage works on rectified images (or ignores the distortion of a typical
robot camera, whose effect on keypoints is far below the detector's noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_HORIZONTAL_FOV_DEG = 60.0
"""Horizontal field of view assumed for a stream without CameraInfo. 60 degrees is the middle of common robot and
USB cameras (Kinect v1 57, Asus Xtion/Orbbec Astra 58-60, Logitech C920 ~70, RealSense D435 colour 69); a wrong
focal length mostly scales the recovered distance to the person, not the pose's shape."""

CAMERA_KINDS = ("h36m", "robot", "mixed", "mounts")

# Human3.6M-like cameras: four calibrated cameras with f ~ 1145-1150 px on 1000 x 1000 (one 1000 x 1002) images,
# mounted ~1.2-1.9 m high, 4-6 m from the capture area's centre, looking slightly down.
H36M_IMAGE_SIZE = (1000, 1000)
H36M_FOCAL_RANGE_PX = (1140.0, 1150.0)
H36M_DISTANCE_RANGE_M = (3.0, 7.0)
H36M_HEIGHT_RANGE_M = (1.0, 2.2)

# Robot cameras: 640 x 480, 60-90 degrees horizontal FoV, 0.5-2 m high, looking roughly horizontally.
ROBOT_IMAGE_SIZE = (640, 480)
ROBOT_HFOV_RANGE_DEG = (60.0, 90.0)
ROBOT_DISTANCE_RANGE_M = (2.0, 7.0)
ROBOT_HEIGHT_RANGE_M = (0.5, 2.0)
ROBOT_MAX_PITCH_DEG = 20.0

# Real mounts (issue #17), 640 x 480 and 60-90 degrees like the robot cameras: level robot cameras low and high with
# people close and anywhere across the picture, and overhead safety cameras pitched well down.
LEVEL_HEIGHT_RANGE_M = (0.3, 1.5)
LEVEL_DISTANCE_RANGE_M = (1.0, 6.0)
LEVEL_MAX_PITCH_DEG = 10.0
OVERHEAD_HEIGHT_RANGE_M = (2.5, 4.0)
OVERHEAD_PITCH_RANGE_DEG = (20.0, 60.0)
EDGE_MARGIN = 1.1
"""Mount cameras put the pelvis up to this times half the field of view off the axis: anywhere in the picture,
edges included, sometimes just outside it (the person partly out of view)."""


def intrinsics_from_fov(width: float, height: float, horizontal_fov_deg: float) -> np.ndarray:
    """K (3, 3) of a camera with square pixels, the principal point at the image centre and the given FoV."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} x {height}")
    if not 0.0 < horizontal_fov_deg < 180.0:
        raise ValueError(f"horizontal field of view must be in (0, 180) degrees, got {horizontal_fov_deg}")
    focal = 0.5 * width / np.tan(np.radians(horizontal_fov_deg) / 2.0)
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def default_intrinsics(width: float, height: float) -> np.ndarray:
    """Intrinsics for a stream without CameraInfo: square pixels, centred principal point,
    :data:`DEFAULT_HORIZONTAL_FOV_DEG` horizontal field of view.
    """
    return intrinsics_from_fov(width, height, DEFAULT_HORIZONTAL_FOV_DEG)


def assumed_intrinsics_warning(width: int, height: int, remedy: str) -> str:
    """The start-up warning of a stream lifted with :func:`default_intrinsics`: the focal length assumed, and
    ``remedy``, how to give the real one. A wrong focal length scales every distance to the camera.
    """
    K = default_intrinsics(width, height)
    return (f"no camera intrinsics: assuming a {DEFAULT_HORIZONTAL_FOV_DEG:g} degree horizontal field of view, "
            f"fx = fy = {K[0, 0]:.1f} px with the principal point at ({K[0, 2]:g}, {K[1, 2]:g}) for {width}x{height} "
            f"images; distances to people scale with the focal length, so give the real one: {remedy}")


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-frame points (..., 3) with intrinsics K (3, 3) or (..., 3, 3) broadcastable
    over the points' batch dimensions (one K per leading index: points (N, J, 3) with K (N, 3, 3)).

    Returns pixels (..., 2). Points at or behind the camera (z <= 0) have no image: their pixels are NaN, so a
    caller cannot mistake them for visible points.
    """
    points_cam = np.asarray(points_cam, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if points_cam.shape[-1] != 3 or K.shape[-2:] != (3, 3):
        raise ValueError(f"expected points (..., 3) and K (..., 3, 3), got {points_cam.shape} and {K.shape}")
    if K.ndim > 2:  # one K per leading batch index: broadcast over the remaining point dimensions
        K = K.reshape(K.shape[:-2] + (1,) * (points_cam.ndim - K.ndim + 1) + (3, 3))
    z = points_cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(z > 0, points_cam[..., 0] / z, np.nan)
        y = np.where(z > 0, points_cam[..., 1] / z, np.nan)
    u = K[..., 0, 0] * x + K[..., 0, 1] * y + K[..., 0, 2]
    v = K[..., 1, 1] * y + K[..., 1, 2]
    return np.stack([u, v], axis=-1)


def normalised_coordinates(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The inverse of :func:`project`'s intrinsics: pixels (..., 2) -> normalised camera coordinates (x, y) (..., 2),
    i.e. ``(x, y, 1) = K^-1 (u, v, 1)``, with K (3, 3) or (..., 3, 3) broadcast as in :func:`project`.

    Closed form for an upper-triangular K (skew allowed) rather than ``np.linalg.inv``: LAPACK on a 3x3 matrix
    through a multi-threaded OpenBLAS costs milliseconds on a busy CPU (measured 8 ms on this 2-core machine under
    load, against microseconds here), which is the whole latency budget of a lifting step.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if pixels.shape[-1] != 2 or K.shape[-2:] != (3, 3):
        raise ValueError(f"expected pixels (..., 2) and K (..., 3, 3), got {pixels.shape} and {K.shape}")
    if np.any(K[..., 0, 0] == 0) or np.any(K[..., 1, 1] == 0):
        raise ValueError("K must have non-zero focal lengths")
    if K.ndim > 2:
        K = K.reshape(K.shape[:-2] + (1,) * (pixels.ndim - K.ndim + 1) + (3, 3))
    y = (pixels[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (pixels[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    return np.stack([x, y], axis=-1)


def rotation_towards(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Rotations R (..., 3, 3) from a camera to virtual cameras at the same centre that look along the rays of
    ``pixels`` (..., 2), K (3, 3) or (..., 3, 3): ``R @ K^-1 (u, v, 1)`` lies on +z.

    The virtual camera pans about the real camera's y axis, then tilts about its own x axis, so its x axis stays
    perpendicular to the real camera's y axis: a level camera's virtual cameras are level too (no roll), as the
    lifter's training cameras are.
    """
    x, y = np.moveaxis(normalised_coordinates(pixels, K), -1, 0)
    forward = np.stack([x, y, np.ones_like(x)], axis=-1)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.stack([forward[..., 2], np.zeros_like(x), -forward[..., 0]], axis=-1)  # (0, 1, 0) x forward
    right /= np.linalg.norm(right, axis=-1, keepdims=True)  # never 0: a ray through the image has z > 0
    return np.stack([right, np.cross(forward, right), forward], axis=-2)


def rotate_pixels(pixels: np.ndarray, K: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Where the rays of ``pixels`` (P, J, 2) land in cameras with the same intrinsics K (3, 3) or (P, 3, 3),
    rotated by R (P, 3, 3) (camera -> rotated camera): the homography ``K R K^-1``, exact for any scene because the
    centre does not move. A ray at 90 degrees or more from a rotated camera's axis has no image there: NaN.
    """
    xy = normalised_coordinates(pixels, K)
    rays = np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1)
    return project(np.einsum("pij,pkj->pki", np.asarray(R, dtype=np.float64), rays), K)


def look_at_rotation(eye: np.ndarray, target: np.ndarray, roll_rad: np.ndarray | float = 0.0) -> np.ndarray:
    """World-to-camera rotations (N, 3, 3) for cameras at ``eye`` (N, 3) looking at ``target`` (N, 3), world z up,
    then rolled about the optical axis by ``roll_rad``. The rows are the camera's x (right), y (down), z (forward)
    axes in world coordinates. The viewing direction must not be vertical.
    """
    forward = np.asarray(target, dtype=np.float64) - np.asarray(eye, dtype=np.float64)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    if np.any(norm < 1e-6):
        raise ValueError("a camera looks straight up or down: its roll is undefined")
    right /= norm
    down = np.cross(forward, right)
    roll = np.broadcast_to(np.asarray(roll_rad, dtype=np.float64), forward.shape[:-1])[..., None]
    right, down = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down
    return np.stack([right, down, forward], axis=-2)


def up_from_pitch_roll(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The world's up direction (3,) in the optical frame of a camera pitched ``pitch_deg`` down (0 = level) and
    rolled ``roll_deg`` about its optical axis as :func:`look_at_rotation` rolls (positive: its x axis turned
    towards its y axis). A level camera sees up along -y.
    """
    pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
    return np.array([-np.sin(roll) * np.cos(pitch), -np.cos(roll) * np.cos(pitch), -np.sin(pitch)])


def up_from_quaternion(quaternion) -> np.ndarray:
    """The up direction (3,) in the camera frame from the rotation (x, y, z, w) that maps a z-up, gravity-aligned
    frame into the camera's (a TF lookup of the camera frame from e.g. base_link or map): that rotation's z column.
    """
    x, y, z, w = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array([2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)])


def level_axes(up: np.ndarray | None = None) -> np.ndarray:
    """(3, 3) rows: the axes of the camera's level frame (x right, y forward, z up, origin at the camera) in its
    optical frame, so that ``level_axes(up) @ p`` stands a camera-frame point upright. ``up``: the world's up direction
    in the optical frame (:func:`up_from_pitch_roll`); None: a level camera (up along -y).
    """
    z_axis = np.array([0.0, -1.0, 0.0]) if up is None else np.asarray(up, np.float64) / np.linalg.norm(up)
    forward = np.array([0.0, 0.0, 1.0]) - z_axis[2] * z_axis
    if np.linalg.norm(forward) < 1e-6:  # looking straight down or up: forward is the image's up
        forward = np.array([0.0, -1.0, 0.0]) - z_axis[1] * z_axis
    forward /= np.linalg.norm(forward)
    return np.stack([np.cross(forward, z_axis), forward, z_axis])


@dataclass(frozen=True)
class Cameras:
    """A batch of N pinhole cameras: ``X_cam = R @ X_world + t``."""

    K: np.ndarray
    """(N, 3, 3) intrinsics."""
    R: np.ndarray
    """(N, 3, 3) world-to-camera rotations."""
    t: np.ndarray
    """(N, 3) world-to-camera translations."""
    image_size: np.ndarray
    """(N, 2) image width and height in pixels."""

    def __len__(self) -> int:
        return len(self.K)

    @property
    def up(self) -> np.ndarray:
        """(N, 3) the world's up (+z) in each camera's optical frame."""
        return self.R[:, :, 2]

    @property
    def centers(self) -> np.ndarray:
        """(N, 3) camera centres in the world frame."""
        return -np.einsum("nji,nj->ni", self.R, self.t)

    def world_to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """Points (N, ..., 3) in the world frame, one camera per leading index -> camera optical frame."""
        points_world = np.asarray(points_world, dtype=np.float64)
        extra = points_world.ndim - 2
        R = self.R.reshape((len(self),) + (1,) * extra + (3, 3))
        t = self.t.reshape((len(self),) + (1,) * extra + (3,))
        return np.einsum("...ij,...j->...i", R, points_world) + t


def sample_cameras(targets: np.ndarray, kind: str, rng: np.random.Generator) -> Cameras:
    """Random cameras looking at people whose pelvis (world, z up) is at ``targets`` (N, 3).

    Each camera stands at a uniformly random azimuth around the person (any yaw relative to the body), at a
    distance and height drawn for its kind, and aims at a point on the person's vertical axis with some lateral
    offset, so the person is not always centred and sometimes partly out of view (as in real footage).

    * ``"h36m"``: Human3.6M-like: 1000 x 1000 images, f in 1140-1150 px, principal point near the centre, 3-7 m
      away, 1.0-2.2 m high, looking at the body (pitch follows from the heights), roll within about 1 degree.
    * ``"robot"``: 640 x 480, 60-90 degrees horizontal FoV, 2-7 m away, 0.5-2 m high, looking roughly
      horizontally (pitch towards the body, capped at 20 degrees), roll within a few degrees.
    * ``"mixed"``: each camera is one of the two with probability 1/2.
    * ``"mounts"``: each camera is one of four with probability 1/4: the two above and the two of
      :func:`mount_cameras` (level robot cameras 0.3-1.5 m high with people close and anywhere in the picture,
      overhead cameras 2.5-4 m high pitched 20-60 degrees down).
    """
    if kind not in CAMERA_KINDS:
        raise ValueError(f"unknown camera kind {kind!r}; expected one of {', '.join(CAMERA_KINDS)}")
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
    n = len(targets)
    if kind == "mounts":
        mount = rng.integers(0, 4, n)  # 0, 1: h36m or robot; 2: level mount; 3: overhead mount
        parts = [(mount < 2, sample_cameras(targets[mount < 2], "mixed", rng)),
                 (mount >= 2, mount_cameras(targets[mount >= 2], mount[mount >= 2] == 3, rng))]
        fields = {}
        for name in ("K", "R", "t", "image_size"):
            merged = np.zeros((n,) + getattr(parts[0][1], name).shape[1:], getattr(parts[0][1], name).dtype)
            for chosen, cameras in parts:
                merged[chosen] = getattr(cameras, name)
            fields[name] = merged
        return Cameras(**fields)
    if kind == "mixed":
        is_robot = rng.random(n) < 0.5
    else:
        is_robot = np.full(n, kind == "robot")

    width = np.where(is_robot, ROBOT_IMAGE_SIZE[0], H36M_IMAGE_SIZE[0]).astype(np.float64)
    height = np.where(is_robot, ROBOT_IMAGE_SIZE[1], H36M_IMAGE_SIZE[1]).astype(np.float64)
    hfov = np.radians(rng.uniform(*ROBOT_HFOV_RANGE_DEG, n))
    focal = np.where(is_robot, 0.5 * width / np.tan(hfov / 2.0), rng.uniform(*H36M_FOCAL_RANGE_PX, n))
    aspect = np.where(is_robot, 1.0, 1.0 + rng.normal(0.0, 0.002, n))  # H36M's fy differs from fx by ~0.1%
    centre_jitter = rng.normal(0.0, np.where(is_robot, 4.0, 5.0)[:, None], (n, 2))
    K = np.zeros((n, 3, 3))
    K[:, 0, 0], K[:, 1, 1] = focal, focal * aspect
    K[:, 0, 2] = width / 2.0 + centre_jitter[:, 0]
    K[:, 1, 2] = height / 2.0 + centre_jitter[:, 1]
    K[:, 2, 2] = 1.0

    distance = np.where(is_robot, rng.uniform(*ROBOT_DISTANCE_RANGE_M, n), rng.uniform(*H36M_DISTANCE_RANGE_M, n))
    cam_height = np.where(is_robot, rng.uniform(*ROBOT_HEIGHT_RANGE_M, n), rng.uniform(*H36M_HEIGHT_RANGE_M, n))
    azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
    floor = targets[:, 2] - 0.95  # the pelvis stands ~0.95 m above the floor in the motion data
    eye = np.stack([targets[:, 0] + distance * np.cos(azimuth), targets[:, 1] + distance * np.sin(azimuth),
                    floor + cam_height], axis=-1)

    # Aim at the body (between knees and chest), then offset the view sideways so the person is off-centre.
    horizontal_fov = 2.0 * np.arctan(0.5 * width / focal)
    aim_height = floor + rng.uniform(0.6, 1.3, n)
    pitch = np.arctan2(aim_height - eye[:, 2], distance)
    pitch = np.where(is_robot, np.clip(pitch + rng.normal(0.0, np.radians(4.0), n),
                                       -np.radians(ROBOT_MAX_PITCH_DEG), np.radians(ROBOT_MAX_PITCH_DEG)), pitch)
    yaw_offset = rng.normal(0.0, horizontal_fov / 8.0)
    heading = azimuth + np.pi + yaw_offset
    forward = np.stack([np.cos(pitch) * np.cos(heading), np.cos(pitch) * np.sin(heading), np.sin(pitch)], axis=-1)
    roll = rng.normal(0.0, np.where(is_robot, np.radians(2.5), np.radians(1.0)))
    R = look_at_rotation(eye, eye + forward, roll)
    t = -np.einsum("nij,nj->ni", R, eye)
    image_size = np.stack([width, height], axis=-1).astype(np.int64)
    return Cameras(K=K, R=R, t=t, image_size=image_size)


def mount_cameras(targets: np.ndarray, overhead: np.ndarray, rng: np.random.Generator) -> Cameras:
    """Cameras as robots and safety installations mount them, for people whose pelvis (world, z up) is at
    ``targets`` (N, 3); 640 x 480, 60-90 degrees horizontal FoV, roll within a few degrees, any azimuth.

    * level (``overhead`` False): 0.3-1.5 m high, pitch within 10 degrees of level, the person 1-6 m away (close
      people run out of the picture at the top or bottom);
    * overhead (True): 2.5-4 m high, pitched 20-60 degrees down, the distance chosen so that the pelvis lands at a
      random height in the picture.

    The pelvis lies anywhere across the picture: up to :data:`EDGE_MARGIN` times half the field of view off the
    axis sideways (and, overhead, vertically), so people at and just beyond the edges are partly out of view.
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
    overhead = np.asarray(overhead, dtype=bool)
    n = len(targets)
    width, height = ROBOT_IMAGE_SIZE
    hfov = np.radians(rng.uniform(*ROBOT_HFOV_RANGE_DEG, n))
    focal = 0.5 * width / np.tan(hfov / 2.0)
    vfov = 2.0 * np.arctan(0.5 * height / focal)
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, :2, 2] = np.array([width / 2.0, height / 2.0]) + rng.normal(0.0, 4.0, (n, 2))
    K[:, 2, 2] = 1.0

    floor = targets[:, 2] - 0.95  # as in sample_cameras
    cam_height = np.where(overhead, rng.uniform(*OVERHEAD_HEIGHT_RANGE_M, n), rng.uniform(*LEVEL_HEIGHT_RANGE_M, n))
    pitch_down = np.where(overhead, np.radians(rng.uniform(*OVERHEAD_PITCH_RANGE_DEG, n)),
                          np.clip(rng.normal(0.0, np.radians(3.0), n), -np.radians(LEVEL_MAX_PITCH_DEG),
                                  np.radians(LEVEL_MAX_PITCH_DEG)))
    # Overhead: the pelvis's angle below the horizon, the pitch plus a random place in the picture, gives the distance.
    depression = np.clip(pitch_down + rng.uniform(-1.0, 1.0, n) * EDGE_MARGIN * vfov / 2.0, np.radians(5.0),
                         np.radians(85.0))
    overhead_distance = np.maximum((floor + cam_height - targets[:, 2]) / np.tan(depression), 0.5)
    distance = np.where(overhead, overhead_distance, rng.uniform(*LEVEL_DISTANCE_RANGE_M, n))
    azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
    eye = np.stack([targets[:, 0] + distance * np.cos(azimuth), targets[:, 1] + distance * np.sin(azimuth),
                    floor + cam_height], axis=-1)
    heading = azimuth + np.pi + rng.uniform(-1.0, 1.0, n) * EDGE_MARGIN * hfov / 2.0
    forward = np.stack([np.cos(pitch_down) * np.cos(heading), np.cos(pitch_down) * np.sin(heading),
                        -np.sin(pitch_down)], axis=-1)
    R = look_at_rotation(eye, eye + forward, rng.normal(0.0, np.radians(2.5), n))
    return Cameras(K=K, R=R, t=-np.einsum("nij,nj->ni", R, eye),
                   image_size=np.tile(np.array(ROBOT_IMAGE_SIZE, dtype=np.int64), (n, 1)))


@dataclass(frozen=True)
class CameraSetup:
    """A fixed way of mounting a camera and of where the person stands in its picture (evaluation of the lifter
    where it goes wrong, issue #17): a 640 x 480 camera with a 70 degree horizontal FoV, no roll.
    """

    height_m: float
    """Camera height above the floor (z = 0 in the motion data)."""
    pitch_deg: float
    """Downward pitch of the optical axis; 0 is level."""
    off_axis_deg: float
    """Horizontal angle between the optical axis and the direction to the pelvis (its side drawn at random)."""
    distance_range_m: tuple[float, float]
    """Horizontal distance from the camera to the pelvis, drawn uniformly."""


SETUP_IMAGE_SIZE = (640, 480)
SETUP_HFOV_DEG = 70.0
CAMERA_SETUPS = {
    "level_centred": CameraSetup(1.2, 0.0, 0.0, (3.0, 5.0)),
    "level_off_axis_25": CameraSetup(1.2, 0.0, 25.0, (3.0, 5.0)),
    # 2.3-2.8 m puts the ankles of someone standing 1.2 m below a level camera in the lowest 15 % of the image.
    "level_close": CameraSetup(1.2, 0.0, 0.0, (2.3, 2.8)),
    "overhead_35": CameraSetup(3.0, 35.0, 0.0, (3.0, 5.0)),
}


def setup_cameras(targets: np.ndarray, setup: CameraSetup, rng: np.random.Generator) -> Cameras:
    """Cameras of ``setup`` for people whose pelvis (world, z up, floor at 0) is at ``targets`` (N, 3), each at a
    random azimuth around the person (random yaw of the body), a random distance in the set-up's range, and turned
    so that the pelvis is ``off_axis_deg`` to the left or right of the optical axis.
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
    n = len(targets)
    distance = rng.uniform(*setup.distance_range_m, n)
    azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
    side = rng.choice([-1.0, 1.0], n)
    eye = np.stack([targets[:, 0] + distance * np.cos(azimuth), targets[:, 1] + distance * np.sin(azimuth),
                    np.full(n, setup.height_m)], axis=-1)
    heading = azimuth + np.pi + side * np.radians(setup.off_axis_deg)
    pitch = -np.radians(setup.pitch_deg)
    forward = np.stack([np.cos(pitch) * np.cos(heading), np.cos(pitch) * np.sin(heading),
                        np.full(n, np.sin(pitch))], axis=-1)
    R = look_at_rotation(eye, eye + forward)
    K = np.broadcast_to(intrinsics_from_fov(*SETUP_IMAGE_SIZE, SETUP_HFOV_DEG), (n, 3, 3)).copy()
    return Cameras(K=K, R=R, t=-np.einsum("nij,nj->ni", R, eye),
                   image_size=np.tile(np.array(SETUP_IMAGE_SIZE, dtype=np.int64), (n, 1)))
