"""The demo clip's people and their ground truth: what the truth says is what the image shows."""

import json
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pytest

from pose3d_ros.camera import project
from pose3d_ros.keypoints2d import Keypoints2D
from pose3d_ros.lifting import LiftResult
from pose3d_ros.pipeline.core import PipelineSettings, PosePipeline
from pose3d_ros.pipeline.demo import FPS, DemoSource, demo_intrinsics, demo_people, demo_truth, render_demo_frame
from pose3d_ros.pipeline.run import run
from pose3d_ros.pipeline.sources import open_source
from pose3d_ros.skeleton import WHOLEBODY133, PlacementSource

PEOPLE = demo_people(4)
BODY_AND_FEET = slice(0, 23)
FACE_POINTS = slice(0, 5)  # nose, eyes, ears: hidden when turned away, not only behind others


def pixel(image, uv):
    return image[int(uv[1]), int(uv[0])]


@pytest.mark.parametrize("t", [0.0, 2.5, 8.7, 10.5])
def test_a_visible_joint_shows_its_own_person_and_a_hidden_one_someone_nearer(t):
    scene = render_demo_frame(PEOPLE, t)
    background = render_demo_frame((), t)
    truth = demo_truth(PEOPLE, t)
    shown, hidden = [], []
    for p, person_id in enumerate(truth.person_ids):
        alone = render_demo_frame([PEOPLE[person_id]], t)
        inside = truth.defined[p] & np.all((truth.kp2d[p] >= 0) & (truth.kp2d[p] < [960, 540]), axis=-1)
        for j in np.flatnonzero(inside[BODY_AND_FEET]):
            if truth.visible[p, j]:
                own = np.array_equal(pixel(scene, truth.kp2d[p, j]), pixel(alone, truth.kp2d[p, j]))
                figure = not np.array_equal(pixel(scene, truth.kp2d[p, j]), pixel(background, truth.kp2d[p, j]))
                shown.append(own and figure)
            elif j >= FACE_POINTS.stop:
                hidden.append(not np.array_equal(pixel(scene, truth.kp2d[p, j]), pixel(alone, truth.kp2d[p, j])))
    assert len(shown) > 40 and np.mean(shown) > 0.95
    if t in (2.5, 8.7):  # people cross there
        assert len(hidden) > 5 and np.mean(hidden) > 0.9


def test_person_1_is_hidden_while_person_0_walks_past_in_front():
    def visible_body_joints(t):
        truth = demo_truth(PEOPLE, t)
        return {int(i): int(n) for i, n in zip(truth.person_ids, truth.visible[:, :17].sum(axis=1), strict=True)}

    before, crossing, after = visible_body_joints(1.0), visible_body_joints(2.5), visible_body_joints(4.0)
    assert before[1] == after[1] == 17  # facing the camera, nothing in front
    assert crossing[1] <= 8 and crossing[0] == before[0]  # the one in front loses nothing


def test_person_3_leaves_the_picture_and_comes_back():
    source = DemoSource()
    assert source.frame_count == 14 * FPS
    present = [3 in source.truth(index).person_ids for index in range(source.frame_count)]
    seconds = np.flatnonzero(~np.array(present)) / FPS
    assert present[0] and present[-1] and 2.0 < seconds.min() < 3.0 and 7.0 < seconds.max() < 8.0
    assert np.all(np.diff(seconds) < 0.1)  # one absence, not several
    assert all(set(source.truth(index).person_ids) <= {0, 1, 2, 3} for index in (0, 100, 209))


def test_truth_is_coco_wholebody_in_the_camera_frame():
    truth = DemoSource().truth(150)
    assert truth.index == 150 and truth.person_ids.tolist() == [0, 1, 2, 3]
    names = [name for name, defined in zip(WHOLEBODY133.names, truth.defined[0], strict=True) if defined]
    assert len(names) == 17 + 6 + 42 and not any(name.startswith("face_") for name in names)
    defined = truth.defined
    np.testing.assert_allclose(truth.kp2d[defined], project(truth.joints[defined], demo_intrinsics()), atol=1e-6)
    assert np.isnan(truth.joints[~defined]).all()
    ankles = truth.joints[:, [15, 16], 1].mean(axis=1)
    assert np.all(np.abs(ankles - 0.9) < 0.05)  # on the floor, 0.95 m under the level camera (y down)
    heights = ankles - truth.joints[:, [1, 2], 1].mean(axis=1)  # eyes above the ankles
    assert heights.max() - heights.min() > 0.15  # people of different heights
    assert 2.5 < truth.joints[:, 11, 2].min() and truth.joints[:, 11, 2].max() < 7.5


def test_single_person_demo_and_bad_arguments():
    source = DemoSource(people=1)
    assert source.frame_count == 90 and source.description == "demo (synthetic person)"
    assert all(source.truth(index).person_ids.tolist() == [0] for index in (0, 45, 89))
    assert DemoSource(seconds=0.2, people=2).frame_count == 3
    with pytest.raises(ValueError, match="1 to 4 people"):
        DemoSource(people=5)
    with pytest.raises(ValueError, match="frames 0 to 2"):
        DemoSource(seconds=0.2).truth(3)
    with pytest.raises(ValueError, match="positive length"):
        DemoSource(seconds=0)


def test_the_source_names_the_demo_and_its_people():
    assert len(open_source("demo").people) == 4
    assert len(open_source("demo:2").people) == 2
    with pytest.raises(ValueError, match="demo:N"):
        open_source("demo:two")
    with pytest.raises(ValueError, match="1 to 4 people"):
        open_source("demo:9")


# ---- the run measures itself against the truth --------------------------------------------------


@dataclass
class Oracle:
    """A 2D stage that reports exactly the truth (ids shifted by 10) of everyone with 3 visible body joints; it
    queues their 3D joints for the oracle lifter (in frame order: the run detects ahead of lifting).
    """

    source: DemoSource
    joints: deque = field(default_factory=deque)

    def __call__(self, image, timestamp_s):
        truth = self.source.truth(round(timestamp_s * FPS))
        seen = truth.visible[:, :17].sum(axis=1) >= 3
        self.joints.append(truth.joints[seen])
        return Keypoints2D(np.nan_to_num(truth.kp2d[seen]).astype(np.float32), truth.visible[seen].astype(np.float32),
                           truth.person_ids[seen] + 10, (960, 540))

    def close(self):
        pass


class OracleLifter:
    layout = WHOLEBODY133

    def __init__(self, oracle):
        self.oracle = oracle

    def lift(self, kp2d, conf, K, depth=None, image_size=None, up=None):
        positions = np.nan_to_num(self.oracle.joints.popleft()).astype(np.float32)
        return LiftResult(positions=positions, root_relative=positions, error=np.zeros(conf.shape, np.float32),
                          status=np.ones(conf.shape, np.uint8), root_translation=np.zeros((len(positions), 3)),
                          placement=np.full(len(positions), PlacementSource.LEAST_SQUARES, np.uint8))


def test_a_demo_run_reports_its_score_against_the_truth(tmp_path):
    source = DemoSource(seconds=2.0)
    oracle = Oracle(source)
    pipeline = PosePipeline(PipelineSettings.defaults().without_temporal(), detector=oracle,
                            lifter=OracleLifter(oracle))
    summary = run(source, pipeline, tmp_path, progress=False)
    score = summary.demo_truth
    assert score["frames"] == 30 and score["people"] == 4
    assert score["found"] == score["in_picture"] - sum(  # everyone but the nearly hidden
        1 for index in range(30) for visible in source.truth(index).visible if visible[:17].sum() < 3)
    assert score["missed"] == score["id_switches"] == score["id_reuses"] == score["extra"] == 0
    assert score["error_2d_px"]["body"] < 1e-3 and score["mpjpe_mm"]["raw"]["absolute"] < 0.01
    assert score["per_person"]["3"]["output_ids"] == [13]
    assert "truth    4 people" in summary.text() and "person 3" in summary.text()
    assert json.loads((tmp_path / "summary.json").read_text())["demo_truth"]["people"] == 4
