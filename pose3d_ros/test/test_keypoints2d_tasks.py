"""The tasks backend's real MediaPipe Tasks calls, on real images, without downloading Google's .task files.

The test builds .task bundles from the models inside the mediapipe wheel: the pose bundle holds the same BlazePose
detector and full landmark model that Holistic runs (plus the input-normalisation metadata Tasks requires), the
hand bundle the palm detector and hand landmark model as they are (the hand graph normalises its input itself).
The Tasks face model is not in the wheel, so the face bundle is a stand-in that loads and runs but whose landmarks
are meaningless: faces are not checked here (their mapping is checked with Holistic, their association on
synthetic landmarks).
"""

import zipfile
from pathlib import Path

import cv2
import mediapipe
import numpy as np
import pytest
import skimage.data

from pose3d_ros.keypoints2d import create_detector

NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6
MODULES = Path(mediapipe.__file__).parent / "modules"
MINUS_ONE_TO_ONE, ZERO_TO_ONE = (127.5, 127.5), (0.0, 255.0)  # (mean, std) that map 0..255 to the model's range
BUNDLES = {
    "pose_landmarker_full.task": {
        "pose_detector.tflite": ("pose_detection/pose_detection.tflite", MINUS_ONE_TO_ONE),
        "pose_landmarks_detector.tflite": ("pose_landmark/pose_landmark_full.tflite", ZERO_TO_ONE),
    },
    "hand_landmarker.task": {
        "hand_detector.tflite": ("palm_detection/palm_detection_full.tflite", None),
        "hand_landmarks_detector.tflite": ("hand_landmark/hand_landmark_full.tflite", None),
    },
    "face_landmarker.task": {
        "face_detector.tflite": ("face_detection/face_detection_short_range.tflite", MINUS_ONE_TO_ONE),
        "face_landmarks_detector.tflite": ("face_landmark/face_landmark.tflite", ZERO_TO_ONE),
    },
}


def _with_normalisation(path: Path, mean_std: tuple[float, float] | None) -> bytes:
    if mean_std is None:
        return path.read_bytes()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(path.read_bytes()))
    writer.add_general_info("pose3d_ros test model", "built from the mediapipe wheel's legacy model")
    writer.add_image_input(norm_mean=[mean_std[0]], norm_std=[mean_std[1]])
    return bytes(writer.populate()[0])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pytest.importorskip("mediapipe.tasks.python.metadata.metadata_writers.metadata_writer")
    directory = tmp_path_factory.mktemp("task_models")
    for bundle, members in BUNDLES.items():
        with zipfile.ZipFile(directory / bundle, "w") as archive:
            for member, (source, mean_std) in members.items():
                if not (MODULES / source).is_file():
                    pytest.skip(f"{MODULES / source} is not in this mediapipe wheel")
                archive.writestr(member, _with_normalisation(MODULES / source, mean_std))
    return directory


@pytest.fixture(scope="module")
def two_people():
    """The astronaut twice, the second mirrored, with a grey gap between them (1280 x 512, BGR)."""
    person = skimage.data.astronaut()[..., ::-1]
    gap = np.full((512, 256, 3), 200, np.uint8)
    return np.ascontiguousarray(np.hstack([person, gap, person[:, ::-1]]))


def test_two_people_are_found_each_on_their_own_body_with_their_own_sides(model_dir, two_people):
    with create_detector("tasks", model_dir=model_dir, static_image_mode=True) as detector:
        result = detector(two_people)
    assert len(result) == 2 and result.person_ids.tolist() == [0, 1]
    assert np.isfinite(result.kp2d).all() and result.conf.min() >= 0 and result.conf.max() <= 1
    noses = sorted(result.kp2d[:, NOSE, 0])
    assert 180 < noses[0] < 270 and 1010 < noses[1] < 1100  # the faces are at x ~ 222 and 1058
    for kp, conf in zip(result.kp2d, result.conf, strict=True):
        assert conf[NOSE] > 0.9 and conf[LEFT_SHOULDER] > 0.9
        assert kp[LEFT_SHOULDER, 0] > kp[RIGHT_SHOULDER, 0] + 100  # both face the camera: left on the image right


def test_stream_mode_keeps_each_persons_id_while_they_move(model_dir, two_people):
    ids_left_to_right = []
    with create_detector("tasks", model_dir=model_dir) as detector:
        for frame in range(4):
            result = detector(np.roll(two_people, 8 * frame, axis=1), timestamp_s=frame / 10)
            assert len(result) == 2
            ids_left_to_right.append(result.person_ids[np.argsort(result.kp2d[:, NOSE, 0])].tolist())
    assert all(ids == ids_left_to_right[0] for ids in ids_left_to_right)
    assert sorted(ids_left_to_right[0]) == [0, 1]


def test_nobody_and_a_corrupt_model_file(model_dir, tmp_path):
    with create_detector("tasks", model_dir=model_dir, static_image_mode=True) as detector:
        assert len(detector(np.zeros((240, 320, 3), np.uint8))) == 0
    for name in ("pose_landmarker_full.task", "hand_landmarker.task"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    (tmp_path / "face_landmarker.task").write_text("not a model")
    with pytest.raises(ValueError, match=r"cannot load the face model .*face_landmarker\.task"):
        create_detector("tasks", model_dir=tmp_path)


def test_video_frame_person_seen_from_behind(model_dir, video_path):
    capture = cv2.VideoCapture(str(video_path))
    ok, frame = capture.read()
    capture.release()
    assert ok
    with create_detector("tasks", model_dir=model_dir, static_image_mode=True) as detector:
        result = detector(frame)
    assert len(result) >= 1
    nearest = np.argmax(np.ptp(result.kp2d[:, :17, 1], axis=1))  # the tallest person is the woman in front
    kp = result.kp2d[nearest]
    assert kp[NOSE, 0] > 0.7 * frame.shape[1]
    assert kp[LEFT_SHOULDER, 0] < kp[RIGHT_SHOULDER, 0]  # seen from behind: her left on the image left
