"""Perspective-correct lifting: the virtual camera's geometry (camera.py), the choice of where it looks
(lifting/perspective.py) and its use in Lifter.lift (rotation back, placement, the switch)."""

import numpy as np
import pytest
import torch

from pose3d_ros.camera import (
    intrinsics_from_fov,
    look_at_rotation,
    normalised_coordinates,
    project,
    rotate_pixels,
    rotation_towards,
)
from pose3d_ros.data.sets import poses_in_layout
from pose3d_ros.data.synthetic import synthetic_walk
from pose3d_ros.lifting import Lifter
from pose3d_ros.lifting.config import LifterConfig
from pose3d_ros.lifting.evaluation import evaluate_setups, torso_lean_errors_deg
from pose3d_ros.lifting.models import build_model
from pose3d_ros.lifting.normalization import root_centre
from pose3d_ros.lifting.perspective import aim_points, rotate_back, virtual_views
from pose3d_ros.lifting.placement import solve_root_translation
from pose3d_ros.skeleton import H36M17, WHOLEBODY133, JointStatus, get_layout, join_face_twins

K = intrinsics_from_fov(640, 480, 70.0)


def small_lifter(layout="h36m17", **options) -> Lifter:
    torch.manual_seed(0)
    config = LifterConfig.create("semgan", layout, dim=16, depth=1, heads=2, decoder_layers=1)
    return Lifter(build_model(config), config, device="cpu", **options)


def people_on_axis(layout_name: str, count: int = 3, depth: float = 4.0) -> np.ndarray:
    """Camera-frame poses (count, J, 3) of a walking person, seen by level cameras 1.2 m high aimed horizontally at
    the pelvis from ``depth`` metres: the pelvis is on the optical axis."""
    frames = np.arange(0, 25 * count, 25)
    world = poses_in_layout(synthetic_walk(25 * count)[frames], frames / 50.0, layout_name, "S0/walk", 0)
    pelvis = root_centre(world, get_layout(layout_name))
    eye = pelvis - np.array([0.0, depth, 0.0])
    R = look_at_rotation(eye, pelvis)
    return np.einsum("nij,nkj->nki", R, world - eye[:, None])


def turn_away(points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The same people, moved about the camera centre so that what was at the principal point is now at
    ``pixels`` (count, 2)."""
    return rotate_back(points, rotation_towards(pixels, K))


# ------------------------------------------------------------------------------------------------------------------
# Geometry
# ------------------------------------------------------------------------------------------------------------------


def test_virtual_camera_looks_along_the_ray_and_maps_it_to_the_principal_point():
    rng = np.random.default_rng(0)
    pixels = rng.uniform([-100, -100], [740, 580], (50, 2))
    R = rotation_towards(pixels, K)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0)
    rays = np.concatenate([normalised_coordinates(pixels, K), np.ones((50, 1))], axis=-1)
    forward = np.einsum("nij,nj->ni", R, rays)
    np.testing.assert_allclose(forward[:, :2], 0.0, atol=1e-12)
    assert (forward[:, 2] > 0).all()
    np.testing.assert_allclose(rotate_pixels(pixels[:, None], K, R)[:, 0], np.tile(K[:2, 2], (50, 1)), atol=1e-9)
    np.testing.assert_allclose(R[:, 0, 1], 0.0, atol=1e-15)  # pan, then tilt: a level camera's view stays level
    np.testing.assert_allclose(rotation_towards(K[:2, 2], K), np.eye(3), atol=1e-15)


def test_homography_is_the_projection_of_the_rotated_scene_and_round_trips():
    rng = np.random.default_rng(1)
    points = rng.uniform([-2, -1.5, 2], [2, 1.5, 6], (4, 30, 3))
    pixels = project(points, K)
    R = rotation_towards(rng.uniform([0, 0], [640, 480], (4, 2)), K)
    rotated = rotate_pixels(pixels, K, R)
    np.testing.assert_allclose(rotated, project(np.einsum("pij,pkj->pki", R, points), K), atol=1e-9)
    np.testing.assert_allclose(rotate_pixels(rotated, K, np.swapaxes(R, -1, -2)), pixels, atol=1e-9)
    np.testing.assert_allclose(rotate_back(np.einsum("pij,pkj->pki", R, points), R), points, atol=1e-12)
    sideways = rotation_towards(np.array([[K[0, 2] + K[0, 0] * 1e3, K[1, 2]]]), K)  # a camera turned ~90 degrees
    assert np.isnan(rotate_pixels(np.array([[[0.0, 240.0]]]), K, sideways)).all()


# ------------------------------------------------------------------------------------------------------------------
# Where each virtual camera looks
# ------------------------------------------------------------------------------------------------------------------


def test_aim_point_is_the_pelvis_or_a_robust_centre_of_the_observed_body():
    rng = np.random.default_rng(2)
    kp2d = rng.uniform(100, 500, (4, 133, 2))
    conf = np.ones((4, 133))
    conf[1, 11] = 0.0  # a hip missing: the median of the other body joints
    conf[2, :23] = 0.0  # the whole body missing: the median of the face and hands
    conf[3] = 0.0  # nothing seen: the root centre of the given (filled-in) coordinates
    aim = aim_points(kp2d, conf, WHOLEBODY133)
    np.testing.assert_allclose(aim[0], kp2d[0, [11, 12]].mean(0))
    np.testing.assert_allclose(aim[1], np.median(np.delete(kp2d[1, :23], 11, axis=0), axis=0))
    np.testing.assert_allclose(aim[2], np.median(kp2d[2, 23:], axis=0))
    np.testing.assert_allclose(aim[3], kp2d[3, [11, 12]].mean(0))
    np.testing.assert_allclose(aim_points(kp2d[:, :17], conf[:, :17], H36M17), kp2d[:, 0])


def test_virtual_views_of_nobody_and_of_a_person_beyond_the_virtual_image():
    view, R = virtual_views(np.zeros((0, 17, 2)), np.zeros((0, 17)), K, H36M17)
    assert view.shape == (0, 17, 2) and R.shape == (0, 3, 3)
    wide = intrinsics_from_fov(640, 480, 170.0)  # a keypoint 90 degrees or more off the person's ray: no view
    kp2d = np.full((2, 17, 2), 320.0)
    kp2d[1, 5] = (-5000.0, 240.0)
    view, R = virtual_views(kp2d + [[[300.0, 0.0]]], np.ones((2, 17)), wide, H36M17)
    assert not np.allclose(R[0], np.eye(3))
    np.testing.assert_array_equal(R[1], np.eye(3))
    np.testing.assert_array_equal(view[1], kp2d[1] + [300.0, 0.0])


# ------------------------------------------------------------------------------------------------------------------
# Lifter.lift
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["h36m17", "wholebody133"])
def test_correction_off_is_the_old_path_bit_for_bit(layout):
    lifter = small_lifter(layout, perspective_correction=False)
    people = turn_away(people_on_axis(layout), np.array([[40.0, 60.0], [600.0, 250.0], [320.0, 470.0]]))
    kp2d = project(people, K).astype(np.float32)
    conf = np.random.default_rng(3).uniform(0.0, 1.0, kp2d.shape[:2]).astype(np.float32)
    result = lifter.lift(kp2d, conf, K)
    K_batch = np.broadcast_to(K, (3, 3, 3))
    pose, error = lifter.predict(torch.from_numpy(kp2d), torch.from_numpy(conf),
                                 torch.from_numpy(np.ascontiguousarray(K_batch, dtype=np.float32)))
    pose, error = pose.numpy(), error.numpy()
    if layout == "wholebody133":  # every whole-body lift puts the nose and eyes on their face points
        pose, error = join_face_twins(pose, error)
    translation = solve_root_translation(kp2d, conf, pose, K_batch)
    np.testing.assert_array_equal(result.root_relative, pose)
    np.testing.assert_array_equal(result.error, error)
    np.testing.assert_array_equal(result.root_translation, translation.astype(np.float32))
    np.testing.assert_array_equal(result.positions, (pose + translation[:, None]).astype(np.float32))
    assert not np.allclose(small_lifter(layout).lift(kp2d, conf, K).root_relative, result.root_relative, atol=1e-3)


def test_an_oracle_network_places_an_off_axis_person_exactly():
    """A network that returns the true pose as its virtual camera sees it: the lift must give back the person where
    they stand (rotation back and placement consistent), for people off axis, at the image's edge and below it."""
    lifter = small_lifter("h36m17")
    people = turn_away(people_on_axis("h36m17", depth=3.0), np.array([[5.0, 240.0], [620.0, 20.0], [330.0, 475.0]]))
    kp2d = project(people, K)
    R = rotation_towards(kp2d[:, 0], K)  # the pelvis is observed: the virtual cameras look at it
    truth = np.einsum("pij,pkj->pki", R, people - people[:, :1])
    lifter.predict = lambda *_: (torch.from_numpy(truth.astype(np.float32)), torch.zeros(3, 17))
    result = lifter.lift(kp2d, np.ones((3, 17)), K)
    np.testing.assert_allclose(result.positions, people, atol=2e-5)
    np.testing.assert_allclose(result.root_translation, people[:, 0], atol=2e-5)
    np.testing.assert_allclose(result.root_relative, people - people[:, :1], atol=1e-6)


@pytest.mark.parametrize("shipped", [False, True], ids=["stub network", "shipped weights"])
def test_lifting_off_axis_equals_lifting_on_axis_rotated_back(shipped):
    """The correction is the lift of the person seen by a camera turned onto them, rotated back: for any network."""
    lifter = Lifter.load(device="cpu") if shipped else small_lifter("wholebody133")
    people = turn_away(people_on_axis("wholebody133"), np.array([[60.0, 240.0], [600.0, 100.0], [330.0, 400.0]]))
    kp2d = project(people, K).astype(np.float32)
    conf = np.ones(kp2d.shape[:2], np.float32)
    conf[0, 91:] = 0.0  # hands unseen (kept on their wrists, as fill_missing puts them)
    kp2d[0, 91:] = kp2d[0, [9] * 21 + [10] * 21]
    corrected = lifter.lift(kp2d, conf, K)
    R = rotation_towards(aim_points(kp2d, conf, WHOLEBODY133), K)
    on_axis = project(np.einsum("pij,pkj->pki", R, people), K).astype(np.float32)
    on_axis[0, 91:] = on_axis[0, [9] * 21 + [10] * 21]
    lifter.perspective_correction = False
    seen_on_axis = lifter.lift(on_axis, conf, K)
    np.testing.assert_allclose(corrected.root_relative, rotate_back(seen_on_axis.root_relative, R), atol=1e-4)
    np.testing.assert_allclose(corrected.root_translation, rotate_back(seen_on_axis.root_translation, R),
                               atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(corrected.error, seen_on_axis.error, atol=1e-4)
    np.testing.assert_array_equal(corrected.status[0, 91:], JointStatus.INFERRED)  # conf 0 stays missing
    np.testing.assert_array_equal(corrected.status[1:], JointStatus.OBSERVED)


def test_the_network_gets_the_confidences_unchanged_and_the_missing_joints_on_their_ancestors():
    lifter = small_lifter("wholebody133")
    people = turn_away(people_on_axis("wholebody133", count=1), np.array([[600.0, 300.0]]))
    visible = np.ones((1, 133), bool)
    visible[0, [11, 91, 100]] = False
    kp2d = WHOLEBODY133.fill_missing(project(people, K), visible).astype(np.float32)
    conf = visible.astype(np.float32)
    seen = {}

    def predict(kp, conf_in, K_in, gravity=None):
        seen["kp2d"], seen["conf"] = kp.numpy(), conf_in.numpy()
        return torch.zeros(1, 133, 3), torch.zeros(1, 133)

    lifter.predict = predict
    result = lifter.lift(kp2d, conf, K)
    np.testing.assert_array_equal(seen["conf"], conf)
    np.testing.assert_array_equal(result.status[0, [11, 91, 100]], JointStatus.INFERRED)
    assert np.abs(seen["kp2d"] - kp2d).max() > 10.0  # the view was turned ...
    parents = [WHOLEBODY133.parents[j] for j in (91, 100)]  # ... and a filled-in joint still lies on its ancestor
    np.testing.assert_allclose(seen["kp2d"][0, [91, 100]], seen["kp2d"][0, parents], atol=1e-3)


# ------------------------------------------------------------------------------------------------------------------
# The camera set-up evaluation
# ------------------------------------------------------------------------------------------------------------------


def test_torso_lean_error_is_the_angle_between_the_torsos():
    people = people_on_axis("h36m17") - people_on_axis("h36m17")[:, :1]
    torso = people[:, 8] / np.linalg.norm(people[:, 8], axis=-1, keepdims=True)
    np.testing.assert_allclose(torso_lean_errors_deg(people, people, H36M17), 0.0, atol=1e-5)
    side = np.cross(torso, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    angle = np.radians(12.0)  # Rodrigues about an axis perpendicular to the torso: the torso turns by the angle
    leaned = (people * np.cos(angle) + np.cross(side[:, None], people) * np.sin(angle)
              + side[:, None] * (people * side[:, None]).sum(-1, keepdims=True) * (1 - np.cos(angle)))
    np.testing.assert_allclose(torso_lean_errors_deg(leaned, people, H36M17), 12.0, atol=1e-6)


def test_setup_evaluation_reports_both_settings_and_restores_the_lifter(tmp_path):
    lifter = small_lifter("h36m17", perspective_correction=False)
    people = turn_away(people_on_axis("h36m17"), np.array([[100.0, 240.0], [560.0, 240.0], [320.0, 240.0]]))
    data = {"kp2d": project(people, K).astype(np.float32), "conf": np.ones((3, 17), np.float32),
            "K": np.broadcast_to(K, (3, 3, 3)).astype(np.float32), "pose3d": people.astype(np.float32)}
    report = evaluate_setups(lifter, {"here": data})
    assert set(report["here"]) == {"off", "on"} and lifter.perspective_correction is False
    for result in report["here"].values():
        assert set(result) == {"mpjpe_mm", "body17_mm", "torso_lean_deg", "pelvis_depth_error_mm"}
        assert result["mpjpe_mm"] == pytest.approx(result["body17_mm"])  # H36M-17: the body is everything
    assert report["here"]["off"]["mpjpe_mm"] != pytest.approx(report["here"]["on"]["mpjpe_mm"])
