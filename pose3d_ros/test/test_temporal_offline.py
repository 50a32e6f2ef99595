import numpy as np
import pytest
import torch
from test_temporal_training import synthetic_sequences

from pose3d_ros.skeleton import H36M17, JointStatus
from pose3d_ros.temporal.dataset import offline_training_batch
from pose3d_ros.temporal.model import UGCN, UGCNConfig
from pose3d_ros.temporal.offline import OfflineRefiner, bridged, prefill
from pose3d_ros.temporal.streaming import StreamingRefiner
from pose3d_ros.temporal.training import TrainConfig, least_squares_mix, train

FPS = 25.0
J = 17
CENTRED = UGCNConfig("h36m17", (4, 6, 8, 10, 12), window=16, fps=FPS, centred=True)
BODY = np.random.default_rng(0).normal(0.0, 0.3, (J, 3)).astype(np.float32)
BODY -= BODY[0]


def random_model(config: UGCNConfig = CENTRED) -> UGCN:
    torch.manual_seed(0)
    model = UGCN(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model.eval()


def track(frames: int, fps: float = FPS, seed: int = 1):
    """A person walking and waving: stamps, positions, confidence and status (all OBSERVED)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    wave = 0.1 * np.sin(2 * np.pi * 0.7 * t[:, None, None] + rng.uniform(0, 6, (1, J, 3)))
    positions = BODY + wave + np.array([0.0, 0.0, 3.0]) + t[:, None, None] * np.array([0.4, 0.0, 0.1])
    positions += rng.normal(0.0, 0.01, positions.shape)
    status = np.full((frames, J), JointStatus.OBSERVED, np.uint8)
    return t, positions.astype(np.float32), np.full((frames, J), 0.9, np.float32), status


def as_array(poses, frames: int) -> np.ndarray:
    out = np.full((frames, J, 3), np.nan, np.float32)
    for pose in poses:
        out[int(round(pose.stamp * FPS))] = pose.positions
    return out


def test_centred_windows_use_the_future():
    refiner = OfflineRefiner(random_model(), device="cpu")
    stamps, positions, confidence, status = track(80)
    before = as_array(refiner.refine(stamps, positions, confidence, status), 80)
    stepped = positions.copy()
    stepped[50:] += np.array([0.0, 0.0, 0.2], np.float32) + 0.05 * BODY  # the body changes shape at frame 50
    after = as_array(refiner.refine(stamps, stepped, confidence, status), 80)
    np.testing.assert_allclose(before[:30], after[:30], atol=1e-6)  # beyond a window's reach: untouched
    assert np.abs(before[45:50] - after[45:50]).max() > 1e-3  # frames before the step see it


def test_the_flip_test_refines_a_mirrored_recording_into_the_mirrored_result():
    stamps, positions, confidence, status = track(60)
    mirrored = H36M17.flip_points(positions, axis=0)  # x negated, left and right joints exchanged
    model = random_model()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4.0)  # a network that changes its input a lot, and not symmetrically
    plain = OfflineRefiner(model, device="cpu", flip_test=False)
    flipped = OfflineRefiner(model, device="cpu")
    assert flipped.flip_test
    with_flip = as_array(flipped.refine(stamps, positions, confidence, status), 60)
    of_mirror = as_array(flipped.refine(stamps, mirrored, confidence, status), 60)
    np.testing.assert_allclose(H36M17.flip_points(of_mirror, axis=0), with_flip, atol=1e-5)
    without = as_array(plain.refine(stamps, positions, confidence, status), 60)
    of_mirror_without = as_array(plain.refine(stamps, mirrored, confidence, status), 60)
    assert np.abs(H36M17.flip_points(of_mirror_without, axis=0) - without).max() > 1e-3  # the network alone is not
    mean = 0.5 * (without + H36M17.flip_points(of_mirror_without, axis=0))
    np.testing.assert_allclose(with_flip[5:-5], mean[5:-5], atol=1e-4)  # away from the ends' root fit, the average


def test_a_long_gap_is_filled_from_both_sides_and_marked_filled():
    refiner = OfflineRefiner(UGCN(CENTRED).eval(), device="cpu", max_gap_s=2.0)  # untrained: the pre-fill itself
    stamps, positions, confidence, status = track(120)
    status[30:70, 5] = JointStatus.MISSING  # 1.6 s: longer than the window (0.64 s)
    positions[30:70, 5] = np.nan
    outputs = refiner.refine(stamps, positions, confidence, status)
    statuses = np.array([pose.status for pose in outputs])
    assert (statuses[30:70, 5] == JointStatus.FILLED).all()
    assert (np.delete(statuses, 5, axis=1) == JointStatus.REFINED).all()
    assert (statuses[[29, 70], 5] == JointStatus.REFINED).all()
    refined = np.array([pose.positions for pose in outputs])
    # the fill runs (relative to the root, which is observed) from one observed end to the other
    relative = positions[:, 5] - positions[:, 0]
    line = relative[29] + np.arange(1, 41)[:, None] / 41 * (relative[70] - relative[29])
    assert np.linalg.norm(refined[30:70, 5] - refined[30:70, 0] - line, axis=-1).max() < 1e-4
    confidence_out = np.array([pose.confidence for pose in outputs])
    assert (confidence_out[30:70, 5] > 0).all() and (confidence_out[30:70, 5] < 0.9).all()


def test_gaps_longer_than_max_gap_and_track_ends_are_missing():
    refiner = OfflineRefiner(random_model(), device="cpu", max_gap_s=0.5)
    stamps, positions, confidence, status = track(100)
    status[20:60, 3] = JointStatus.MISSING  # 1.6 s > 0.5 s
    status[90:, 4] = JointStatus.MISSING  # never seen again: nothing to fill towards
    outputs = refiner.refine(stamps, positions, confidence, status)
    statuses = np.array([pose.status for pose in outputs])
    assert (statuses[20:60, 3] == JointStatus.MISSING).all() and (statuses[90:, 4] == JointStatus.MISSING).all()
    assert np.array([pose.confidence for pose in outputs])[20:60, 3].max() == 0.0
    assert refiner.events["gave_up"] == 2


def test_chunked_streaming_equals_one_pass_and_holds_a_bounded_buffer():
    frames = 1500
    stamps, positions, confidence, status = track(frames)
    rng = np.random.default_rng(3)
    for start in rng.integers(0, frames - 30, 20):  # short occlusions and absences (<= max_gap_s)
        status[start:start + rng.integers(2, 25), rng.integers(0, J)] = JointStatus.MISSING
    people = np.ones((frames, 2), bool)
    people[400:420, 1] = False  # the second person leaves for 0.8 s
    people[900:, 1] = False  # and then for good
    one_pass = OfflineRefiner(random_model(), device="cpu", chunk_frames=10 * frames)
    chunked = OfflineRefiner(random_model(), device="cpu", chunk_frames=64)
    results = {}
    for name, refiner in (("one", one_pass), ("chunked", chunked)):
        outputs, held = [], 0
        for t in range(frames):
            ids = np.flatnonzero(people[t])
            outputs += refiner.push_frame(stamps[t], ids.tolist(), np.stack([positions[t] + i for i in ids]),
                                          np.stack([confidence[t]] * len(ids)), np.stack([status[t]] * len(ids)))
            held = max(held, len(refiner._held))
        outputs += refiner.flush()
        results[name] = ({(pose.person_id, round(pose.stamp * FPS)): pose for pose in outputs}, held)
    (one, _), (chunks, held) = results["one"], results["chunked"]
    assert one.keys() == chunks.keys()
    assert len(one) == frames + 900
    for key, pose in one.items():
        np.testing.assert_allclose(chunks[key].positions, pose.positions, atol=1e-5)
        np.testing.assert_array_equal(chunks[key].status, pose.status)
    context_frames = int(np.ceil(chunked.context_s * FPS)) + 1
    assert held <= 64 + 2 * context_frames + 2  # the chunk and its context, not the recording


def test_bad_input_gives_a_defined_result_or_a_clear_error():
    refiner = OfflineRefiner(random_model(), device="cpu")
    stamps, positions, confidence, status = track(3)
    # one frame: one refined pose
    single = refiner.refine(stamps[:1], positions[:1], confidence[:1], status[:1])
    assert len(single) == 1 and (single[0].status == JointStatus.REFINED).all()
    assert np.isfinite(single[0].positions).all()
    # stamps that repeat or go backwards: refused, the refiner unchanged
    refiner.push_frame(1.0, [0], positions[:1], confidence[:1], status[:1])
    for stamp in (1.0, 0.5):
        with pytest.raises(ValueError, match="stamps must increase"):
            refiner.push_frame(stamp, [0], positions[:1], confidence[:1], status[:1])
    assert refiner.pending_frames == 1 and refiner.events["bad_input"] == 2
    # a person present in one frame only, among others
    refiner.push_frame(1.04, [0, 7], np.stack([positions[1]] * 2), np.stack([confidence[1]] * 2),
                       np.stack([status[1]] * 2))
    refiner.push_frame(1.08, [0], positions[2:3], confidence[2:3], status[2:3])
    outputs = refiner.flush()
    assert [(p.person_id, round(p.stamp, 2)) for p in outputs if p.person_id == 7] == [(7, 1.04)]
    # a 133-joint refiner given 17-joint skeletons
    wholebody = OfflineRefiner(random_model(UGCNConfig(widths=(4, 6, 8, 10, 12), window=16, centred=True)),
                               device="cpu")
    with pytest.raises(ValueError, match="133-joint skeletons .* got positions \\(1, 17, 3\\)"):
        wholebody.push_frame(0.0, [0], positions[:1], confidence[:1], status[:1])


def test_streaming_and_offline_weights_are_not_mixed_up():
    with pytest.raises(ValueError, match="trained for streaming"):
        OfflineRefiner(random_model(UGCNConfig("h36m17", (4, 6, 8, 10, 12), window=16, fps=FPS)), device="cpu")
    with pytest.raises(ValueError, match="trained for offline"):
        StreamingRefiner(random_model(), device="cpu")


def test_prefill_interpolates_short_gaps_and_holds_across_long_ones():
    stamps = np.arange(10) / 10.0
    values = np.arange(10, dtype=np.float64)[:, None] * np.ones((1, 2))
    valid = np.ones((10, 2), bool)
    valid[2:4, 0] = False  # 0.3 s between its ends
    valid[2:9, 1] = False  # 0.8 s
    filled = prefill(stamps, values[:, :, None], valid, max_gap_s=0.5)[..., 0]
    np.testing.assert_allclose(filled[2:4, 0], [2.0, 3.0])
    np.testing.assert_allclose(filled[2:9, 1], [1, 1, 1, 1, 9, 9, 9])  # the nearer end
    np.testing.assert_array_equal(bridged(stamps, valid, 0.5)[:, 1], np.zeros(10, bool))
    assert bridged(stamps, valid, 0.5)[2:4, 0].all()


def test_offline_training_lowers_the_loss_and_starts_from_streaming_weights(tmp_path):
    sequences = synthetic_sequences()
    batch = offline_training_batch(sequences, 16, 4, np.random.default_rng(0), max_gap_s=1.0)
    assert batch["poses"].shape == (4, 16, 17, 3) and not np.isnan(batch["poses"]).any()
    streaming = random_model(UGCNConfig("h36m17", (4, 6, 8, 10, 12), window=8, fps=FPS))
    config = TrainConfig(steps=30, batch=8, lr=2e-2, eval_every=15, offline=True)
    model, history = train(sequences.subset(np.arange(20)), sequences.subset(np.arange(20, 24)), CENTRED, config,
                           tmp_path, init=streaming, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["model_all"] < history[-1]["input_all"]
    assert model.config.centred
    OfflineRefiner(model, device="cpu")  # what it trained is what the offline refiner loads


def test_least_squares_mix_is_the_best_linear_filter():
    rng = np.random.default_rng(0)
    truth = np.cumsum(rng.normal(0.0, 0.01, (400, 16, 5, 3)), axis=1)  # smooth random walks over the window
    noisy = truth + rng.normal(0.0, 0.01, truth.shape)
    exact = least_squares_mix({"poses": torch.from_numpy(truth), "target": torch.from_numpy(truth)}, ridge=0.0)
    np.testing.assert_allclose(exact.numpy(), np.eye(16), atol=1e-4)  # clean input: keep it
    smoothing = least_squares_mix({"poses": torch.from_numpy(noisy), "target": torch.from_numpy(truth)}).numpy()
    filtered = np.einsum("ts,bsjc->btjc", smoothing, noisy)
    assert np.abs(filtered - truth).mean() < 0.8 * np.abs(noisy - truth).mean()
