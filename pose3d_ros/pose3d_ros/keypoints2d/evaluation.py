"""How well the 2D stage finds annotated people and places their keypoints (pure numpy/scipy).

Definitions (docs/keypoints2d.md, "Evaluation on annotated photos"):

* **Matching.** Per image, each annotated person is paired with at most one detection by a minimum-cost assignment
  (``scipy.optimize.linear_sum_assignment``) on the mean distance between the person's annotated body joints
  (0-16) and the detection's joints at those indices, over the joints the detection has (confidence > 0). A pair
  whose mean distance exceeds ``gate`` x the larger side of the annotated person's box is rejected, so a detection
  of someone else is not credited. Detections of people nobody annotated are ignored.
* **People found** = matched annotated people / annotated people.
* **PCK@0.2** per part (body 0-16, feet 17-22, face 23-90, hands 91-132): the fraction of annotated visible joints
  whose matched detection has the joint (confidence > 0) within 0.2 x the larger side of the annotated person's box.
  Joints of people who were not found, and joints the detection lacks, count as wrong.
* **Part-box PCK** (face, hands): the same with the threshold 0.2 x the larger side of the part's own annotated box
  (``face_box``, ``left_hand_box``, ``right_hand_box``), because the person-box threshold is lenient for small parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

PARTS = {"body": slice(0, 17), "feet": slice(17, 23), "face": slice(23, 91), "hands": slice(91, 133)}
"""COCO-WholeBody's 2D parts as the 2D measures report them (the demo's scoring too)."""
PART_BOX_JOINTS = {"face": slice(23, 91), "left_hand": slice(91, 112), "right_hand": slice(112, 133)}
"""Joints measured against each part box; both hand boxes report under "hands"."""
PCK_FRACTION = 0.2
MATCH_GATE = 0.5


@dataclass(frozen=True)
class AnnotatedPerson:
    """One hand-annotated person: 133 keypoints, which of them are annotated, and boxes [x0, y0, x1, y1]."""

    keypoints: np.ndarray
    """(133, 2) pixels; only rows where ``visible`` is True mean anything."""
    visible: np.ndarray
    """(133,) bool."""
    box: np.ndarray
    part_boxes: dict[str, np.ndarray] = field(default_factory=dict)
    """Optional "face", "left_hand", "right_hand" boxes; required where that part has annotated joints."""
    name: str = ""

    def __post_init__(self) -> None:
        for part, joints in PART_BOX_JOINTS.items():
            if self.visible[joints].any() and part not in self.part_boxes:
                raise ValueError(f"person {self.name!r} has annotated {part} joints but no {part}_box")

    @property
    def size(self) -> float:
        return box_size(self.box)


def box_size(box: np.ndarray) -> float:
    """The larger side of a box [x0, y0, x1, y1]: the length every threshold here is a fraction of."""
    return float(max(box[2] - box[0], box[3] - box[1]))


@dataclass
class Counts:
    """Counts that add up over people and images; fractions are taken only at the end (micro-average)."""

    annotated: int = 0
    found: int = 0
    correct: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    part_box_correct: dict[str, int] = field(default_factory=lambda: {"face": 0, "hands": 0})
    part_box_total: dict[str, int] = field(default_factory=lambda: {"face": 0, "hands": 0})

    def __add__(self, other: Counts) -> Counts:
        def add(a: dict, b: dict) -> dict:
            return {key: a[key] + b[key] for key in a}

        return Counts(self.annotated + other.annotated, self.found + other.found, add(self.correct, other.correct),
                      add(self.total, other.total), add(self.part_box_correct, other.part_box_correct),
                      add(self.part_box_total, other.part_box_total))

    def to_dict(self) -> dict:
        """JSON-ready: people found / annotated and, per part, PCK with its joint counts (PCK null without joints)."""

        def pck(correct: dict, total: dict) -> dict:
            return {part: {"pck": correct[part] / total[part] if total[part] else None, "correct": correct[part],
                           "joints": total[part]} for part in total}

        return {
            "people_annotated": self.annotated, "people_found": self.found,
            "found_fraction": self.found / self.annotated if self.annotated else None,
            "pck_person_box": pck(self.correct, self.total),
            "pck_part_box": pck(self.part_box_correct, self.part_box_total),
        }


def match_people(people: list[AnnotatedPerson], kp2d: np.ndarray, conf: np.ndarray,
                 gate: float = MATCH_GATE) -> dict[int, int]:
    """{annotated person index: detection index}, by minimum total mean body-joint distance, gated per person."""
    if not people or len(kp2d) == 0:
        return {}
    cost = np.full((len(people), len(kp2d)), np.inf)
    for i, person in enumerate(people):
        body = np.flatnonzero(person.visible[PARTS["body"]])
        for j in range(len(kp2d)):
            shared = body[conf[j, body] > 0]
            if len(shared):
                mean_distance = np.linalg.norm(kp2d[j, shared] - person.keypoints[shared], axis=1).mean()
                if mean_distance <= gate * person.size:
                    cost[i, j] = mean_distance / person.size
    finite = np.isfinite(cost)
    # linear_sum_assignment needs a feasible matrix: stand in for the gated-out pairs with a cost no real pair has.
    rows, cols = linear_sum_assignment(np.where(finite, cost, cost[finite].max(initial=0) * 2 + 1))
    return {int(i): int(j) for i, j in zip(rows, cols, strict=True) if finite[i, j]}


def score_image(people: list[AnnotatedPerson], kp2d: np.ndarray, conf: np.ndarray,
                gate: float = MATCH_GATE) -> Counts:
    """Counts of one image: ``kp2d`` (P, 133, 2) and ``conf`` (P, 133) are the detector's people (P may be 0)."""
    counts = Counts(annotated=len(people))
    matches = match_people(people, kp2d, conf, gate)
    counts.found = len(matches)
    for i, person in enumerate(people):
        if i in matches:
            j = matches[i]
            error = np.linalg.norm(kp2d[j] - person.keypoints, axis=1)
            detected = conf[j] > 0
        else:
            error, detected = np.full(len(person.visible), np.inf), np.zeros(len(person.visible), bool)
        hit = detected & (error <= PCK_FRACTION * person.size)
        for part, joints in PARTS.items():
            counts.total[part] += int(person.visible[joints].sum())
            counts.correct[part] += int((hit & person.visible)[joints].sum())
        for part, joints in PART_BOX_JOINTS.items():
            if part not in person.part_boxes:
                continue
            reported = "face" if part == "face" else "hands"
            part_hit = detected & (error <= PCK_FRACTION * box_size(person.part_boxes[part]))
            counts.part_box_total[reported] += int(person.visible[joints].sum())
            counts.part_box_correct[reported] += int((part_hit & person.visible)[joints].sum())
    return counts
