"""The pipeline measured against a synthetic clip's ground truth (the demo's :class:`~.sources.FrameTruth`).

Each frame, output people are matched to true people by the Hungarian method on the mean 2D distance of the
true person's visible body joints that the output reports, gated by the person's size in the image. Over the
clip this gives how many people are found and missed, how often identities switch, the 2D error per part on
visible joints and the 3D error (MPJPE) of every 3D stage on the body joints the figures define.

* A **miss** is a person with at least :data:`MIN_VISIBLE_BODY_JOINTS` visible body joints that no output matched;
  people barely in view, or not in the picture at all, are never misses.
* An **id switch** is a true person matched to a different output id than at their previous matched frame (frames
  where they were missed in between do not count); an **id reuse** is an output id matched to a different true
  person than at its previous match. Swapping the ids of two people therefore gives two switches and two reuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from pose3d_ros.keypoints2d.evaluation import PARTS as PARTS_2D
from pose3d_ros.metrics import PELVIS
from pose3d_ros.skeleton import WHOLEBODY133

from .sources import FrameTruth

BODY = PARTS_2D["body"]
"""The COCO body joints, which the matching compares."""
BODY_3D = WHOLEBODY133.parts["body"]
"""The 3D error is over the body and feet (the figures have no face landmarks, and hands are a separate matter)."""
MIN_VISIBLE_BODY_JOINTS = 5
"""Fewer visible body joints than this and a person is not expected to be found (only an arm or a foot in view)."""
MIN_COMMON_JOINTS = 3
"""A match needs this many body joints that are visible in the truth and reported by the output."""
GATE_FRACTION = 0.25
"""A match's mean 2D distance must be under this fraction of the true person's height in the image."""


@dataclass(frozen=True)
class FrameOutput:
    """What the pipeline gave for one frame, as the measures read it."""

    person_ids: np.ndarray
    """(Q,) ids of the 2D stage's people."""
    kp2d: np.ndarray
    """(Q, J, 2) pixels; joints with ``conf`` 0 are not reported."""
    conf: np.ndarray
    """(Q, J)."""
    skeletons: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """3D stage name ("raw", "refined") -> (ids (R,), positions (R, J, 3) metres in the camera frame); a 3D
    skeleton belongs to the 2D person with the same id."""

    def __post_init__(self) -> None:
        people = len(self.person_ids)
        if self.kp2d.shape[:1] != (people,) or self.kp2d.shape[-1:] != (2,) or self.conf.shape != self.kp2d.shape[:2]:
            raise ValueError(f"inconsistent output: {people} person ids, kp2d {self.kp2d.shape}, "
                             f"conf {self.conf.shape}")
        for stage, (ids, positions) in self.skeletons.items():
            if positions.shape != (len(ids), self.kp2d.shape[1], 3):
                raise ValueError(f"{stage} skeletons: {len(ids)} ids but positions {positions.shape}")


def match_people(truth: FrameTruth, output: FrameOutput) -> list[tuple[int, int]]:
    """(true row, output row) pairs of one frame: the assignment of least total 2D distance within the gates."""
    if not len(truth.person_ids) or not len(output.person_ids):
        return []
    common = truth.visible[:, None, BODY] & (output.conf[None, :, BODY] > 0)
    distance = np.linalg.norm(np.nan_to_num(truth.kp2d[:, None, BODY]) - output.kp2d[None, :, BODY], axis=-1)
    counts = common.sum(axis=-1)
    cost = np.where(common, distance, 0.0).sum(axis=-1) / np.maximum(counts, 1)
    defined, rows = truth.defined[:, BODY], truth.kp2d[:, BODY, 1]
    height = np.where(defined, rows, -np.inf).max(axis=1) - np.where(defined, rows, np.inf).min(axis=1)
    height = np.where(defined.any(axis=1), height, 0.0)
    allowed = (counts >= MIN_COMMON_JOINTS) & (cost <= GATE_FRACTION * height[:, None])
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e9))
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


class _Tally:
    """Sums for one group of person-frames (one person, or everyone)."""

    def __init__(self) -> None:
        self.in_picture = self.visible = self.found = self.missed = self.switches = 0
        self.output_ids: set[int] = set()
        self.error_2d = {part: [0.0, 0, 0] for part in PARTS_2D}  # sum of px, reported joints, visible joints
        self.error_3d: dict[str, dict[str, list]] = {}  # stage -> alignment -> [sum of m, joints]

    def add_2d(self, truth: FrameTruth, p: int, output: FrameOutput, q: int) -> None:
        visible = truth.visible[p]
        reported = visible & (output.conf[q] > 0)
        error = np.linalg.norm(output.kp2d[q] - np.nan_to_num(truth.kp2d[p]), axis=-1)
        for part, joints in PARTS_2D.items():
            totals = self.error_2d[part]
            totals[0] += float(error[joints][reported[joints]].sum())
            totals[1] += int(reported[joints].sum())
            totals[2] += int(visible[joints].sum())

    def add_3d(self, stage: str, predicted: np.ndarray, true: np.ndarray, defined: np.ndarray) -> None:
        totals = self.error_3d.setdefault(stage, {"root_aligned": [0.0, 0], "absolute": [0.0, 0]})
        usable = defined & np.isfinite(predicted).all(axis=-1)
        totals["absolute"][0] += float(np.linalg.norm(predicted - true, axis=-1)[usable].sum())
        totals["absolute"][1] += int(usable.sum())
        hips = list(PELVIS)
        if usable[hips].all():
            aligned = (predicted - predicted[hips].mean(axis=0)) - (true - true[hips].mean(axis=0))
            totals["root_aligned"][0] += float(np.linalg.norm(aligned, axis=-1)[usable].sum())
            totals["root_aligned"][1] += int(usable.sum())

    def report(self) -> dict:
        error_2d, reported_2d = {}, {}
        for part, (total, reported, visible) in self.error_2d.items():
            if visible:
                error_2d[part] = total / reported if reported else None
                reported_2d[part] = reported / visible
        mpjpe = {stage: {name: 1000 * total / count if count else None for name, (total, count) in alignments.items()}
                 for stage, alignments in self.error_3d.items()}
        return {"in_picture": self.in_picture, "visible": self.visible, "found": self.found, "missed": self.missed,
                "output_ids": sorted(self.output_ids), "id_switches": self.switches, "error_2d_px": error_2d,
                "reported_2d": reported_2d, "mpjpe_mm": mpjpe}


def score_against_truth(truths: Sequence[FrameTruth], outputs: Sequence[FrameOutput]) -> dict:
    """People found and missed, id switches, 2D and 3D errors of the outputs, overall and per true person.

    ``truths`` and ``outputs`` are the same frames in order. Returns a JSON-ready dict: counts of person-frames
    (``in_picture``, ``visible``, ``found``, ``missed``), their means per frame, the frames with a miss, output
    people matched to nobody (``extra``), ``id_switches``, ``id_reuses`` and switches per 100 found
    person-frames, the mean 2D error in pixels per part and the share of visible joints the 2D stage reported,
    and MPJPE in millimetres per 3D stage (``root_aligned`` at the pelvis, and ``absolute`` in the camera frame);
    ``per_person`` has the same per true id.
    """
    if len(truths) != len(outputs):
        raise ValueError(f"{len(truths)} frames of truth but {len(outputs)} frames of output")
    overall, people = _Tally(), {}
    last_output_of, last_person_of = {}, {}
    missed_frames, extra, reuses = [], 0, 0
    for truth, output in zip(truths, outputs, strict=True):
        if truth.joints.shape[1] != output.kp2d.shape[1]:
            raise ValueError(f"frame {truth.index}: the truth has {truth.joints.shape[1]} joints, the output "
                             f"{output.kp2d.shape[1]}")
        pairs = match_people(truth, output)
        matched = dict(pairs)
        extra += len(output.person_ids) - len(pairs)
        rows_3d = {stage: {int(i): r for r, i in enumerate(ids)} for stage, (ids, _) in output.skeletons.items()}
        frame_missed = False
        for p, person_id in enumerate(truth.person_ids.tolist()):
            tally = people.setdefault(person_id, _Tally())
            visible = truth.visible[p, BODY].sum() >= MIN_VISIBLE_BODY_JOINTS
            for group in (overall, tally):
                group.in_picture += 1
                group.visible += int(visible)
            if p not in matched:
                if visible:
                    frame_missed = True
                    overall.missed += 1
                    tally.missed += 1
                continue
            q = matched[p]
            output_id = int(output.person_ids[q])
            if last_output_of.get(person_id, output_id) != output_id:
                overall.switches += 1
                tally.switches += 1
            if last_person_of.get(output_id, person_id) != person_id:
                reuses += 1
            last_output_of[person_id], last_person_of[output_id] = output_id, person_id
            for group in (overall, tally):
                group.found += 1
                group.output_ids.add(output_id)
                group.add_2d(truth, p, output, q)
                for stage, (_, positions) in output.skeletons.items():
                    row = rows_3d[stage].get(output_id)
                    if row is not None:
                        group.add_3d(stage, positions[row, BODY_3D], truth.joints[p, BODY_3D],
                                     truth.defined[p, BODY_3D])
        if frame_missed:
            missed_frames.append(truth.index)
    frames = len(truths)
    report = overall.report()
    del report["output_ids"]
    report.update(
        frames=frames, people=len(people),
        people_per_frame={name: report[name] / frames if frames else None for name in ("in_picture", "visible",
                                                                                        "found")},
        frames_with_a_miss=len(missed_frames), missed_frames=missed_frames, extra=extra, id_reuses=reuses,
        id_switches_per_100=100 * overall.switches / overall.found if overall.found else None,
        per_person={str(person_id): tally.report() for person_id, tally in sorted(people.items())},
    )
    return report


def score_lines(score: dict) -> list[str]:
    """The score of :func:`score_against_truth` as lines for the run's printed summary."""

    def number(value, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def errors(report: dict) -> str:
        parts = [f"{part} {number(value, 1)}" for part, value in report["error_2d_px"].items()]
        stages = [f"{stage} {number(mpjpe['root_aligned'])}/{number(mpjpe['absolute'])}"
                  for stage, mpjpe in report["mpjpe_mm"].items()]
        return f"2D px {', '.join(parts) or '-'} | 3D mm (root-aligned/absolute) {', '.join(stages) or '-'}"

    per_frame = score["people_per_frame"]
    lines = [
        f"  truth    {score['people']} {'person' if score['people'] == 1 else 'people'}; per frame "
        f"{number(per_frame['in_picture'], 2)} in the picture, "
        f"{number(per_frame['visible'], 2)} visible, {number(per_frame['found'], 2)} found",
        f"           {score['missed']} visible person-frames missed (in {score['frames_with_a_miss']} frames), "
        f"{score['extra']} extra detections",
        f"           id switches {score['id_switches']} ({number(score['id_switches_per_100'], 2)} per 100 found "
        f"person-frames), id reuses {score['id_reuses']}",
        f"           {errors(score)}",
    ]
    for person_id, person in score["per_person"].items():
        lines += [f"  person {person_id:<2}found in {person['found']} of {person['in_picture']} frames in the picture "
                  f"({person['missed']} missed while visible), output ids {person['output_ids']}, "
                  f"{person['id_switches']} switches",
                  f"           {errors(person)}"]
    return lines
