"""2D stage on real images of people with MediaPipe Holistic: skimage's astronaut (facing the camera) and frames of
the shared video (a woman walking away from the camera, seen from behind)."""

import json

import cv2
import numpy as np
import pytest
import skimage.data

from pose3d_ros.cli import main
from pose3d_ros.keypoints2d import create_detector, draw_keypoints
from pose3d_ros.keypoints2d.draw import PART_COLORS_BGR
from pose3d_ros.keypoints2d.mapping import FACE_CONFIDENCE
from pose3d_ros.skeleton import WHOLEBODY133

NOSE, LEFT_EYE, RIGHT_EYE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 2, 5, 6
LEFT_WRIST, RIGHT_WRIST, LEFT_ANKLE, RIGHT_ANKLE = 9, 10, 15, 16
FACE = slice(23, 91)


def _face(kp, ibug):
    return kp[23 + ibug]


@pytest.fixture(scope="module")
def detector():
    with create_detector("holistic", static_image_mode=True) as detector:
        yield detector


@pytest.fixture(scope="module")
def astronaut_rgb():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut(detector, astronaut_rgb):
    return detector(astronaut_rgb, color_order="rgb")


@pytest.fixture(scope="module")
def video_frames(video_path):
    capture = cv2.VideoCapture(str(video_path))
    frames = []
    while len(frames) < 5:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert frames, f"no frames in {video_path}"
    return frames


@pytest.fixture(scope="module")
def video_results(detector, video_frames):
    return [detector(frame) for frame in video_frames]


def test_astronaut_is_one_person_on_her_body_with_a_valid_result(astronaut):
    assert len(astronaut) == 1 and astronaut.person_ids.tolist() == [0]
    assert astronaut.image_size == (512, 512)
    kp, conf = astronaut.kp2d[0], astronaut.conf[0]
    assert astronaut.kp2d.dtype == np.float32 and np.isfinite(astronaut.kp2d).all()
    assert conf.min() >= 0 and conf.max() <= 1
    seen = kp[:23][conf[:23] > 0.5]
    assert len(seen) >= 7  # head and shoulders at least
    # she fills the left two thirds of the picture; the helmet and shuttle on the right are not her
    assert seen[:, 0].min() > 20 and seen[:, 0].max() < 400 and seen[:, 1].min() > 60
    assert np.all(conf[[NOSE, LEFT_EYE, RIGHT_EYE, LEFT_SHOULDER, RIGHT_SHOULDER]] > 0.9)
    # legs are below the picture: not observed, so confidence 0 and placed on their observed ancestors
    assert conf[LEFT_ANKLE] == 0 and conf[RIGHT_ANKLE] == 0
    assert np.all(kp[:, 1] <= 512)


def test_astronaut_face_points_lie_on_her_face_in_ibug_order(astronaut):
    kp, conf = astronaut.kp2d[0], astronaut.conf[0]
    np.testing.assert_allclose(conf[FACE], FACE_CONFIDENCE)
    face = kp[FACE]
    # her face (forehead to chin, ear to ear) spans about x 175-280, y 80-180 in this picture
    assert face[:, 0].min() > 165 and face[:, 0].max() < 290 and face[:, 1].min() > 70 and face[:, 1].max() < 190
    width = face[16, 0] - face[0, 0]
    assert 70 < width < 120
    # jaw runs from her right (image left) under the chin to her left, the chin lowest
    assert np.all(np.diff(face[0:9, 0]) > 0) and np.all(np.diff(face[8:17, 0]) > 0)
    assert face[8, 1] == face[0:17, 1].max()
    # brows above eyes above nose tip above mouth above chin
    brows, eyes = face[17:27, 1].mean(), face[36:48, 1].mean()
    assert brows < eyes < face[30, 1] < face[51, 1] < face[57, 1] < face[8, 1]
    # her right eye's points (36-41) are on the image left, near the pose model's right eye; the same for the left
    for ibug, joint in ((slice(36, 42), RIGHT_EYE), (slice(42, 48), LEFT_EYE)):
        assert np.linalg.norm(face[ibug].mean(axis=0) - kp[joint]) < 0.15 * width
    assert face[36, 0] < face[39, 0] < face[42, 0] < face[45, 0]  # outer and inner eye corners
    assert face[48, 0] < face[51, 0] < face[54, 0]  # mouth corners and upper lip centre
    assert np.linalg.norm(face[30] - kp[NOSE]) < 0.1 * width  # iBUG nose tip at the pose model's nose


def test_astronaut_face_table_is_mirror_symmetric_on_a_frontal_face(astronaut):
    """Reflecting the 68 points across the face's midline lands each on its iBUG mirror partner."""
    face = astronaut.kp2d[0, FACE]
    top, chin = face[27], face[8]
    along = (chin - top) / np.linalg.norm(chin - top)
    normal = np.array([-along[1], along[0]])
    mirrored = face - 2 * ((face - top) @ normal)[:, None] * normal
    partner = np.array(WHOLEBODY133.flip[FACE]) - 23
    error = np.linalg.norm(mirrored - face[partner], axis=1)
    assert error.mean() < 3.5 and error.max() < 8  # pixels, on a face 100 px wide


def test_astronaut_left_and_right_are_her_own_sides(astronaut):
    kp = astronaut.kp2d[0]
    # facing the camera, her left is on the image right
    assert kp[LEFT_SHOULDER, 0] > kp[RIGHT_SHOULDER, 0] + 100
    assert kp[LEFT_EYE, 0] > kp[RIGHT_EYE, 0]
    assert _face(kp, 45)[0] > _face(kp, 36)[0] and _face(kp, 16)[0] > _face(kp, 0)[0]


def test_hands_not_found_sit_on_their_wrists_with_conf_zero(astronaut):
    kp, conf = astronaut.kp2d[0], astronaut.conf[0]
    # Holistic finds neither of her hands (one is gloved and half out of the picture); each hand's root is her
    # body wrist, with the pose model's confidence
    for root, wrist in ((91, LEFT_WRIST), (112, RIGHT_WRIST)):
        assert np.all(conf[root + 1:root + 21] == 0) and conf[root] == conf[wrist]
        np.testing.assert_allclose(kp[root:root + 21], np.broadcast_to(kp[wrist], (21, 2)))


def test_input_formats_give_the_same_person(detector, astronaut_rgb, astronaut):
    reference = astronaut.kp2d[0, :17]
    variants = {
        "bgr": detector(np.ascontiguousarray(astronaut_rgb[..., ::-1])),
        "bgra": detector(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGRA)),
        "16-bit rgb": detector(astronaut_rgb.astype(np.uint16) * 257, color_order="rgb"),
    }
    for name, result in variants.items():
        assert len(result) == 1, name
        assert np.abs(result.kp2d[0, :17] - reference).max() < 3, name
    grey = detector(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY))
    assert len(grey) == 1
    assert np.linalg.norm(grey.kp2d[0, :7] - reference[:7], axis=-1).max() < 30  # head and shoulders


def test_nobody_gives_an_empty_result(detector):
    rng = np.random.default_rng(0)
    for image in (np.zeros((240, 320, 3), np.uint8), rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),
                  np.zeros((1, 1, 3), np.uint8)):
        result = detector(image)
        assert len(result) == 0 and result.kp2d.shape == (0, 133, 2) and result.conf.shape == (0, 133)
        assert result.image_size == (image.shape[1], image.shape[0])


def test_bad_input_is_rejected_clearly(detector):
    with pytest.raises(ValueError, match="empty image"):
        detector(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype float64"):
        detector(np.zeros((64, 64, 3)))


def test_video_woman_seen_from_behind(video_results, video_frames):
    """She walks away from the camera on the right of the picture: her left is on the image left."""
    height, width = video_frames[0].shape[:2]
    for result in video_results:
        assert len(result) == 1
        kp, conf = result.kp2d[0], result.conf[0]
        seen = kp[:23][conf[:23] > 0.5]
        assert seen[:, 0].min() > 0.7 * width and seen[:, 1].min() > 0.3 * height
        assert kp[LEFT_SHOULDER, 0] < kp[RIGHT_SHOULDER, 0]
        assert np.all(conf[FACE] == 0)  # the back of her head: no face


def test_video_hands_are_at_their_own_wrists(video_results):
    found = 0
    for result in video_results:
        kp, conf = result.kp2d[0], result.conf[0]
        for hand, wrist, other in ((91, LEFT_WRIST, RIGHT_WRIST), (112, RIGHT_WRIST, LEFT_WRIST)):
            if conf[hand] > 0:
                found += 1
                assert np.linalg.norm(kp[hand] - kp[wrist]) < 15
                assert np.linalg.norm(kp[hand] - kp[other]) > 40
    assert found >= 1


def test_tracking_mode_on_the_video_keeps_id_zero_and_times_the_stage(video_frames):
    with create_detector("holistic") as tracker:
        for index, frame in enumerate(video_frames):
            result = tracker(frame, timestamp_s=index / 5)
            assert result.person_ids.tolist() == [0]
            timing = tracker.last_timing
            assert 0 < timing.models_s < timing.total_s
    with pytest.raises(RuntimeError, match="closed"):
        tracker(video_frames[0])


def test_drawing_a_real_result(astronaut_rgb, astronaut):
    bgr = np.ascontiguousarray(astronaut_rgb[..., ::-1])
    drawn = draw_keypoints(bgr, astronaut)
    x, y = np.round(astronaut.kp2d[0, LEFT_SHOULDER]).astype(int)
    assert tuple(drawn[y, x]) == PART_COLORS_BGR["body"]
    x, y = np.round(astronaut.kp2d[0, 23 + 8]).astype(int)
    assert tuple(drawn[y, x]) == PART_COLORS_BGR["face"]
    assert drawn.shape == bgr.shape and (drawn != bgr).any(axis=-1).mean() < 0.2


def test_cli_keypoints_writes_json_and_drawings_and_skips_unreadable_files(tmp_path, astronaut_rgb, capsys):
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), astronaut_rgb[..., ::-1])
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    out = tmp_path / "out" / "keypoints.json"
    code = main(["keypoints", str(image), str(broken), "--json", str(out), "--draw", str(tmp_path / "drawn")])
    assert code == 1  # one image skipped
    printed = capsys.readouterr().out
    assert "1 image(s) processed, 1 skipped" in printed and "face 68/68" in printed
    data = json.loads(out.read_text())
    assert data["skipped"][0]["path"] == str(broken) and "OpenCV can read" in data["skipped"][0]["error"]
    person = data["images"][0]["people"][0]
    assert len(person["keypoints"]) == 133 and len(person["confidence"]) == 133
    assert (tmp_path / "drawn" / "astronaut_keypoints.png").is_file()
    assert main(["keypoints", str(broken)]) == 2


def test_cli_keypoints_gives_images_that_share_a_stem_distinct_drawings(tmp_path, astronaut_rgb, caplog):
    (tmp_path / "b").mkdir()
    small = cv2.resize(astronaut_rgb[..., ::-1], (128, 128))
    paths = [tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "b" / "a.png", tmp_path / "c.png"]
    for k, path in enumerate(paths):
        cv2.imwrite(str(path), np.roll(small, 10 * k, axis=1))
    draw = tmp_path / "drawn"
    assert main(["keypoints", *map(str, paths), "--draw", str(draw)]) == 0
    assert sorted(p.name for p in draw.iterdir()) == ["a.jpg_keypoints.png", "a.png_keypoints.png",
                                                      "a.png_keypoints_2.png", "c_keypoints.png"]
    assert main(["keypoints", str(tmp_path / "b")]) == 2
    assert "is a folder, not an image" in caplog.text
