"""Hand-annotated images of several people: reading the JSON and rebuilding each image from its source.

No image is stored with the annotations: a video frame is read from the shared development data (the video is not
redistributed), a composite is rebuilt from photos that come with installed packages (scikit-image, matplotlib).
The file format is described in pose3d_ros/test/data/multiperson_annotations.json's "description".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.keypoints2d.evaluation import AnnotatedPerson
from pose3d_ros.skeleton import WHOLEBODY133

COMPOSITE_BACKGROUND = 114
"""Grey of a composite's canvas where no photo lies (BGR, all three channels)."""


@dataclass(frozen=True)
class AnnotatedImage:
    id: str
    size: tuple[int, int]
    """(width, height)."""
    source: dict
    """{"video": path relative to the shared data folder, "frame": index} or {"composite": [placements]}."""
    people: list[AnnotatedPerson]

    @property
    def is_video_frame(self) -> bool:
        return "video" in self.source


def load_annotations(path: Path) -> list[AnnotatedImage]:
    """The images of an annotation file; ValueError naming the image and person where the file is malformed."""
    document = json.loads(Path(path).read_text())
    if document.get("layout") != WHOLEBODY133.name:
        raise ValueError(f"{path}: layout {document.get('layout')!r}, expected {WHOLEBODY133.name!r}")
    images = []
    for image in document["images"]:
        people = []
        for person in image["people"]:
            keypoints = np.asarray(person["keypoints"], float)
            if keypoints.shape != (WHOLEBODY133.num_joints, 3):
                raise ValueError(f"{path}: {image['id']} person {person.get('name')!r} has keypoints of shape "
                                 f"{keypoints.shape}, expected ({WHOLEBODY133.num_joints}, 3)")
            part_boxes = {part: np.asarray(person[f"{part}_box"], float)
                          for part in ("face", "left_hand", "right_hand") if f"{part}_box" in person}
            people.append(AnnotatedPerson(keypoints[:, :2], keypoints[:, 2] > 0, np.asarray(person["box"], float),
                                          part_boxes, person.get("name", "")))
        images.append(AnnotatedImage(image["id"], (image["width"], image["height"]), image["source"], people))
    return images


def _photo(name: str) -> np.ndarray:
    """A BGR photo of a person that ships with an installed package."""
    import cv2

    if name == "skimage.data.astronaut":
        from skimage import data

        return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    if name == "skimage.data.camera":
        from skimage import data

        return cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    if name == "matplotlib.sample_data.grace_hopper":
        from matplotlib import cbook

        return cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    raise ValueError(f"unknown photo {name!r}")


def build_composite(placements: list[dict], size: tuple[int, int]) -> np.ndarray:
    """A grey canvas with each photo resized by its ``scale`` (INTER_AREA) and its top-left corner at ``offset``."""
    import cv2

    width, height = size
    canvas = np.full((height, width, 3), COMPOSITE_BACKGROUND, np.uint8)
    for placement in placements:
        photo = _photo(placement["photo"])
        scale = placement["scale"]
        resized = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        x, y = placement["offset"]
        if x < 0 or y < 0 or x + resized.shape[1] > width or y + resized.shape[0] > height:
            raise ValueError(f"{placement['photo']} at {placement['offset']} x {scale} does not fit on {size}")
        canvas[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return canvas


def read_video_frame(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` (from 0) of ``video``, BGR; FileNotFoundError naming the video when it is absent.

    Frames are read in order rather than sought: seeking in compressed video may land on a neighbouring frame.
    """
    import cv2

    if not video.is_file():
        raise FileNotFoundError(f"video {video} not found")
    capture = cv2.VideoCapture(str(video))
    try:
        for _ in range(index + 1):
            ok, frame = capture.read()
            if not ok:
                break
    finally:
        capture.release()
    if not ok:
        raise ValueError(f"cannot read frame {index} of {video}")
    return frame


def rebuild_image(image: AnnotatedImage, shared_data: Path) -> np.ndarray:
    """The BGR image the annotations were made on."""
    if image.is_video_frame:
        frame = read_video_frame(shared_data / image.source["video"], image.source["frame"])
    else:
        frame = build_composite(image.source["composite"], image.size)
    if (frame.shape[1], frame.shape[0]) != image.size:
        raise ValueError(f"{image.id}: rebuilt image is {frame.shape[1]}x{frame.shape[0]}, annotated on "
                         f"{image.size[0]}x{image.size[1]}")
    return frame
