import numpy as np
import pytest
import torch

from pose3d_ros.skeleton import H36M17, WHOLEBODY133
from pose3d_ros.temporal.model import UGCN, GraphAggregation, UGCNConfig, spatial_partitions

SMALL = (4, 6, 8, 10, 12)



def _inputs(batch, frames, joints, seed=0):
    g = torch.Generator().manual_seed(seed)
    poses = torch.randn(batch, frames, joints, 3, generator=g) * 0.3
    observed = torch.rand(batch, frames, joints, generator=g) > 0.3
    valid = observed | (torch.rand(batch, frames, joints, generator=g) > 0.5)
    return poses, observed, valid


def _randomised(layout, widths=SMALL, window=16, temporal_mix=True):
    model = UGCN(UGCNConfig(layout, widths, window=window, temporal_mix=temporal_mix))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model.eval()


@pytest.mark.parametrize("layout,joints,windows", [("h36m17", 17, (2, 5, 16, 27)), ("wholebody133", 133, (15, 16))])
def test_shapes_for_any_window_length(layout, joints, windows):
    for frames in windows:
        for model in (_randomised(layout, window=frames), _randomised(layout, temporal_mix=False)):
            out = model(*_inputs(2, frames, joints))
            assert out.shape == (2, frames, joints, 3)
            assert torch.isfinite(out).all()
    assert _randomised(layout, temporal_mix=False)(*_inputs(1, 1, joints)).shape == (1, 1, joints, 3)


def test_level_lengths_line_up_for_odd_windows():
    """Stride 2 gives ceil(T/2) frames per level; the up-sampling path returns to exactly those lengths."""
    model = _randomised("h36m17", window=27)
    lengths = []
    hooks = [block.register_forward_hook(lambda m, i, o: lengths.append(o.shape[2])) for block in model.down]
    model(*_inputs(1, 27, 17))
    for hook in hooks:
        hook.remove()
    assert lengths == [27, 14, 14, 7, 7, 4, 4, 2, 2]
    up_lengths = []
    for block in model.up:
        block.register_forward_hook(lambda m, i, o: up_lengths.append(o.shape[2]))
    model(*_inputs(1, 27, 17))
    assert up_lengths == [2, 4, 7, 14]  # up[3] at level 4 ... up[0] at level 1, each then resized to the next


def test_nine_down_blocks_with_stride_on_even_ones_and_paper_widths():
    model = UGCN(UGCNConfig("h36m17"))
    assert len(model.down) == 9 and len(model.up) == 4
    strides = [block.temporal[2].stride[0] for block in model.down]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 2, 1]
    assert [block.temporal[2].out_channels for block in model.down] == [16, 32, 32, 64, 64, 128, 128, 256, 256]
    blocks = list(model.down[1:]) + list(model.up) + list(model.fuse)  # the input block has no dropout
    assert {m.p for b in blocks for m in b.modules() if isinstance(m, torch.nn.Dropout)} == {0.05}


def test_untrained_network_is_the_identity_and_the_root_stays():
    model = UGCN(UGCNConfig("wholebody133", SMALL)).eval()
    poses, observed, valid = _inputs(2, 16, 133)
    poses -= poses[:, :, [11, 12]].mean(dim=2, keepdim=True)  # root-relative, as the refiner feeds it
    assert torch.allclose(model(poses, observed, valid), poses)
    trained = _randomised("wholebody133")
    out = trained(poses, observed, valid)
    assert not torch.allclose(out, poses)
    pelvis = lambda x: x[:, :, [11, 12]].mean(dim=2)  # noqa: E731
    assert torch.allclose(pelvis(out), pelvis(poses), atol=1e-5)


def test_batch_elements_are_independent_in_eval_mode():
    model = _randomised("h36m17")
    poses, observed, valid = _inputs(3, 16, 17)
    together = model(poses, observed, valid)
    alone = model(poses[1:2], observed[1:2], valid[1:2])
    assert torch.allclose(together[1:2], alone, atol=1e-5)


def test_graph_aggregation_matches_the_partitioned_adjacency():
    partitions = spatial_partitions(H36M17)
    assert partitions.shape == (3, 17, 17)
    assert np.allclose(partitions.sum(axis=(0, 1)), 1.0)  # every joint averages its neighbourhood
    # Partition 1 (centripetal): the knee (2) receives from the hip (1), which is closer to the pelvis.
    assert partitions[1, 1, 2] > 0 and partitions[2, 2, 1] > 0 and partitions[1, 2, 1] == 0
    x = torch.randn(2, 4, 5, 17)
    aggregated = GraphAggregation(partitions)(x).view(2, 4, 3, 5, 17)
    expected = torch.einsum("bctv,kvw->bcktw", x, torch.from_numpy(partitions))
    assert torch.allclose(aggregated, expected, atol=1e-6)
    assert spatial_partitions(WHOLEBODY133).shape == (3, 133, 133)


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="five positive"):
        UGCNConfig("h36m17", (8, 16))
    with pytest.raises(ValueError, match="odd"):
        UGCNConfig("h36m17", temporal_kernel=4)
    with pytest.raises(ValueError, match="unknown skeleton layout"):
        UGCNConfig("coco")
    model = UGCN(UGCNConfig("h36m17", SMALL))
    with pytest.raises(ValueError, match="17 joints"):
        model(*_inputs(1, 16, 133))
    with pytest.raises(ValueError, match="windows of 16 frames"):
        model(*_inputs(1, 8, 17))
    with pytest.raises(ValueError, match="window >= 2"):
        UGCNConfig("h36m17", window=1)
    assert UGCNConfig.from_dict(UGCNConfig("h36m17", SMALL).to_dict()) == UGCNConfig("h36m17", SMALL)


def test_frozen_trace_at_batch_1_matches_the_model_for_several_people():
    """The streaming refiner traces the network with one window and runs it on every person at once."""
    from pose3d_ros.inference import frozen_trace

    model = _randomised("h36m17")
    frozen = frozen_trace(model, _inputs(1, 16, 17))
    for batch in (1, 4):
        inputs = _inputs(batch, 16, 17, seed=batch)
        with torch.no_grad():
            torch.testing.assert_close(frozen(*inputs), model(*inputs), rtol=1e-4, atol=1e-5)
