import numpy as np
import pytest

from pose3d_ros.data import load_h36m, sample_identity, synthesize_wholebody, synthetic_walk
from pose3d_ros.data.face import FACE_FLIP, NEUTRAL_FACE, pose_face
from pose3d_ros.data.hand import PIP_MAX_DEG, pose_hand, sample_hand_shape
from pose3d_ros.data.wholebody import mirror_h36m32
from pose3d_ros.skeleton import FACE_OFFSET, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET, WHOLEBODY133

FPS = 50.0

# Face landmarks that no expression moves (nose, eye corners, lower lids, the contour beside the ears).
RIGID_FACE = [0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 40, 41, 42, 45, 46, 47]
RIGID = set([FACE_OFFSET + i for i in RIGID_FACE] + [0, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16, 19, 22]
            + list(range(LEFT_HAND_OFFSET, 133)))


@pytest.fixture(scope="module")
def walk():
    poses32 = synthetic_walk(250, seed=3)
    times = np.arange(len(poses32)) / FPS
    identity = sample_identity(np.random.default_rng(7))
    return poses32, times, identity, synthesize_wholebody(poses32, times, identity).astype(np.float64)


def _body_axes(poses32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The person's left and forward (horizontal) from the hips and world up."""
    left = poses32[:, 6] - poses32[:, 1]
    left[:, 2] = 0
    left /= np.linalg.norm(left, axis=1, keepdims=True)
    return left, np.cross(left, [0.0, 0.0, 1.0])  # left x up = forward


def _rigid_bone_lengths(poses: np.ndarray) -> np.ndarray:
    neck = {(0, 5), (0, 6)}  # nose - shoulders crosses the neck
    bones = [(p, c) for p, c in WHOLEBODY133.bones if p in RIGID and c in RIGID and (p, c) not in neck]
    assert len(bones) > 60
    parents, children = np.array(bones).T
    return np.linalg.norm(poses[:, children] - poses[:, parents], axis=-1)


def test_shapes_and_rigid_bones_constant_over_a_sequence(walk):
    poses32, _, _, poses = walk
    assert poses.shape == (250, 133, 3) and np.isfinite(poses).all()
    lengths = _rigid_bone_lengths(poses)
    assert lengths.std(axis=0).max() < 1e-5
    # Bones that expressions move do move, but by less than 3 cm.
    face = WHOLEBODY133.parent_distance(poses)[:, FACE_OFFSET:FACE_OFFSET + 68]
    assert 1e-3 < (face.max(axis=0) - face.min(axis=0)).max() < 0.03


def test_hands_hang_at_the_wrists_along_the_h36m_hand(walk):
    poses32, _, _, poses = walk
    for offset, wrist, wrist32, hand_end32, thumb32 in ((LEFT_HAND_OFFSET, 9, 19, 22, 21),
                                                        (RIGHT_HAND_OFFSET, 10, 27, 30, 29)):
        np.testing.assert_allclose(poses[:, offset], poses[:, wrist])
        np.testing.assert_allclose(poses[:, wrist], poses32[:, wrist32], atol=1e-6)
        reach = np.linalg.norm(poses[:, offset:offset + 21] - poses[:, wrist, None], axis=-1)
        assert reach.max() < 0.23 and reach[:, 9].min() > 0.06  # middle knuckle 6-10 cm from the wrist
        knuckle = poses[:, offset + 9] - poses[:, wrist]
        hand_axis = poses32[:, hand_end32] - poses32[:, wrist32]
        cos = np.sum(knuckle * hand_axis, 1) / np.linalg.norm(knuckle, axis=1) / np.linalg.norm(hand_axis, axis=1)
        assert np.degrees(np.arccos(cos.clip(-1, 1))).max() < 10
        thumb_side = poses32[:, thumb32] - poses32[:, wrist32]
        assert (np.sum((poses[:, offset + 2] - poses[:, wrist]) * thumb_side, 1) > 0).all()


def test_face_is_in_front_of_the_head_with_realistic_size(walk):
    poses32, _, _, poses = walk
    _, forward = _body_axes(poses32)
    ears = 0.5 * (poses[:, 3] + poses[:, 4])
    assert (np.sum((poses[:, 0] - ears) * forward, 1) > 0.07).all()
    face = poses[:, FACE_OFFSET:FACE_OFFSET + 68]
    assert (np.sum((face.mean(axis=1) - ears) * forward, 1) > 0.04).all()
    width = np.linalg.norm(face[:, 0] - face[:, 16], axis=1)
    assert 0.11 < width.min() and width.max() < 0.17
    eyes_z, chin_z, brow_z = face[:, 36:48, 2].mean(1), face[:, 8, 2], face[:, 17:27, 2].mean(1)
    assert (brow_z > eyes_z).all() and (eyes_z - chin_z > 0.08).all()
    # Eyes and nose above the neck joint, head top region above the H36M head joint's level minus a few cm.
    assert (eyes_z > poses32[:, 14, 2]).all()


def test_left_and_right_are_the_persons_own_sides(walk):
    poses32, _, _, poses = walk
    left, _ = _body_axes(poses32)
    centre = poses32[:, 0]
    for left_joint, right_joint in ((1, 2), (3, 4), (5, 6), (11, 12), (15, 16), (17, 20), (19, 22)):
        assert (np.sum((poses[:, left_joint] - poses[:, right_joint]) * left, 1) > 0).all()
    hands = np.sum((poses[:, 91:112].mean(1) - poses[:, 112:133].mean(1)) * left, 1)
    assert (hands > 0).all()
    face_left = [FACE_OFFSET + i for i in (16, 26, 45, 54)]  # iBUG: the person's left
    face_right = [FACE_OFFSET + i for i in (0, 17, 36, 48)]
    assert (np.sum((poses[:, face_left] - poses[:, face_right]) * left[:, None], -1) > 0).all()
    assert (np.sum((poses[:, 9] - centre) * left, 1) > 0).all()


def test_flip_turns_a_synthesis_into_the_synthesis_of_the_mirrored_body(walk):
    poses32, times, identity, poses = walk
    mirrored = synthesize_wholebody(mirror_h36m32(poses32), times, identity.mirrored()).astype(np.float64)
    np.testing.assert_allclose(WHOLEBODY133.flip_points(poses, axis=0), mirrored, atol=2e-6)
    # The mirrored person matters: the same identity on the mirrored body is a different (asymmetric) person.
    same_person = synthesize_wholebody(mirror_h36m32(poses32), times, identity)
    assert np.abs(WHOLEBODY133.flip_points(poses, axis=0) - same_person).max() > 1e-3


def test_real_motion_rigid_and_flip(mocap_path):
    poses32 = load_h36m(mocap_path, "S9")["S9/walking_1"][::5]
    times = np.arange(len(poses32)) * 5 / FPS
    identity = sample_identity(np.random.default_rng(0))
    poses = synthesize_wholebody(poses32, times, identity).astype(np.float64)
    assert _rigid_bone_lengths(poses).std(axis=0).max() < 1e-5
    mirrored = synthesize_wholebody(mirror_h36m32(poses32), times, identity.mirrored())
    np.testing.assert_allclose(WHOLEBODY133.flip_points(poses, axis=0), mirrored, atol=5e-6)
    forward = 0.5 * (poses32[:, 4] + poses32[:, 9]) - 0.5 * (poses32[:, 3] + poses32[:, 8])
    ears = 0.5 * (poses[:, 3] + poses[:, 4])
    assert (np.sum((poses[:, 0] - ears) * forward, 1) > 0).mean() > 0.97


def test_fingers_stay_within_anatomical_limits():
    rng = np.random.default_rng(0)
    for _ in range(20):
        shape = sample_hand_shape(rng)
        flexion = rng.uniform(0, 1, (200, 5))
        flexion[0], flexion[1] = 0.0, 1.0  # fully open, fully closed
        local = pose_hand(shape, flexion, rng.uniform(0, 1, 200), rng.uniform(0, 1, 200))
        for finger in range(1, 5):
            chain = local[:, [0] + list(range(1 + 4 * finger, 5 + 4 * finger))]
            bones = np.diff(chain, axis=1)
            unit = bones / np.linalg.norm(bones, axis=-1, keepdims=True)
            bend = np.degrees(np.arccos(np.sum(unit[:, 1:] * unit[:, :-1], -1).clip(-1, 1)))
            assert bend.max() <= PIP_MAX_DEG + 15.0  # MCP (with the knuckle arch) <= 85+, PIP <= 100, DIP <= 67
            # Fingers curl towards the palm (-z in the right-hand frame): no point rises more than the 5-degree
            # hyperextension allows above its knuckle.
            rise = (chain[:, 2:, 2] - chain[:, 1:2, 2]).max()
            assert rise <= shape.phalanges[finger].sum() * np.sin(np.radians(5.0)) + 1e-6
            assert (chain[1, 4, 2] - chain[1, 1, 2]) < -0.01  # the closed fist's fingertips are under the palm
        np.testing.assert_allclose(np.linalg.norm(np.diff(local[:, 5:9], axis=1), axis=-1),
                                   np.repeat(shape.phalanges[1][None], 200, 0))


def test_expression_and_fingers_vary_smoothly(walk):
    poses32, _, _, poses = walk
    hand = poses[:, 112:133] - poses[:, 10, None]
    wrist_frame_speed = np.linalg.norm(np.diff(hand, axis=0), axis=-1).max()
    arm_speed = np.linalg.norm(np.diff(poses32[:, 27] - poses32[:, 26], axis=0), axis=-1).max()
    assert wrist_frame_speed < 0.02 + arm_speed  # < 1 m/s finger motion at 50 Hz on top of the hand's turning
    shape = sample_identity(np.random.default_rng(1))
    expression = shape.face_motion.expression(np.arange(500) / FPS)
    for name, values in expression.items():
        assert values.min() >= -1 and values.max() <= 1, name
        if name != "blink":
            assert np.abs(np.diff(values)).max() < 0.1, name
        assert values.std() > 0.01, name
    face = pose_face(shape.face, expression)
    assert np.abs(np.diff(face, axis=0)).max() < 0.005


def test_identities_differ_and_are_reproducible():
    a, b = sample_identity(np.random.default_rng(1)), sample_identity(np.random.default_rng(2))
    again = sample_identity(np.random.default_rng(1))
    np.testing.assert_array_equal(a.face.landmarks, again.face.landmarks)
    assert np.abs(a.face.landmarks - b.face.landmarks).max() > 1e-3
    assert not np.allclose(a.hands.phalanges, b.hands.phalanges)
    np.testing.assert_allclose(NEUTRAL_FACE[FACE_FLIP] * [-1.0, 1.0, 1.0], NEUTRAL_FACE)  # symmetric mean face


def test_bad_input_is_refused():
    identity = sample_identity(np.random.default_rng(0))
    with pytest.raises(ValueError):
        synthesize_wholebody(np.zeros((5, 17, 3)), np.zeros(5), identity)
    with pytest.raises(ValueError):
        synthesize_wholebody(np.zeros((5, 32, 3)), np.zeros(4), identity)
