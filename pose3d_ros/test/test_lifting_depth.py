"""Depth placement (lifting/depth_placement.py), the known-height rescaling (lifting/body_size.py) and their use in
Lifter.lift, on synthetic depth images (data/depth.py) of a person at a known place."""

import numpy as np
import pytest
import torch

from pose3d_ros.camera import intrinsics_from_fov, look_at_rotation, project
from pose3d_ros.data.depth import add_background, add_occluder, degrade_depth, depth_scene, render_depth
from pose3d_ros.data.sets import poses_in_layout
from pose3d_ros.data.synthetic import synthetic_walk
from pose3d_ros.lifting import Lifter
from pose3d_ros.lifting.body_size import NOMINAL_STATURE_M
from pose3d_ros.lifting.depth_placement import (
    DepthSettings,
    depth_in_metres,
    depth_pixel_scale,
    place_with_depth,
)
from pose3d_ros.lifting.normalization import root_centre
from pose3d_ros.lifting.placement import solve_root_translation
from pose3d_ros.skeleton import H36M17, PlacementSource

K = intrinsics_from_fov(640, 480, 70.0)
SIZE = (640, 480)


def person(distance: float = 3.5, frame: int = 0, layout=H36M17) -> np.ndarray:
    """Camera-frame joints (J, 3) of a walking person, the pelvis ``distance`` m straight ahead of a level camera."""
    world = poses_in_layout(synthetic_walk(100)[[frame]], np.array([frame / 50.0]), layout.name, "S0/walk", 0)
    pelvis = root_centre(world, layout)
    eye = pelvis - np.array([0.0, distance, 0.0])
    return np.einsum("nij,nkj->nki", look_at_rotation(eye, pelvis), world - eye[:, None])[0]


def placed(pose: np.ndarray, depth: np.ndarray, lifted: np.ndarray | None = None, conf=None, **settings):
    """Depth placement of one person whose lifted root-relative pose is ``lifted`` (default: exact)."""
    kp2d = project(pose[None], K)
    conf = np.ones((1, len(pose))) if conf is None else conf
    relative = pose[None] - root_centre(pose[None], H36M17)[:, None] if lifted is None else lifted[None]
    least_squares = solve_root_translation(kp2d, conf, relative, K)
    return place_with_depth(kp2d, conf, relative, K, depth, H36M17, least_squares,
                            settings=DepthSettings(**settings)), least_squares


@pytest.mark.parametrize("distance", [2.0, 3.5, 5.5])
@pytest.mark.parametrize("frame", [0, 30, 60])
def test_a_person_at_a_known_distance_is_placed_within_30_mm(distance, frame):
    pose = person(distance, frame)
    depth = degrade_depth(add_background(render_depth(pose[None], H36M17, K, SIZE), distance + 1.5),
                          np.random.default_rng(frame))
    result, _ = placed(pose, depth)
    assert result.used[0] and result.samples[0] >= 20
    pelvis = root_centre(pose, H36M17)
    assert abs(result.translation[0, 2] - pelvis[2]) < 0.03
    assert np.linalg.norm(result.translation[0] - pelvis) < 0.05


def test_holes_zeros_nan_and_out_of_range_are_not_used():
    pose = person(3.0)
    clean = render_depth(pose[None], H36M17, K, SIZE)
    reference, _ = placed(pose, clean)
    rng = np.random.default_rng(0)
    spoiled = clean.copy()
    body = np.flatnonzero(spoiled > 0)
    bad = rng.choice(body, len(body) // 2, replace=False)
    spoiled.flat[bad[0::3]] = np.nan
    spoiled.flat[bad[1::3]] = 0.5  # nearer than the 1 m minimum below
    spoiled.flat[bad[2::3]] = np.inf
    result, _ = placed(pose, spoiled, min_depth_m=1.0)
    assert result.used[0] and result.samples[0] < reference.samples[0] * 0.6
    assert abs(result.translation[0, 2] - reference.translation[0, 2]) < 0.005
    far, _ = placed(pose, clean, max_depth_m=2.5)  # the person beyond the sensor's range: nothing usable
    assert not far.used[0] and far.samples[0] == 0 and np.isnan(far.translation[0]).all()


@pytest.mark.parametrize("box", ["counter", "post"])
def test_an_occluder_in_front_does_not_pull_the_depth(box):
    pose = person(4.0)
    depth = add_background(render_depth(pose[None], H36M17, K, SIZE), 6.0)
    pixels = project(pose, K)
    hips_v, shoulders_v = pixels[[1, 4], 1].mean(), pixels[[11, 14], 1].mean()
    left, right = pixels[[1, 4, 11, 14], 0].min(), pixels[[1, 4, 11, 14], 0].max()
    if box == "counter":  # up to 40 % of the way from the hips to the shoulders
        area = (0, int(hips_v - 0.4 * (hips_v - shoulders_v)), 640, 480)
    else:  # the left 45 % of the torso
        area = (0, 0, int(left + 0.45 * (right - left)), 480)
    hidden = degrade_depth(add_occluder(depth, area, 3.0), np.random.default_rng(1))
    result, least_squares = placed(pose, hidden)
    assert result.used[0]
    assert abs(result.translation[0, 2] - root_centre(pose, H36M17)[2]) < 0.03


def test_too_few_valid_samples_fall_back_to_least_squares_and_say_so():
    lifter = Lifter.load(device="cpu")
    pose = person(3.0, layout=lifter.layout)
    kp2d = project(pose[None], K).astype(np.float32)
    conf = np.ones(kp2d.shape[:2], np.float32)
    plain = lifter.lift(kp2d, conf, K)
    assert plain.placement_source == ("least_squares",)
    for depth in (np.zeros((480, 640), np.uint16), np.full((480, 640), np.nan, np.float32)):
        result = lifter.lift(kp2d, conf, K, depth=depth)
        assert result.placement_source == ("least_squares",)
        np.testing.assert_array_equal(result.root_translation, plain.root_translation)
    depth = render_depth(pose[None], lifter.layout, K, SIZE)
    sparse = np.where(np.random.default_rng(0).random(depth.shape) < 0.003, depth, 0.0).astype(np.float32)
    assert lifter.lift(kp2d, conf, K, depth=sparse).placement[0] == PlacementSource.LEAST_SQUARES
    by_depth = lifter.lift(kp2d, conf, K, depth=depth)
    assert by_depth.placement[0] == PlacementSource.DEPTH and by_depth.placement_source == ("depth",)
    pelvis = root_centre(pose, lifter.layout)
    # the shipped lifter's own error in the torso's depths comes in (39 mm here)
    assert abs(by_depth.root_translation[0, 2] - pelvis[2]) < 0.06
    np.testing.assert_allclose(by_depth.positions, by_depth.root_relative + by_depth.root_translation[:, None],
                               atol=1e-5)


def test_people_without_observed_torso_joints_are_not_placed_by_depth():
    pose = person(3.0)
    conf = np.ones((1, 17))
    conf[0, [1, 4, 11, 14]] = 0.1  # hips and shoulders barely seen
    result, _ = placed(pose, render_depth(pose[None], H36M17, K, SIZE), conf=conf)
    assert not result.used[0]


def test_a_depth_image_of_another_size_is_refused_unless_it_is_a_scale_of_the_colour_image():
    assert depth_pixel_scale((480, 640), None) == 1.0
    assert depth_pixel_scale((240, 320), (640, 480)) == 0.5
    with pytest.raises(ValueError, match="not a scaled copy"):
        depth_pixel_scale((480, 848), (640, 480))
    pose = person(3.0)
    full = render_depth(pose[None], H36M17, K, SIZE)
    half = full[::2, ::2]  # the same camera at half the resolution (nearest pixel)
    kp2d = project(pose[None], K)
    relative = pose[None] - root_centre(pose[None], H36M17)[:, None]
    least_squares = solve_root_translation(kp2d, np.ones((1, 17)), relative, K)
    result = place_with_depth(kp2d, np.ones((1, 17)), relative, K, half, H36M17, least_squares, image_size=SIZE)
    assert result.used[0] and abs(result.translation[0, 2] - root_centre(pose, H36M17)[2]) < 0.03
    lifter = Lifter.load(device="cpu")
    with pytest.raises(ValueError, match="not a scaled copy"):
        lifter.lift(np.zeros((1, 133, 2), np.float32), np.ones((1, 133), np.float32), K,
                    depth=np.zeros((480, 848), np.float32), image_size=SIZE)


def test_uint16_millimetres_and_float32_metres_give_the_same_placement():
    pose = person(3.2)
    metres = degrade_depth(render_depth(pose[None], H36M17, K, SIZE), np.random.default_rng(2))
    millimetres = np.round(metres * 1000.0).astype(np.uint16)
    np.testing.assert_allclose(depth_in_metres(millimetres, "16UC1"), metres, atol=5e-4)
    from_mm, _ = placed(pose, depth_in_metres(millimetres))
    from_m, _ = placed(pose, depth_in_metres(metres, "32FC1"))
    assert from_mm.samples[0] == from_m.samples[0]
    np.testing.assert_allclose(from_mm.translation, from_m.translation, atol=1e-3)
    with pytest.raises(ValueError, match="16UC1 depth image holds uint16"):
        depth_in_metres(metres, "16UC1")
    with pytest.raises(ValueError, match="not supported"):
        depth_in_metres(millimetres, "rgb8")
    with pytest.raises(ValueError, match="one channel"):
        depth_in_metres(np.zeros((4, 4, 3), np.float32))


def test_the_depth_scenes_draw_what_they_say():
    pose = person(4.0)
    rng = np.random.default_rng(0)
    clear = depth_scene(pose, H36M17, K, SIZE, 1.0, "clear", rng)
    lost = depth_scene(pose, H36M17, K, SIZE, 1.0, "lost", rng)
    u, v = project(pose[0], K).astype(int)
    assert 3.7 < np.median(clear[v - 3:v + 4, u - 3:u + 4]) < 4.0  # the torso's front, ~0.1 m before the pelvis
    assert (lost[v - 3:v + 4, u - 3:u + 4] == 0).all()
    assert ((clear == 0).mean() > 0.02) and np.nanmax(clear) > 4.4  # holes, and the wall behind


def test_a_known_height_removes_the_size_error():
    """A 1.50 m and a 1.95 m person: least squares place them ~10 % off (the network assumes the training skeleton's
    size); told their height, the lifter places them as well as a person of the training size."""
    torch.manual_seed(0)
    lifter = Lifter.load(device="cpu")
    pose = person(3.5, layout=lifter.layout)
    pelvis = root_centre(pose, lifter.layout)
    errors = {}
    for height in (1.50, NOMINAL_STATURE_M, 1.95):
        scaled = pelvis + height / NOMINAL_STATURE_M * (pose - pelvis)
        kp2d = project(scaled[None], K).astype(np.float32)
        conf = np.ones(kp2d.shape[:2], np.float32)
        lifter.person_height_m = 0.0
        unknown = lifter.lift(kp2d, conf, K).root_translation[0, 2] - pelvis[2]
        lifter.person_height_m = height
        known = lifter.lift(kp2d, conf, K)
        errors[height] = unknown, known.root_translation[0, 2] - pelvis[2]
        assert known.placement_source == ("least_squares",)
    nominal = abs(errors[NOMINAL_STATURE_M][1])
    assert errors[1.50][0] > 0.25 and errors[1.95][0] < -0.35  # too far / too near by the size ratio
    for height in (1.50, 1.95):
        assert abs(errors[height][1]) < nominal + 0.03
    with pytest.raises(ValueError, match="person_height_m"):
        Lifter.load(device="cpu", person_height_m=3.0)
