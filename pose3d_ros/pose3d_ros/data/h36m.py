"""Human3.6M motion: the 32-joint position file (``h36m_positions_32j_50hz.npz``) and its H36M-17 view.

File format: an ``.npz`` with one array per sequence, key ``S<subject>/<action>_<n>`` (e.g. ``S1/walking_1``),
shape (frames, 32, 3), metres, world frame with z up, 50 frames per second; joint order and semantics are those
of :data:`pose3d_ros.skeleton.H36M32`.

Mirror fix: in that file the joints labelled *left* lie on the person's *right* (the export that produced it
flipped the handedness of the frame). The loader negates x, which turns the data into a proper right-handed,
z-up world in which the labels name the person's own sides (verified by the tests from the facing direction given
by the toes and the nose). Pass ``fix_mirror=False`` for a file that is already correct.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..skeleton import H36M17_FROM_H36M32, H36M32

SOURCE_FPS = 50.0
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9",)
_KEY = re.compile(r"^(S\d+)/([^/]+)$")


def normalise_subjects(subjects) -> tuple[str, ...] | None:
    """Accept ``"S1"``, ``1``, ``"1"``, a comma-separated string, or a sequence of those; None means all."""
    if subjects is None:
        return None
    if isinstance(subjects, (str, int)):
        subjects = [s for s in str(subjects).split(",") if s.strip()]
    out = []
    for subject in subjects:
        text = str(subject).strip()
        name = text if text.upper().startswith("S") else f"S{text}"
        if not re.fullmatch(r"S\d+", name, flags=re.IGNORECASE):
            raise ValueError(f"invalid subject {subject!r}: expected a name like 'S1' or a number")
        out.append("S" + name[1:])
    if not out:
        raise ValueError("empty subject list")
    return tuple(out)


def load_h36m(path: str | Path, subjects=None, *, fix_mirror: bool = True) -> dict[str, np.ndarray]:
    """Load sequences ``"S1/walking_1" -> (T, 32, 3) float32`` (metres, z up, 50 Hz, sides fixed), sorted by key.

    ``subjects``: names such as ``("S1", "S5")`` (see :func:`normalise_subjects`); None loads every subject in the
    file. A requested subject that the file lacks, a malformed key, or an array of the wrong shape or with
    non-finite values raises ValueError naming the culprit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file {path} not found")
    wanted = normalise_subjects(subjects)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .npz file: {err}") from err
    with archive:
        keys = sorted(archive.files)
        for key in keys:
            if not _KEY.match(key):
                raise ValueError(f"{path}: malformed sequence key {key!r}; expected 'S<subject>/<action>_<n>'")
        present = sorted({_KEY.match(key).group(1) for key in keys}, key=lambda s: int(s[1:]))
        if wanted is not None:
            absent = [s for s in wanted if s not in present]
            if absent:
                raise ValueError(f"{path}: subjects {', '.join(absent)} not in the file "
                                 f"(it has {', '.join(present) or 'none'})")
        sequences = {}
        for key in keys:
            if wanted is not None and _KEY.match(key).group(1) not in wanted:
                continue
            try:
                array = archive[key]
            except ValueError as err:  # e.g. an object array, which we refuse to unpickle
                raise ValueError(f"{path}: sequence {key!r} cannot be read as a numeric array: {err}") from err
            if array.ndim != 3 or array.shape[1:] != (H36M32.num_joints, 3) or len(array) == 0:
                raise ValueError(f"{path}: sequence {key!r} has shape {array.shape}; expected (frames, 32, 3)")
            if not np.issubdtype(array.dtype, np.number):
                raise ValueError(f"{path}: sequence {key!r} has non-numeric dtype {array.dtype}")
            array = array.astype(np.float32)
            if not np.isfinite(array).all():
                raise ValueError(f"{path}: sequence {key!r} contains NaN or infinite values")
            if fix_mirror:
                array[..., 0] = -array[..., 0]
            sequences[key] = array
    if not sequences:
        raise ValueError(f"{path}: no sequences" + (f" for subjects {', '.join(wanted)}" if wanted else ""))
    return sequences


def subject_of(key: str) -> str:
    """``"S1/walking_1" -> "S1"``."""
    return key.split("/", 1)[0]


def to_h36m17(poses32: np.ndarray) -> np.ndarray:
    """The standard 17-joint view (..., 17, 3) of 32-joint poses (..., 32, 3)."""
    return poses32[..., list(H36M17_FROM_H36M32), :]
