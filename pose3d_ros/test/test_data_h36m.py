import numpy as np
import pytest

from pose3d_ros.data import load_h36m, synthetic_walk, to_h36m17, write_motion_file
from pose3d_ros.data.h36m import normalise_subjects
from pose3d_ros.skeleton import H36M17, H36M32


def _left_direction(poses: np.ndarray, use_nose: bool) -> np.ndarray:
    """The person's left, from the facing direction given by the toes (or the nose) and world up (z)."""
    if use_nose:
        forward = poses[:, 14] - poses[:, 13]
    else:
        forward = 0.5 * (poses[:, 4] + poses[:, 9]) - 0.5 * (poses[:, 3] + poses[:, 8])
    forward[:, 2] = 0.0
    return np.cross([0.0, 0.0, 1.0], forward)  # up x forward = left


def test_mirror_fix_puts_left_joints_on_the_persons_left(mocap_path):
    sequences = load_h36m(mocap_path)
    assert len(sequences) == 160
    for use_nose in (False, True):
        agree = []
        for key, poses in sequences.items():
            assert poses.dtype == np.float32 and poses.shape[1:] == (32, 3)
            left = _left_direction(poses, use_nose)
            hips = np.sum((poses[:, 6] - poses[:, 1]) * left, axis=1) > 0
            shoulders = np.sum((poses[:, 17] - poses[:, 25]) * left, axis=1) > 0
            # Every sequence agrees in most frames (lying on the floor makes "facing" ill-defined in a few).
            assert hips.mean() > 0.8 and shoulders.mean() > 0.8, key
            agree.append(np.concatenate([hips, shoulders]))
        assert np.concatenate(agree).mean() > 0.99
    raw = load_h36m(mocap_path, ["S9"], fix_mirror=False)
    fixed = load_h36m(mocap_path, ["S9"])
    key = next(iter(raw))
    np.testing.assert_array_equal(fixed[key][..., 0], -raw[key][..., 0])
    np.testing.assert_array_equal(fixed[key][..., 1:], raw[key][..., 1:])


def test_real_subject_split_and_h36m17_bone_lengths(mocap_path):
    test = load_h36m(mocap_path, "S9")
    assert {key.split("/")[0] for key in test} == {"S9"}
    poses17 = to_h36m17(next(iter(test.values())))
    assert poses17.shape[1:] == (17, 3)
    lengths = np.linalg.norm(H36M17.bone_vectors(poses17), axis=-1).mean(axis=0)
    named = dict(zip([H36M17.names[c] for _, c in H36M17.bones], lengths, strict=True))
    assert 0.25 < named["left_elbow"] < 0.32 and 0.22 < named["left_wrist"] < 0.28  # upper arm, forearm
    assert 0.40 < named["left_knee"] < 0.48 and 0.40 < named["left_ankle"] < 0.48  # thigh, shin


def test_any_file_in_the_format_loads_with_other_subjects(tmp_path):
    walk = synthetic_walk(60)
    path = tmp_path / "motion.npz"
    write_motion_file(path, {"S2/dancing_1": walk, "S11/walking_3": walk[:30], "S2/waving_2": walk[:10]})
    everything = load_h36m(path)
    assert list(everything) == ["S11/walking_3", "S2/dancing_1", "S2/waving_2"]
    np.testing.assert_allclose(everything["S2/dancing_1"], walk, atol=1e-6)  # written mirrored, loaded fixed
    assert list(load_h36m(path, ["S11"])) == ["S11/walking_3"]
    assert list(load_h36m(path, 2)) == ["S2/dancing_1", "S2/waving_2"]
    with pytest.raises(ValueError, match="S9 not in the file"):
        load_h36m(path, ["S9"])


@pytest.mark.parametrize("arrays, message", [
    ({"walking_1": np.zeros((5, 32, 3))}, "malformed sequence key"),
    ({"S1/a/b": np.zeros((5, 32, 3))}, "malformed sequence key"),
    ({"S1/walking_1": np.zeros((5, 17, 3))}, r"shape \(5, 17, 3\)"),
    ({"S1/walking_1": np.zeros((0, 32, 3))}, "shape"),
    ({"S1/walking_1": np.full((5, 32, 3), np.nan)}, "NaN"),
    ({"S1/walking_1": np.array([{"a": 1}], dtype=object)}, "cannot be read"),
])
def test_malformed_files_give_clear_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load_h36m(path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_h36m(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        load_h36m(junk)


def test_subject_names_are_normalised():
    assert normalise_subjects("S1,S5") == ("S1", "S5")
    assert normalise_subjects([1, "s9", "S11"]) == ("S1", "S9", "S11")
    assert normalise_subjects(None) is None
    with pytest.raises(ValueError):
        normalise_subjects(["subject one"])


def test_synthetic_walk_is_rigid_and_sided_like_the_fixed_data():
    walk = synthetic_walk(150).astype(np.float64)
    lengths = H36M32.parent_distance(walk)
    np.testing.assert_allclose(lengths, lengths[:1].repeat(len(walk), 0), atol=1e-5)
    left = _left_direction(walk, use_nose=False)
    assert (np.sum((walk[:, 6] - walk[:, 1]) * left, axis=1) > 0).all()
