import numpy as np
import pytest

from pose3d_ros.camera import (
    CAMERA_SETUPS,
    DEFAULT_HORIZONTAL_FOV_DEG,
    Cameras,
    default_intrinsics,
    intrinsics_from_fov,
    level_axes,
    look_at_rotation,
    mount_cameras,
    normalised_coordinates,
    project,
    sample_cameras,
    setup_cameras,
    up_from_pitch_roll,
    up_from_quaternion,
)


def test_default_intrinsics_640x480():
    K = default_intrinsics(640, 480)
    focal = 320.0 / np.tan(np.radians(DEFAULT_HORIZONTAL_FOV_DEG / 2))
    np.testing.assert_allclose(K, [[focal, 0, 320], [0, focal, 240], [0, 0, 1]])
    assert DEFAULT_HORIZONTAL_FOV_DEG == 60.0
    np.testing.assert_allclose(K[0, 0], 554.256, atol=1e-3)


@pytest.mark.parametrize("args", [(0, 480, 60), (640, 480, 0), (640, 480, 180)])
def test_intrinsics_reject_bad_values(args):
    with pytest.raises(ValueError):
        intrinsics_from_fov(*args)


def test_project_hand_computed():
    K = np.array([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
    points = np.array([[0.0, 0.0, 2.0], [1.0, -0.5, 2.0], [0.2, 0.4, 4.0]])
    expected = [[320.0, 240.0], [320.0 + 250.0, 240.0 - 100.0], [320.0 + 25.0, 240.0 + 40.0]]
    np.testing.assert_allclose(project(points, K), expected)


def test_project_behind_camera_is_nan_and_batched_K_broadcasts():
    K = np.stack([default_intrinsics(640, 480), 2 * default_intrinsics(640, 480)])
    K[1, 2, 2] = 1.0
    points = np.array([[[0.1, 0.2, 3.0], [0.0, 0.0, -1.0]], [[0.1, 0.2, 3.0], [0.0, 0.0, 0.0]]])
    uv = project(points, K)
    assert uv.shape == (2, 2, 2)
    assert np.isnan(uv[:, 1]).all()
    np.testing.assert_allclose(uv[1, 0] - [640, 480], 2 * (uv[0, 0] - [320, 240]))
    with pytest.raises(ValueError):
        project(points[..., :2], K)


def test_normalised_coordinates_hand_computed_and_inverse_of_project():
    K = np.array([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(normalised_coordinates([[570.0, 140.0], [320.0, 240.0]], K), [[0.5, -0.25], [0, 0]])
    # with skew, per-person K, against the matrix inverse
    rng = np.random.default_rng(3)
    Ks = np.stack([[[f, s, cx], [0, f * a, cy], [0, 0, 1]] for f, s, cx, cy, a in rng.uniform(
        [300, -5, 200, 150, 0.9], [900, 5, 400, 300, 1.1], (4, 5))])
    points = rng.uniform([-1, -1, 2], [1, 1, 6], (4, 7, 3))
    xy = normalised_coordinates(project(points, Ks), Ks)
    np.testing.assert_allclose(xy, points[..., :2] / points[..., 2:], atol=1e-12)
    with pytest.raises(ValueError, match="focal"):
        normalised_coordinates(np.zeros((3, 2)), np.zeros((3, 3)))


def test_look_at_rotation_is_proper_and_points_the_optical_axis():
    eye = np.array([[3.0, -2.0, 1.5]])
    target = np.array([[0.0, 0.0, 1.0]])
    R = look_at_rotation(eye, target)[0]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    forward = (target - eye)[0] / np.linalg.norm(target - eye)
    np.testing.assert_allclose(R[2], forward)
    assert R[1, 2] < 0  # image "down" points down in the world
    assert abs(R[0, 2]) < 1e-12  # no roll: the image x axis is horizontal
    with pytest.raises(ValueError):
        look_at_rotation(np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]))


@pytest.mark.parametrize("kind", ["h36m", "robot"])
def test_sampled_cameras_match_their_kind(kind):
    rng = np.random.default_rng(0)
    targets = np.column_stack([rng.uniform(-2, 2, 500), rng.uniform(-2, 2, 500), np.full(500, 0.95)])
    cams = sample_cameras(targets, kind, rng)
    assert isinstance(cams, Cameras) and len(cams) == 500
    width, height = cams.image_size.T
    focal = cams.K[:, 0, 0]
    hfov = np.degrees(2 * np.arctan(0.5 * width / focal))
    distance = np.linalg.norm((cams.centers - targets)[:, :2], axis=1)
    camera_height = cams.centers[:, 2]  # the floor is 0.95 m below the pelvis targets
    if kind == "h36m":
        assert (width == 1000).all() and (height == 1000).all()
        assert focal.min() >= 1140 and focal.max() <= 1150
        assert distance.min() >= 3.0 - 1e-9 and distance.max() <= 7.0 + 1e-9
        assert camera_height.min() >= 1.0 - 1e-9 and camera_height.max() <= 2.2 + 1e-9
    else:
        assert (width == 640).all() and (height == 480).all()
        assert hfov.min() >= 60 - 1e-6 and hfov.max() <= 90 + 1e-6
        assert distance.min() >= 2.0 - 1e-9 and distance.max() <= 7.0 + 1e-9
        assert camera_height.min() >= 0.5 - 1e-9 and camera_height.max() <= 2.0 + 1e-9
        pitch = np.degrees(np.arcsin(cams.R[:, 2, 2]))  # elevation of the optical axis
        assert np.abs(pitch).max() <= 20.0 + 1e-6
    # The person is in front of every camera and projects into (or near) the image.
    pelvis_cam = cams.world_to_camera(targets[:, None])[:, 0]
    assert (pelvis_cam[:, 2] > 1.5).all()
    uv = project(pelvis_cam, cams.K)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    assert inside.mean() > 0.97
    # Random yaw: cameras all around the person.
    azimuth = np.arctan2(*(cams.centers - targets)[:, 1::-1].T)
    assert np.histogram(azimuth, bins=8, range=(-np.pi, np.pi))[0].min() > 30


def test_world_to_camera_matches_R_t_and_mixed_kind_has_both():
    rng = np.random.default_rng(1)
    targets = np.tile([0.0, 0.0, 0.95], (200, 1))
    cams = sample_cameras(targets, "mixed", rng)
    assert set(cams.image_size[:, 0]) == {640, 1000}
    points = rng.normal(size=(200, 5, 3))
    np.testing.assert_allclose(cams.world_to_camera(points), np.einsum("nij,nkj->nki", cams.R, points)
                               + cams.t[:, None])
    np.testing.assert_allclose(cams.world_to_camera(cams.centers[:, None])[:, 0], 0.0, atol=1e-9)
    with pytest.raises(ValueError, match="unknown camera kind"):
        sample_cameras(targets, "fisheye", rng)


@pytest.mark.parametrize("name", sorted(CAMERA_SETUPS))
def test_setup_cameras_are_mounted_and_turned_as_named(name):
    setup = CAMERA_SETUPS[name]
    rng = np.random.default_rng(0)
    targets = np.column_stack([rng.uniform(-2, 2, 300), rng.uniform(-2, 2, 300), rng.uniform(0.5, 1.0, 300)])
    cameras = setup_cameras(targets, setup, np.random.default_rng(1))
    np.testing.assert_allclose(cameras.K, np.broadcast_to(intrinsics_from_fov(640, 480, 70.0), (300, 3, 3)))
    np.testing.assert_array_equal(cameras.image_size, np.tile([640, 480], (300, 1)))
    np.testing.assert_allclose(cameras.centers[:, 2], setup.height_m)
    np.testing.assert_allclose(cameras.R[:, 2, 2], -np.sin(np.radians(setup.pitch_deg)), atol=1e-12)  # pitch down
    np.testing.assert_allclose(cameras.R[:, 0, 2], 0.0, atol=1e-12)  # no roll
    distance = np.linalg.norm(cameras.centers[:, :2] - targets[:, :2], axis=-1)
    assert (distance >= setup.distance_range_m[0]).all() and (distance <= setup.distance_range_m[1]).all()
    pelvis = cameras.world_to_camera(targets)
    bearing = np.degrees(np.arctan2(pelvis[:, 0], pelvis[:, 2]))  # horizontal for the level ones; 0 on the axis
    np.testing.assert_allclose(np.abs(bearing), setup.off_axis_deg, atol=1e-9)
    if setup.off_axis_deg:
        assert 100 < (bearing > 0).sum() < 200  # either side


def test_up_direction_of_a_level_camera_is_minus_y_and_pitching_down_tilts_it_back():
    np.testing.assert_allclose(up_from_pitch_roll(0.0, 0.0), [0.0, -1.0, 0.0], atol=1e-12)
    down = up_from_pitch_roll(30.0)
    np.testing.assert_allclose(down, [0.0, -np.cos(np.radians(30)), -np.sin(np.radians(30))])  # towards -z
    np.testing.assert_allclose(up_from_pitch_roll(90.0), [0.0, 0.0, -1.0], atol=1e-12)  # looking straight down
    # The same as the world's z axis in a camera of look_at_rotation pitched and rolled so.
    for pitch, roll in ((35.0, 0.0), (10.0, 20.0), (-5.0, -8.0)):
        forward = np.array([[np.cos(np.radians(pitch)), 0.0, -np.sin(np.radians(pitch))]])
        R = look_at_rotation(np.zeros((1, 3)), forward, np.radians(roll))[0]
        np.testing.assert_allclose(up_from_pitch_roll(pitch, roll), R[:, 2], atol=1e-12)
        cams = Cameras(K=np.eye(3)[None], R=R[None], t=np.zeros((1, 3)), image_size=np.array([[640, 480]]))
        np.testing.assert_allclose(cams.up[0], R[:, 2])


def test_up_direction_from_a_tf_quaternion():
    """A TF lookup of the camera frame from a z-up frame gives the rotation that maps that frame into the camera's:
    its z column is the up direction."""
    from scipy.spatial.transform import Rotation

    np.testing.assert_allclose(up_from_quaternion([0.0, 0.0, 0.0, 1.0]), [0.0, 0.0, 1.0])
    # base_link (x forward, z up) -> a level optical frame (z forward, y down); rows: the camera's axes in base_link.
    optical = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    quaternion = Rotation.from_matrix(optical).as_quat()  # (x, y, z, w), as TF gives it
    np.testing.assert_allclose(up_from_quaternion(quaternion), [0.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(up_from_quaternion(3.0 * quaternion), [0.0, -1.0, 0.0], atol=1e-12)  # unnormalised
    for pitch, roll in ((30.0, 0.0), (45.0, 10.0)):
        forward = np.array([[np.cos(np.radians(pitch)), 0.0, -np.sin(np.radians(pitch))]])
        R = look_at_rotation(np.zeros((1, 3)), forward, np.radians(roll))[0]
        np.testing.assert_allclose(up_from_quaternion(Rotation.from_matrix(R).as_quat()),
                                   up_from_pitch_roll(pitch, roll), atol=1e-12)


def test_mount_cameras_cover_the_heights_pitches_and_picture_positions_asked():
    """Issue #17's mounts: level cameras 0.3-1.5 m high, overhead 2.5-4 m pitched 20-60 degrees down, people close
    and anywhere in the picture, edges included and partly out of view."""
    rng = np.random.default_rng(0)
    count = 4000
    targets = np.column_stack([rng.uniform(-2, 2, count), rng.uniform(-2, 2, count), np.full(count, 0.95)])
    overhead = np.arange(count) % 2 == 1
    cams = mount_cameras(targets, overhead, rng)
    height = cams.centers[:, 2]
    pitch_down = np.degrees(np.arcsin(-cams.R[:, 2, 2]))  # depression of the optical axis
    distance = np.linalg.norm((cams.centers - targets)[:, :2], axis=1)
    assert height[~overhead].min() >= 0.3 - 1e-9 and height[~overhead].max() <= 1.5 + 1e-9
    assert height[~overhead].min() < 0.35 and height[~overhead].max() > 1.45
    assert np.abs(pitch_down[~overhead]).max() <= 10.0 + 1e-6
    assert height[overhead].min() >= 2.5 - 1e-9 and height[overhead].max() <= 4.0 + 1e-9
    assert pitch_down[overhead].min() >= 20.0 - 1e-6 and pitch_down[overhead].max() <= 60.0 + 1e-6
    assert pitch_down[overhead].min() < 22.0 and pitch_down[overhead].max() > 58.0
    assert distance[~overhead].min() < 1.1  # close people
    pelvis = project(cams.world_to_camera(targets[:, None])[:, 0], cams.K)
    width, image_height = cams.image_size.T
    u, v = pelvis[:, 0] / width, pelvis[:, 1] / image_height
    assert np.isfinite(pelvis).all()
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 150  # across the whole width
    assert ((u < 0) | (u > 1)).mean() > 0.02  # just outside: the person partly out of view
    assert np.histogram(v[overhead], bins=5, range=(0, 1))[0].min() > 100  # overhead: at every height too
    mixed = sample_cameras(targets, "mounts", rng)
    kinds = np.where(mixed.image_size[:, 0] == 1000, "h36m", np.where(np.abs(mixed.R[:, 2, 2]) > np.sin(
        np.radians(20.5)), "overhead", "robot or level"))
    assert {kind: (kinds == kind).mean() for kind in ("h36m", "overhead")}["h36m"] > 0.2
    assert (kinds == "overhead").mean() > 0.2


@pytest.mark.parametrize("pitch, roll", [(0.0, 0.0), (35.0, 0.0), (60.0, -4.0), (90.0, 0.0), (-20.0, 3.0)])
def test_level_axes_stand_the_camera_frame_upright(pitch, roll):
    axes = level_axes(up_from_pitch_roll(pitch, roll))
    np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-9)  # a rotation
    assert np.linalg.det(axes) == pytest.approx(1.0)
    np.testing.assert_allclose(axes @ up_from_pitch_roll(pitch, roll), [0.0, 0.0, 1.0], atol=1e-9)
    optical_axis = axes @ [0.0, 0.0, 1.0]
    if pitch != 90.0:
        assert abs(optical_axis[0]) < 1e-9 and optical_axis[1] > 0  # the view looks forward, not sideways
    if pitch == 0.0 and roll == 0.0:
        np.testing.assert_allclose(axes, level_axes(), atol=1e-12)
        np.testing.assert_allclose(axes @ [1.0, 2.0, 3.0], [1.0, 3.0, -2.0], atol=1e-12)  # (x, z, -y)
