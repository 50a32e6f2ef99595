"""2D stage without MediaPipe inference: mapping tables and geometry, input conversion, association,
model-file errors, drawing. Numbers are hand-computed from synthetic landmarks."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from mediapipe.tasks.python.components.containers.landmark import NormalizedLandmark

from pose3d_ros.cli import main
from pose3d_ros.keypoints2d import Keypoints2D, create_detector, draw_keypoints, mapping, to_rgb
from pose3d_ros.keypoints2d.draw import PART_COLORS_BGR
from pose3d_ros.keypoints2d.holistic import POSE_MODEL_FILES, pose_model_path
from pose3d_ros.keypoints2d.mapping import MediaPipeLandmarks, to_wholebody
from pose3d_ros.keypoints2d.tasks import TASK_MODEL_NAMES, find_task_models, landmarks_from_tasks
from pose3d_ros.keypoints2d.tracking import associate_parts
from pose3d_ros.skeleton import WHOLEBODY133

W, H = 640, 480


# ------------------------------------------------------------------ mapping table


def test_mapping_table_covers_all_133_joints_once_with_valid_indices():
    body = [joint for joint, _ in mapping.BODY_FROM_POSE] + [row[0] for row in mapping.SMALL_TOE_FROM_FOOT]
    face = list(range(23, 91))
    hands = list(range(91, 133))
    assert sorted(body + face + hands) == list(range(133))
    assert len(mapping.FACE_FROM_MESH) == 68
    assert mapping.FACE_MESH_PAIRS.shape == (68, 2)
    assert mapping.FACE_MESH_PAIRS.min() >= 0 and mapping.FACE_MESH_PAIRS.max() < mapping.NUM_FACE_MESH_LANDMARKS
    pose_indices = [landmark for _, landmark in mapping.BODY_FROM_POSE]
    pose_indices += [i for row in mapping.SMALL_TOE_FROM_FOOT for i in row[1:]]
    assert 0 <= min(pose_indices) and max(pose_indices) < mapping.NUM_POSE_LANDMARKS
    # left joints come from MediaPipe's left landmarks (odd pose indices 11.. are left, even are right)
    for joint, landmark in mapping.BODY_FROM_POSE:
        name = WHOLEBODY133.names[joint]
        if landmark >= 11:
            assert name.startswith("left" if landmark % 2 else "right"), (name, landmark)


def _landmarks(num_people=1):
    """A synthetic person facing the camera: the person's left on the image right."""
    lm = MediaPipeLandmarks.allocate(num_people)
    rng = np.random.default_rng(0)
    lm.pose[..., 0] = rng.uniform(100, 500, (num_people, 33))
    lm.pose[..., 1] = rng.uniform(50, 400, (num_people, 33))
    lm.pose[..., 3] = rng.uniform(0.2, 1.0, (num_people, 33))
    lm.face[..., 0] = rng.uniform(250, 350, (num_people, 468))
    lm.face[..., 1] = rng.uniform(60, 140, (num_people, 468))
    lm.hands[...] = rng.uniform(100, 500, (num_people, 2, 21, 2))
    return lm


def test_to_wholebody_copies_body_face_and_hands_with_their_confidences():
    lm = _landmarks()
    lm.face_found[0] = True
    lm.hands_found[0] = (True, True)
    kp2d, conf = to_wholebody(lm, (W, H))
    assert kp2d.shape == (1, 133, 2) and conf.shape == (1, 133) and kp2d.dtype == conf.dtype == np.float32
    np.testing.assert_allclose(kp2d[0, 5], lm.pose[0, 11, :2])  # left shoulder
    np.testing.assert_allclose(conf[0, 12], lm.pose[0, 24, 3])  # right hip's visibility
    np.testing.assert_allclose(kp2d[0, 19], lm.pose[0, 29, :2])  # left heel
    # face point 3 is the mean of mesh vertices 132 and 58, point 8 (chin) is vertex 152
    np.testing.assert_allclose(kp2d[0, 23 + 3], (lm.face[0, 132] + lm.face[0, 58]) / 2, rtol=1e-6)
    np.testing.assert_allclose(kp2d[0, 23 + 8], lm.face[0, 152])
    np.testing.assert_allclose(conf[0, 23:91], mapping.FACE_CONFIDENCE)
    np.testing.assert_allclose(kp2d[0, 91:112], lm.hands[0, 0])  # left hand, MediaPipe's order
    np.testing.assert_allclose(kp2d[0, 112:133], lm.hands[0, 1])
    np.testing.assert_allclose(conf[0, 91:133], mapping.HAND_CONFIDENCE)


def test_missing_parts_get_conf_zero_and_sit_on_their_ancestor():
    lm = _landmarks()
    lm.face_found[0] = True
    lm.hands_found[0] = (False, True)  # left hand not found
    kp2d, conf = to_wholebody(lm, (W, H))
    assert np.all(conf[0, 92:112] == 0)
    np.testing.assert_allclose(kp2d[0, 91:112], np.broadcast_to(kp2d[0, 9], (21, 2)))  # on the left wrist
    assert conf[0, 91] == conf[0, 9] > 0  # the lost hand's root is the body's wrist, which the pose model saw
    assert np.all(conf[0, 112:133] > 0)
    lm.pose[0, 15, 3] = 0.0  # nor the wrist: the root is not seen either
    assert to_wholebody(lm, (W, H))[1][0, 91] == 0


def test_keypoints_outside_the_image_or_non_finite_are_not_observed_and_never_nan():
    lm = _landmarks()
    lm.pose[0, 27, :2] = (W + 30, 200)  # left ankle off the right edge
    lm.pose[0, 28, 3] = np.nan  # right ankle's visibility broken
    lm.hands[0, 1, 8] = (np.nan, np.nan)  # right forefinger tip broken
    lm.hands_found[0] = (False, True)
    kp2d, conf = to_wholebody(lm, (W, H))
    assert conf[0, 15] == 0 and np.allclose(kp2d[0, 15], kp2d[0, 13])  # left ankle -> on the left knee
    assert conf[0, 16] == 0
    assert conf[0, 112 + 8] == 0 and np.allclose(kp2d[0, 120], kp2d[0, 119])
    assert np.isfinite(kp2d).all() and np.isfinite(conf).all()
    assert conf.min() >= 0 and conf.max() <= 1


def test_nobody_gives_empty_arrays():
    kp2d, conf = to_wholebody(MediaPipeLandmarks.allocate(0), (W, H))
    assert kp2d.shape == (0, 133, 2) and conf.shape == (0, 133)


def _feet(toe, heel, left_hip, right_hip, visibility=(0.8, 0.6)):
    lm = _landmarks()
    lm.pose[0, 31, :3], lm.pose[0, 29, :3] = toe, heel  # left foot
    lm.pose[0, 23, :3], lm.pose[0, 24, :3] = left_hip, right_hip
    lm.pose[0, 31, 3], lm.pose[0, 29, 3] = visibility
    return to_wholebody(lm, (W, H))


def test_small_toe_of_a_foot_pointing_at_the_camera_lies_outwards_and_back():
    # facing the camera: the person's left hip is on the image right; the foot points towards the camera (-z)
    kp2d, conf = _feet(toe=(300, 400, -100), heel=(300, 400, 0), left_hip=(340, 250, 0), right_hip=(260, 250, 0))
    # toe - 0.2 * (toe - heel) + 0.25 * |foot| * (+x) = (300 + 25, 400) after dropping z
    np.testing.assert_allclose(kp2d[0, 18], (325, 400), atol=1e-3)
    assert conf[0, 18] == pytest.approx(mapping.SMALL_TOE_CONFIDENCE * 0.6)


def test_small_toe_of_a_foot_seen_side_on_stays_beside_the_big_toe():
    # side view: the foot runs along +x, the hips differ only in depth, so "outwards" is along z and invisible
    kp2d, _ = _feet(toe=(400, 400, 0), heel=(300, 400, 0), left_hip=(330, 250, -40), right_hip=(330, 250, 40))
    np.testing.assert_allclose(kp2d[0, 18], (380, 400), atol=1e-3)


# ------------------------------------------------------------------ input conversion


def test_to_rgb_converts_every_supported_format():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    assert tuple(to_rgb(bgr)[0, 0]) == (200, 0, 10)
    assert tuple(to_rgb(bgr, "rgb")[0, 0]) == (10, 0, 200)
    bgra = np.dstack([bgr, np.full((4, 5), 7, np.uint8)])
    assert tuple(to_rgb(bgra)[0, 0]) == (200, 0, 10)
    grey = np.full((4, 5), 90, np.uint8)
    assert tuple(to_rgb(grey)[0, 0]) == (90, 90, 90) == tuple(to_rgb(grey[..., None])[0, 0])
    deep = np.full((4, 5), 65535, np.uint16)
    deep[0, 0] = 256 * 100
    out = to_rgb(deep)
    assert out.dtype == np.uint8 and tuple(out[0, 0]) == (100, 100, 100) and out[1, 1, 0] == 255
    flipped = to_rgb(bgr[:, ::-1])  # a non-contiguous view is fine
    assert flipped.flags["C_CONTIGUOUS"] and flipped.shape == (4, 5, 3)


@pytest.mark.parametrize("image, message", [
    (np.zeros((0, 10, 3), np.uint8), "empty image"),
    (np.zeros((10, 0), np.uint8), "empty image"),
    (np.zeros((4, 5, 3), np.float32), "dtype float32"),
    (np.zeros((4, 5, 2), np.uint8), "shape (4, 5, 2)"),
    (np.zeros((2, 4, 5, 3), np.uint8), "shape (2, 4, 5, 3)"),
    ([[0, 1], [2, 3]], "numpy array, got list"),
])
def test_to_rgb_rejects_unusable_images_clearly(image, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_rgb(image)


def test_unknown_colour_order_is_rejected():
    with pytest.raises(ValueError, match="colour order 'yuv'"):
        to_rgb(np.zeros((4, 5, 3), np.uint8), "yuv")


# ------------------------------------------------------------------ result type and factory


def test_result_type_checks_shapes_and_serialises():
    empty = Keypoints2D.empty((W, H))
    assert len(empty) == 0 and empty.kp2d.shape == (0, 133, 2)
    with pytest.raises(ValueError, match="inconsistent keypoints"):
        Keypoints2D(np.zeros((1, 17, 2), np.float32), np.zeros((1, 17), np.float32), np.zeros(1, np.int64), (W, H))
    kp2d, conf = to_wholebody(_landmarks(), (W, H))
    data = json.loads(json.dumps(Keypoints2D(kp2d, conf, np.array([7]), (W, H)).to_dict()))
    assert data["layout"] == "wholebody133" and data["image_size"] == [W, H]
    assert data["people"][0]["id"] == 7 and len(data["people"][0]["keypoints"]) == 133


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="unknown 2D backend 'openpose'"):
        create_detector("openpose")


@pytest.mark.parametrize("complexity", [0, 2])
def test_holistic_model_not_in_the_wheel_is_named(complexity):
    import mediapipe

    name = POSE_MODEL_FILES[complexity]
    if (Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / name).is_file():
        pytest.skip(f"{name} is installed here")
    with pytest.raises(FileNotFoundError, match=f"model_complexity={complexity} needs {name}"):
        create_detector("holistic", model_complexity=complexity)


def test_holistic_bundled_model_is_found_and_bad_complexity_rejected():
    assert pose_model_path(1).name == "pose_landmark_full.tflite"
    with pytest.raises(ValueError, match="0, 1 or 2"):
        pose_model_path(3)


# ------------------------------------------------------------------ tasks backend: model files


def test_missing_task_models_are_named_with_where_they_were_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        create_detector("tasks", model_dir=tmp_path)
    message = str(error.value)
    for names in TASK_MODEL_NAMES.values():
        for name in names:
            assert str(tmp_path / name) in message
    with pytest.raises(FileNotFoundError, match="no path given"):
        find_task_models()


def test_task_models_resolve_explicit_paths_and_preferred_names(tmp_path):
    for name in ("pose_landmarker_lite.task", "pose_landmarker_full.task", "hand_landmarker.task"):
        (tmp_path / name).touch()
    face = tmp_path / "elsewhere" / "my_face.task"
    with pytest.raises(FileNotFoundError, match=r"face model: looked for .*my_face\.task"):
        find_task_models(tmp_path, face_model=face)
    face.parent.mkdir()
    face.touch()
    found = find_task_models(tmp_path, face_model=face)
    assert found == {"pose": tmp_path / "pose_landmarker_full.task", "hand": tmp_path / "hand_landmarker.task",
                     "face": face}


# ------------------------------------------------------------------ tasks backend: association


def _pose_landmarks(centre_x, scale=100.0):
    """33 normalised landmarks of a person facing the camera centred at ``centre_x`` (pixels, image W x H)."""
    xy = np.zeros((33, 2))
    xy[:, 0], xy[:, 1] = centre_x, 240
    xy[0] = (centre_x, 240 - 1.5 * scale)  # nose
    xy[15] = (centre_x + 0.8 * scale, 240)  # left wrist, on the image right
    xy[16] = (centre_x - 0.8 * scale, 240)  # right wrist
    xy[[27, 28]] = [(centre_x + 0.2 * scale, 240 + 2 * scale), (centre_x - 0.2 * scale, 240 + 2 * scale)]
    return [NormalizedLandmark(x=x / W, y=y / H, z=0.0, visibility=0.9) for x, y in xy]


def _hand(wrist_x, wrist_y):
    return [NormalizedLandmark(x=(wrist_x + 3 * k) / W, y=(wrist_y - 2 * k) / H) for k in range(21)]


def _face(nose_x, nose_y):
    mesh = [NormalizedLandmark(x=(nose_x + 1) / W, y=(nose_y + 1) / H) for _ in range(478)]
    mesh[mapping.FACE_NOSE_TIP_VERTEX] = NormalizedLandmark(x=nose_x / W, y=nose_y / H)
    return mesh


def test_hands_and_faces_go_to_the_person_whose_wrist_and_nose_they_are_next_to():
    poses = SimpleNamespace(pose_landmarks=[_pose_landmarks(150), _pose_landmarks(450)])
    # four hands in scrambled order, the first person's left hand (at x = 230) listed last; handedness not used
    hands = SimpleNamespace(hand_landmarks=[_hand(372, 242), _hand(528, 238), _hand(72, 240), _hand(231, 240)],
                            handedness=[[SimpleNamespace(category_name="Left", score=0.9)]] * 4)
    faces = SimpleNamespace(face_landmarks=[_face(451, 91), _face(149, 89)])
    out = landmarks_from_tasks(poses, hands, faces, W, H)
    assert out.num_people == 2 and out.hands_found.all() and out.face_found.all()
    np.testing.assert_allclose(out.hands[0, 0, 0], (231, 240), atol=1e-3)  # person 0's left hand
    np.testing.assert_allclose(out.hands[0, 1, 0], (72, 240), atol=1e-3)
    np.testing.assert_allclose(out.hands[1, 0, 0], (528, 238), atol=1e-3)
    np.testing.assert_allclose(out.hands[1, 1, 0], (372, 242), atol=1e-3)
    np.testing.assert_allclose(out.face[0, 1], (149, 89), atol=1e-3)
    np.testing.assert_allclose(out.face[1, 1], (451, 91), atol=1e-3)
    kp2d, conf = to_wholebody(out, (W, H))
    assert np.all(conf[:, 91:] > 0) and np.all(conf[:, 23:91] > 0)


def test_far_hands_and_faces_are_left_unassigned():
    poses = SimpleNamespace(pose_landmarks=[_pose_landmarks(150)])
    hands = SimpleNamespace(hand_landmarks=[_hand(600, 50)], handedness=[])
    faces = SimpleNamespace(face_landmarks=[_face(600, 400)])
    out = landmarks_from_tasks(poses, hands, faces, W, H)
    assert not out.hands_found.any() and not out.face_found.any()
    nobody = landmarks_from_tasks(SimpleNamespace(pose_landmarks=[]), hands, faces, W, H)
    assert nobody.num_people == 0


def test_associate_parts_gates_by_person_size():
    pose = np.zeros((1, 33, 2))
    pose[0, :, 0] = np.linspace(0, 300, 33)
    pose[0, :, 1] = np.linspace(0, 400, 33)  # bbox diagonal 500 -> gate 75 px
    pose[0, 16] = (0, 400)  # the right wrist, far from both hands
    wrist = pose[0, 15]
    hand_index, face_index = associate_parts(pose, np.array([wrist + (70, 0), wrist + (0, 80)]), np.zeros((0, 2)))
    assert hand_index[0].tolist() == [0, -1] and face_index.tolist() == [-1]


# ------------------------------------------------------------------ drawing and CLI errors


def test_drawing_shows_detected_joints_in_their_part_colour_and_skips_missing_ones():
    kp2d = np.zeros((1, 133, 2), np.float32)
    conf = np.zeros((1, 133), np.float32)
    kp2d[0, 0] = (50, 50)  # nose, detected
    kp2d[0, 95] = (150, 100)  # a left-hand joint, detected
    kp2d[0, 5] = (100, 150)  # left shoulder, not detected
    conf[0, [0, 95]] = 1.0
    image = np.zeros((200, 200, 3), np.uint8)
    drawn = draw_keypoints(image, Keypoints2D(kp2d, conf, np.zeros(1, np.int64), (200, 200)))
    assert tuple(drawn[50, 50]) == PART_COLORS_BGR["body"]
    assert tuple(drawn[100, 150]) == PART_COLORS_BGR["left_hand"]
    assert not drawn[150, 100].any() and not drawn[100, 75].any()  # no joint, no bone to the missing shoulder
    assert not image.any()  # the input is left untouched


def test_bench_without_a_video_asks_for_one(tmp_path, caplog):
    assert main(["bench", "keypoints2d", "--video", str(tmp_path / "missing.mp4")]) == 2
    assert "give one with --video" in caplog.text
