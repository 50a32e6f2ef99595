"""The 2D stage's accuracy measure: matching, people found, PCK per part (hand-made cases), the hand-annotated set,
and `pose3d eval keypoints2d` end to end with the holistic backend."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.cli import main
from pose3d_ros.keypoints2d import commands
from pose3d_ros.keypoints2d.annotations import load_annotations, rebuild_image
from pose3d_ros.keypoints2d.evaluation import AnnotatedPerson, Counts, match_people, score_image

ANNOTATIONS = Path(__file__).parent / "data" / "multiperson_annotations.json"
BODY = np.arange(17)
FACE = np.arange(23, 91)


def _person(x: float, joints=BODY, box_height: float = 200.0, **part_boxes) -> AnnotatedPerson:
    """A person whose annotated joints lie on a diagonal starting at (x, 0), in a 100 x ``box_height`` box."""
    keypoints = np.zeros((133, 2))
    keypoints[:, 0] = x + np.arange(133) % 50
    keypoints[:, 1] = np.arange(133) % 50 * 3
    visible = np.zeros(133, bool)
    visible[joints] = True
    return AnnotatedPerson(keypoints, visible, np.array([x, 0, x + 100, box_height]),
                           {part: np.asarray(box, float) for part, box in part_boxes.items()})


def _detections(*people: AnnotatedPerson, offset=(0.0, 0.0)):
    kp2d = np.stack([person.keypoints + offset for person in people])
    return kp2d, np.ones(kp2d.shape[:2])


def test_exact_detection_is_found_and_every_joint_correct():
    person = _person(0, joints=np.concatenate([BODY, [17, 19], FACE[:10], [91, 112]]), face=[0, 0, 50, 50],
                     left_hand=[0, 0, 20, 20], right_hand=[0, 0, 20, 20])
    counts = score_image([person], *_detections(person)).to_dict()
    assert (counts["people_found"], counts["people_annotated"]) == (1, 1)
    assert {part: entry["joints"] for part, entry in counts["pck_person_box"].items()} == {
        "body": 17, "feet": 2, "face": 10, "hands": 2}
    assert all(entry["pck"] == 1.0 for entry in counts["pck_person_box"].values())
    assert counts["pck_part_box"] == {"face": {"pck": 1.0, "correct": 10, "joints": 10},
                                      "hands": {"pck": 1.0, "correct": 2, "joints": 2}}


def test_threshold_is_a_fifth_of_the_person_box_larger_side():
    person = _person(0, box_height=200)  # 100 x 200 box: threshold 40 px
    assert score_image([person], *_detections(person, offset=(39.0, 0))).correct["body"] == 17
    assert score_image([person], *_detections(person, offset=(0, 41.0))).correct["body"] == 0


def test_joint_the_detector_lacks_is_wrong_even_at_the_right_place():
    person = _person(0)
    kp2d, conf = _detections(person)
    conf[0, :5] = 0
    counts = score_image([person], kp2d, conf)
    assert (counts.found, counts.correct["body"], counts.total["body"]) == (1, 12, 17)


def test_people_are_matched_whatever_the_detection_order():
    left, right = _person(0), _person(300)
    kp2d, conf = _detections(right, left, offset=(5.0, 0))
    assert match_people([left, right], kp2d, conf) == {0: 1, 1: 0}
    assert score_image([left, right], kp2d, conf).correct["body"] == 34


def test_unfound_person_is_a_miss_and_its_joints_count_as_wrong():
    found, missed = _person(0), _person(300)
    counts = score_image([found, missed], *_detections(found))
    assert (counts.found, counts.annotated) == (1, 2)
    assert (counts.correct["body"], counts.total["body"]) == (17, 34)
    nobody = score_image([found], np.zeros((0, 133, 2)), np.zeros((0, 133)))
    assert (nobody.found, nobody.correct["body"], nobody.total["body"]) == (0, 0, 17)


def test_detection_of_someone_else_far_away_is_not_credited():
    annotated, stranger = _person(0), _person(400)  # mean distance 400 px > 0.5 x 200
    assert match_people([annotated], *_detections(stranger)) == {}


def test_part_box_threshold_is_stricter_for_a_small_face():
    # threshold 40 px for the 100 x 200 person box, 10 px for the 50 x 50 face box
    person = _person(0, joints=np.concatenate([BODY, FACE]), face=[10, 10, 60, 60])
    counts = score_image([person], *_detections(person, offset=(15.0, 0)))
    assert counts.correct["face"] == 68
    assert counts.part_box_correct["face"] == 0


def test_part_joints_need_their_part_box():
    with pytest.raises(ValueError, match="face_box"):
        _person(0, joints=FACE)


def test_counts_add_over_images_before_taking_fractions():
    one = Counts(annotated=1, found=1, correct={"body": 10, "feet": 0, "face": 0, "hands": 0},
                 total={"body": 10, "feet": 0, "face": 0, "hands": 0})
    other = Counts(annotated=3, found=0, correct={"body": 0, "feet": 0, "face": 0, "hands": 0},
                   total={"body": 30, "feet": 0, "face": 0, "hands": 0})
    summary = (one + other).to_dict()
    assert summary["found_fraction"] == 0.25
    assert summary["pck_person_box"]["body"]["pck"] == 0.25  # 10 of 40 joints, not the mean of 1.0 and 0.0
    assert summary["pck_person_box"]["feet"]["pck"] is None


def test_annotation_set_is_consistent_with_its_rebuilt_images(tmp_path):
    images = load_annotations(ANNOTATIONS)
    assert sum(len(image.people) for image in images) >= 20
    composites = [image for image in images if not image.is_video_frame]
    assert len(composites) >= 2 and all(len(image.people) >= 2 for image in composites)
    for image in images:
        width, height = image.size
        for person in image.people:
            points = person.keypoints[person.visible]
            assert person.visible[:17].any(), f"{image.id} {person.name} has no body joint to match on"
            assert np.all((points >= person.box[:2] - 1) & (points <= person.box[2:] + 1)), (image.id, person.name)
            assert np.all(person.box[2:] <= (width, height))
    for image in composites:
        frame = rebuild_image(image, tmp_path)
        assert frame.shape == (image.size[1], image.size[0], 3)
        assert frame.std() > 20  # photos, not an empty canvas


def test_video_frames_rebuild_from_the_shared_video(video_path):
    frames = [image for image in load_annotations(ANNOTATIONS) if image.is_video_frame]
    assert frames
    for image in frames:
        assert rebuild_image(image, video_path.parents[1]).shape == (540, 960, 3)


def test_eval_command_with_holistic(tmp_path, video_path):
    out = tmp_path / "eval.json"
    assert main(["eval", "keypoints2d", "--annotations", str(ANNOTATIONS), "--backend", "holistic",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    images = {entry["image"]: entry for entry in report["images"]}
    assert set(images) == {image.id for image in load_annotations(ANNOTATIONS)} and not report["skipped"]
    # Holistic sees one person: one annotated person found per image, never more.
    assert all(entry["people_found"] == 1 for entry in images.values())
    assert report["overall"]["people_found"] == len(images)
    # On the astronaut + cameraman composite it finds the astronaut, whose face it places well.
    assert images["composite_astronaut_camera"]["pck_part_box"]["face"]["pck"] > 0.8


def test_eval_command_without_the_video_evaluates_the_composites(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(commands, "_SHARED_DATA", tmp_path / "no_shared_data")
    out = tmp_path / "eval.json"
    with caplog.at_level(logging.ERROR):
        code = main(["eval", "keypoints2d", "--annotations", str(ANNOTATIONS), "--json", str(out)])
    assert code == 1
    missing = str(tmp_path / "no_shared_data" / "video" / "mmpose_demo.mp4")
    assert missing in caplog.text
    report = json.loads(out.read_text())
    assert report["skipped"] and all(missing in entry["error"] for entry in report["skipped"])
    assert report["images"] and all(entry["image"].startswith("composite") for entry in report["images"])


def test_the_default_backend_finds_most_annotated_people(tmp_path, video_path):
    """movenet on the hand-annotated set: the issue's bar for a hidden set of such photos is >= 70 % of the people
    found and body PCK >= 0.9; this small set is no proof of that, but a regression below it is caught."""
    out = tmp_path / "eval.json"
    assert main(["eval", "keypoints2d", "--annotations", str(ANNOTATIONS), "--json", str(out)]) == 0
    overall = json.loads(out.read_text())["overall"]
    assert overall["found_fraction"] >= 0.9
    assert overall["pck_person_box"]["body"]["pck"] >= 0.85
    assert overall["pck_person_box"]["face"]["pck"] >= 0.7
