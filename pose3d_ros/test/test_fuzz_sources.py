"""Property-based fuzzing of frame sources (pipeline/sources.py open_source) on damaged files.

Random bytes named .mp4 / .avi / .mcap / .db3 / .bag, truncated and overwritten copies of a real small video written
with OpenCV here and of small rosbag2 recordings (MCAP and sqlite3), and bag folders with a random metadata.yaml:
opening raises only FileNotFoundError or ValueError, reading gives well-formed frames, reports what it lost (gaps,
ended_early) and never hangs: every open-and-read runs under a SECONDS_PER_FILE alarm. BYTES_EXAMPLES and
DAMAGE_EXAMPLES examples per test: about 4 s for the file.
"""

import shutil
import signal
from contextlib import contextmanager

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.rosbag2 import StoragePlugin
from test_pipeline_sources import write_bag

from pose3d_ros.pipeline.sources import open_source

BYTES_EXAMPLES = 60
DAMAGE_EXAMPLES = 60
SECONDS_PER_FILE = 20
FUZZ = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
SUFFIXES = [".mp4", ".avi", ".mkv", ".mcap", ".db3", ".bag"]


@contextmanager
def time_limit(seconds: int):
    """Fail, rather than hang the suite, when reading one file takes longer than ``seconds``."""
    def expired(*_):
        raise TimeoutError(f"reading took more than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_all(path):
    """Every frame of ``path``, or None when opening refuses it with one of the documented errors."""
    with time_limit(SECONDS_PER_FILE):
        try:
            source = open_source(str(path))
        except (FileNotFoundError, ValueError):
            return None
        with source:
            frames = list(source)
    indices = [frame.index for frame in frames]
    assert indices == sorted(set(indices))
    for frame in frames:
        assert frame.image.dtype == np.uint8 and frame.image.ndim == 3 and frame.image.shape[2] == 3
        assert frame.K.shape == (3, 3) and np.isfinite(frame.K).all() and frame.K[0, 0] > 0
    lost = [i for gap in source.gaps for i in range(gap.first, gap.last + 1)]
    assert not set(lost) & set(indices)  # a frame is either delivered or reported lost
    return frames


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """A small real video and two small recordings, the material the damage tests cut and overwrite."""
    folder = tmp_path_factory.mktemp("originals")
    video = folder / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    files = {".mp4": video.read_bytes()}
    for storage, suffix in ((StoragePlugin.MCAP, ".mcap"), (StoragePlugin.SQLITE3, ".db3")):
        write_bag(folder / suffix[1:], storage, ["/cam/image_raw"], frames=6)
        files[suffix] = next((folder / suffix[1:]).glob(f"*{suffix}")).read_bytes()
    return folder, files


@settings(max_examples=BYTES_EXAMPLES, **FUZZ)
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_are_refused_or_read(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    read_all(path)


@settings(max_examples=DAMAGE_EXAMPLES, **FUZZ)
@given(suffix=st.sampled_from([".mp4", ".mcap", ".db3"]), cut=st.floats(0.0, 1.0),
       damage=st.none() | st.tuples(st.floats(0.0, 1.0), st.integers(1, 2000), st.binary(min_size=1, max_size=64)))
def test_truncated_or_overwritten_files_are_refused_or_read_as_far_as_they_go(originals, tmp_path, suffix, cut,
                                                                             damage):
    data = bytearray(originals[1][suffix])
    if damage is not None:  # overwrite a stretch in the middle with noise
        start, length, noise = damage
        at = int(start * len(data))
        data[at:at + length] = (noise * (length // len(noise) + 1))[:len(data[at:at + length])]
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]))
    read_all(path)


@settings(max_examples=DAMAGE_EXAMPLES, **FUZZ)
@given(storage=st.sampled_from(["mcap", "db3"]),
       metadata=st.text(max_size=200) | st.sampled_from(["", "rosbag2_bagfile_information: 5", "[", "\x00\xff",
                                                         "rosbag2_bagfile_information: {version: 8}"]))
def test_a_bag_folder_with_a_bad_metadata_yaml_is_refused_or_read(originals, tmp_path, storage, metadata):
    folder = tmp_path / "bag"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(originals[0] / storage, folder)
    (folder / "metadata.yaml").write_text(metadata, encoding="utf-8", errors="surrogatepass")
    read_all(folder)


def test_an_untouched_copy_reads_every_frame(originals):
    folder, _ = originals
    assert len(read_all(folder / "clip.mp4")) == 12
    assert len(read_all(folder / "mcap")) == len(read_all(folder / "db3")) == 6
