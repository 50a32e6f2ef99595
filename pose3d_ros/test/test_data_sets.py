import numpy as np
import pytest

from pose3d_ros.camera import CAMERA_SETUPS, project, up_from_pitch_roll
from pose3d_ros.data import (
    load_set,
    make_lifting_set,
    make_sequence_set,
    make_setup_sets,
    save_set,
    synthetic_walk,
    write_motion_file,
)
from pose3d_ros.data.detector import PART_NOISE, PERSON_HEIGHT_M, detect, markov_runs
from pose3d_ros.data.sets import MOCAP_BODY_HEIGHT_M, resample, scale_bodies
from pose3d_ros.skeleton import H36M17, WHOLEBODY133


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    """A small motion file in the Human3.6M format: three subjects, procedural walkers."""
    path = tmp_path_factory.mktemp("motion") / "walkers.npz"
    write_motion_file(path, {"S1/walking_1": synthetic_walk(300, seed=1), "S5/walking_1": synthetic_walk(200, seed=2),
                             "S9/walking_1": synthetic_walk(250, seed=3)})
    return path


def test_lifting_set_contract(motion):
    data = make_lifting_set(motion, "wholebody133", ["S1", "S5"], frame_step=10, cameras_per_pose=2, seed=0)
    assert set(data) == {"kp2d", "conf", "K", "image_size", "pose3d", "up"}
    n = len(data["kp2d"])
    assert 96 <= n <= 100  # 30 + 20 frames (less a random offset each) x 2 cameras
    shapes = {"kp2d": (n, 133, 2), "conf": (n, 133), "K": (n, 3, 3), "image_size": (n, 2), "pose3d": (n, 133, 3),
              "up": (n, 3)}
    for key, shape in shapes.items():
        assert data[key].shape == shape and data[key].dtype == np.float32, key
        assert np.isfinite(data[key]).all(), key
    assert ((data["conf"] >= 0) & (data["conf"] <= 1)).all()
    assert (data["pose3d"][..., 2] > 0.5).all()  # camera frame: the person is in front of the camera
    # Camera frame is a rigid transform of the synthesised body: rigid bone lengths are those of the walker.
    arms = np.linalg.norm(data["pose3d"][:, 7] - data["pose3d"][:, 5], axis=-1)
    np.testing.assert_allclose(arms, arms[0], atol=1e-5)
    # Missing joints follow the 2D contract: conf 0 and the nearest detected ancestor's coordinates.
    visible = data["conf"] > 0
    assert 0.3 < visible.mean() < 0.99
    np.testing.assert_allclose(WHOLEBODY133.fill_missing(data["kp2d"], visible), data["kp2d"], atol=1e-3)


def test_noise_free_projections_match_K(motion):
    data = make_lifting_set(motion, "h36m17", ["S9"], frame_step=5, camera_kind="robot", noise="none")
    assert data["kp2d"].shape[1:] == (17, 2)
    np.testing.assert_allclose(data["kp2d"], project(data["pose3d"], data["K"]), atol=1e-3)
    assert (data["conf"] == 1).all()
    assert (data["image_size"] == [640, 480]).all()
    hfov = np.degrees(2 * np.arctan(320 / data["K"][:, 0, 0]))
    assert hfov.min() >= 60 - 1e-3 and hfov.max() <= 90 + 1e-3
    np.testing.assert_allclose(data["pose3d"][:, 0], data["pose3d"][:, [1, 4]].mean(axis=1), atol=1e-5)


def test_sets_are_deterministic_and_per_sequence(motion):
    a = make_lifting_set(motion, "h36m17", None, frame_step=7, seed=3)
    b = make_lifting_set(motion, "h36m17", None, frame_step=7, seed=3)
    c = make_lifting_set(motion, "h36m17", None, frame_step=7, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["kp2d"], c["kp2d"])
    only_s9 = make_lifting_set(motion, "h36m17", ["S9"], frame_step=7, seed=3)
    np.testing.assert_array_equal(a["pose3d"][-len(only_s9["pose3d"]):], only_s9["pose3d"])


@pytest.mark.parametrize("kwargs, message", [
    ({"layout": "coco17"}, "layouts"), ({"noise": "gaussian"}, "noise"), ({"frame_step": 0}, "frame_step"),
    ({"camera_kind": "fisheye"}, "camera kind"), ({"subjects": ["S7"]}, "S7 not in the file"),
])
def test_lifting_set_rejects_bad_arguments(motion, kwargs, message):
    arguments = {"layout": "h36m17", "subjects": None, **kwargs}
    layout, subjects = arguments.pop("layout"), arguments.pop("subjects")
    with pytest.raises(ValueError, match=message):
        make_lifting_set(motion, layout, subjects, **arguments)


def test_sequence_set_contract(motion):
    data = make_sequence_set(motion, "wholebody133", ["S1", "S9"], window=9, fps=15.0, seed=1)
    S = len(data["kp2d"])
    # 6 s and 5 s of motion at 15 Hz in non-overlapping 9-frame windows from a random offset.
    assert 15 <= S <= 19
    assert data["kp2d"].shape == (S, 9, 133, 2) and data["pose3d"].shape == (S, 9, 133, 3)
    assert data["K"].shape == (S, 9, 3, 3) and data["image_size"].shape == (S, 9, 2)
    assert data["observed"].dtype == bool and data["observed"].shape == (S, 9, 133)
    np.testing.assert_array_equal(data["observed"], data["conf"] > 0)
    assert (data["K"] == data["K"][:, :1]).all() and (data["image_size"] == data["image_size"][:, :1]).all()
    # Consecutive frames are 1/15 s apart: the pelvis moves ~1 m/s * 1/15 s.
    pelvis = data["pose3d"][:, :, [11, 12]].mean(axis=2)
    step = np.linalg.norm(np.diff(pelvis, axis=1), axis=-1)
    assert 0.03 < np.median(step) < 0.12
    # Occlusion runs: whole frames and hands go missing for several consecutive frames.
    assert (~data["observed"]).mean() > 0.05


def test_sequence_windows_strides_and_rates(motion):
    dense = make_sequence_set(motion, "h36m17", ["S5"], window=5, fps=25.0, stride=1, occlusion=False,
                              noise="none", seed=0)
    assert len(dense["kp2d"]) >= 4 * 25 - 5  # 4 s at 25 Hz, one window per frame
    assert dense["observed"].all()
    # Overlapping windows see the same motion: window k's frame 1 is window k+1's frame 0 (up to the camera).
    bones = np.linalg.norm(H36M17.bone_vectors(dense["pose3d"]), axis=-1)
    np.testing.assert_allclose(bones, bones[:1, :1].repeat(len(bones), 0).repeat(5, 1), atol=2e-3)
    with pytest.raises(ValueError, match="fps"):
        make_sequence_set(motion, "h36m17", ["S5"], fps=60.0)
    with pytest.raises(ValueError, match="stride"):
        make_sequence_set(motion, "h36m17", ["S5"], stride=0)
    assert len(make_sequence_set(motion, "h36m17", ["S5"], window=500)["kp2d"]) == 0


def test_resample_interpolates_between_frames():
    poses = np.arange(10, dtype=np.float32).reshape(10, 1, 1) * np.ones((1, 2, 3), dtype=np.float32)
    out = resample(poses, np.array([0.0, 0.01, 0.05, 0.18]), source_fps=50.0)
    np.testing.assert_allclose(out[:, 0, 0], [0.0, 0.5, 2.5, 9.0])


def _single_frames(layout, count: int, depth: float, focal: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    walk = synthetic_walk(count, seed=seed).astype(np.float64)
    from pose3d_ros.data import sample_identity, synthesize_wholebody

    world = synthesize_wholebody(walk, np.arange(count) / 50.0, sample_identity(rng)).astype(np.float64)
    # A camera in front of each pose: the person's forward is -z of the camera frame.
    left = walk[:, 6] - walk[:, 1]
    left[:, 2] = 0
    left /= np.linalg.norm(left, axis=1, keepdims=True)
    forward = np.cross(left, [0.0, 0.0, 1.0])
    R = np.stack([left, np.broadcast_to([0.0, 0.0, -1.0], left.shape), -forward], axis=1)  # x right in the image
    centre = walk[:, 0] + depth * forward
    points = np.einsum("nij,nkj->nki", R, world - centre[:, None])
    K = np.tile([[focal, 0.0, 500.0], [0.0, focal, 500.0], [0.0, 0.0, 1.0]], (count, 1, 1))
    return points[:, None], K, np.tile([1000.0, 1000.0], (count, 1))


def test_detector_noise_is_ordered_by_part_and_confidence_follows_error():
    points, K, size = _single_frames(WHOLEBODY133, 400, depth=3.0, focal=1145.0)
    rng = np.random.default_rng(0)
    kp, conf = detect(points, K, size, WHOLEBODY133, rng)
    exact = project(points, K[:, None])
    scale = K[:, 0, 0] * PERSON_HEIGHT_M / np.median(points[..., 2], axis=-1)[:, 0]
    error = np.linalg.norm(kp - exact, axis=-1)[:, 0] / scale[:, None]
    seen = conf[:, 0] > 0
    typical = {part: np.median(error[:, s][seen[:, s]]) for part, s in WHOLEBODY133.parts.items()}
    assert typical["body"] < typical["face"] < typical["hands"]
    for part, value in typical.items():  # the median 2D error of a Gaussian is ~1.18 sigma
        spec = PART_NOISE[part]
        assert 0.6 < value / (1.18 * np.hypot(spec.sigma_joint, spec.sigma_part)) < 1.6, part
    assert np.corrcoef(error[seen], conf[:, 0][seen])[0, 1] < -0.3
    # The person faces the camera: faces are found unless dropped at random.
    assert seen[:, 23:91].mean() > 0.85


def test_detector_misses_what_a_detector_cannot_see():
    rng = np.random.default_rng(1)
    points, K, size = _single_frames(WHOLEBODY133, 100, depth=3.0, focal=1145.0)
    behind = points * [-1.0, 1.0, -1.0]  # the camera rotated 180 degrees about the vertical, to the person's back
    behind[..., 2] += 2 * 3.0
    _, conf = detect(behind, K, size, WHOLEBODY133, rng)
    assert (conf[:, 0, 23:91] == 0).all() and (conf[:, 0, :3] == 0).all()
    far_small = points.copy()
    far_small[..., 2] += 4.0  # 7 m away with a short focal length: hands and faces are a few pixels
    _, conf = detect(far_small, K * [[[0.3], [0.3], [1.0]]], size, WHOLEBODY133, rng)
    assert (conf[:, 0, 91:] > 0).mean() < 0.05
    shifted = points.copy()
    shifted[..., 0] += 1.5  # the person half out of the image (to its right)
    kp, conf = detect(shifted, K, size, WHOLEBODY133, rng)
    exact = project(shifted, K[:, None])
    assert (conf[exact[..., 0] >= 1000] == 0).all()
    assert np.isfinite(kp).all()


def test_markov_runs_have_the_designed_rate_and_length():
    rng = np.random.default_rng(0)
    runs = markov_runs(rng, (400, 300, 1), fraction=0.12, mean_run_frames=10.0)
    assert 0.10 < runs.mean() < 0.14
    starts = runs[:, 1:] & ~runs[:, :-1]
    assert 8.0 < runs[:, 1:].sum() / starts.sum() < 12.0


def test_sequence_noise_is_temporally_correlated(motion):
    data = make_sequence_set(motion, "h36m17", ["S1"], window=20, fps=25.0, occlusion=False, seed=2)
    exact = project(data["pose3d"], data["K"][:, :, None])
    error = (data["kp2d"] - exact)[..., 0]
    seen = data["conf"][:, 1:] * data["conf"][:, :-1] > 0
    pairs = np.stack([error[:, 1:][seen], error[:, :-1][seen]])
    assert np.corrcoef(pairs)[0, 1] > 0.2


def test_cached_sets_round_trip(motion, tmp_path):
    data = make_lifting_set(motion, "h36m17", ["S9"], frame_step=20)
    save_set(tmp_path / "set.npz", data, {"layout": "h36m17"})
    loaded = load_set(tmp_path / "set.npz")
    for key in data:
        np.testing.assert_array_equal(loaded[key], data[key])
    assert '"layout": "h36m17"' in loaded["settings"]
    with pytest.raises(ValueError, match="not a cached set"):
        np.savez(tmp_path / "other.npz", kp2d=data["kp2d"])
        load_set(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="missing"):
        save_set(tmp_path / "x.npz", {"kp2d": data["kp2d"]}, {})


def test_setup_sets_show_the_same_poses_through_each_camera(motion):
    sets = make_setup_sets(motion, "wholebody133", "S9", frame_step=5, max_samples=20, seed=0)
    assert list(sets) == list(CAMERA_SETUPS)
    for data in sets.values():
        assert {key: value.shape for key, value in data.items()} == {
            "kp2d": (20, 133, 2), "conf": (20, 133), "K": (20, 3, 3), "image_size": (20, 2), "pose3d": (20, 133, 3),
            "up": (20, 3)}
        np.testing.assert_array_equal(data["conf"], 1.0)  # exact 2D: every joint, in the image or not
        np.testing.assert_allclose(data["kp2d"], project(data["pose3d"], data["K"]), atol=1e-3)
    centred, overhead = sets["level_centred"]["pose3d"], sets["overhead_35"]["pose3d"]
    np.testing.assert_allclose(np.linalg.norm(centred - centred[:, :1], axis=-1),
                               np.linalg.norm(overhead - overhead[:, :1], axis=-1), atol=1e-5)  # one rigid motion
    assert not np.allclose(centred, overhead, atol=0.1)
    np.testing.assert_allclose(sets["level_centred"]["up"], np.broadcast_to([0.0, -1.0, 0.0], (20, 3)), atol=1e-6)
    np.testing.assert_allclose(sets["overhead_35"]["up"], np.broadcast_to(up_from_pitch_roll(35.0), (20, 3)),
                               atol=1e-6)  # the up direction the camera's attitude gives
    again = make_setup_sets(motion, "wholebody133", "S9", frame_step=5, max_samples=20, seed=0)
    np.testing.assert_array_equal(again["overhead_35"]["kp2d"], sets["overhead_35"]["kp2d"])  # seeded


def test_mount_views_lose_the_joints_outside_the_picture_even_with_exact_2d(motion):
    """With the mounts mix people stand at and beyond the picture's edges: a joint outside it is missing (conf 0, on
    its nearest detected ancestor) as the 2D stage would give it; the others are exact."""
    data = make_lifting_set(motion, "h36m17", ["S1", "S5"], frame_step=2, camera_kind="mounts", noise="none")
    width, height = data["image_size"][:, None, 0], data["image_size"][:, None, 1]
    exact = project(data["pose3d"], data["K"])
    inside = (exact[..., 0] >= 0) & (exact[..., 0] < width) & (exact[..., 1] >= 0) & (exact[..., 1] < height)
    np.testing.assert_array_equal(data["conf"] > 0, inside)
    assert 0.02 < (~inside).any(-1).mean() < 0.5  # some people partly out of view, most not
    np.testing.assert_allclose(data["kp2d"][inside], exact[inside], atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(data["up"], axis=-1), 1.0, atol=1e-6)


def test_body_size_augmentation_scales_each_body_about_its_floor_point(motion):
    world = synthetic_walk(10, seed=4)[:, None]  # (N, 1, 32, 3)
    pelvis = world[:, 0, 0]
    heights = np.linspace(1.5, 1.95, 10)
    scaled = scale_bodies(world, pelvis, heights)
    ratio = heights / MOCAP_BODY_HEIGHT_M
    np.testing.assert_allclose(np.linalg.norm(scaled[:, 0, 1] - scaled[:, 0, 2], axis=-1),
                               ratio * np.linalg.norm(world[:, 0, 1] - world[:, 0, 2], axis=-1), rtol=1e-5)
    np.testing.assert_allclose(scaled[:, 0, 0, :2], pelvis[:, :2], atol=1e-6)  # the pelvis stays above its spot
    np.testing.assert_allclose(scaled[:, 0, :, 2].min(-1), ratio * world[:, 0, :, 2].min(-1), rtol=1e-5)  # floor 0
    data = make_lifting_set(motion, "h36m17", "S1", frame_step=5, noise="none", body_heights_m=(1.5, 1.95))
    thigh = np.linalg.norm(data["pose3d"][:, 1] - data["pose3d"][:, 2], axis=-1)
    plain = make_lifting_set(motion, "h36m17", "S1", frame_step=5, noise="none")
    base = np.linalg.norm(plain["pose3d"][0, 1] - plain["pose3d"][0, 2])
    ratio = thigh / base * MOCAP_BODY_HEIGHT_M  # the drawn heights
    assert ratio.min() >= 1.5 - 1e-4 and ratio.max() <= 1.95 + 1e-4
    assert thigh.std() > 0.02 * base
