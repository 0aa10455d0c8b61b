import pytest
import torch

from snnlib import probes
from snnlib.encoding import PhaseEncoder
from snnlib.models import POOLS, SpikingClassifier, build_model


def test_gradient_sparsity_table(tiny_model, images):
    x, y = images
    df = probes.gradient_sparsity(tiny_model, x, y, batch_size=2)
    assert list(df.columns) == [
        "order",
        "module",
        "op",
        "module_type",
        "zero_frac",
        "grad_l2",
        "numel",
        "n",
        "dead_frac",
    ]
    assert df[df.op == "linear"].dead_frac.isna().all() and df[df.op == "conv"].dead_frac.between(0, 1).all()
    assert set(df.op) == {"input", "conv", "BN", "IF neuron", "pooling", "residual add", "linear"}
    assert (df.n == 4).all() and df.zero_frac.between(0, 1).all() and (df.grad_l2 >= 0).all()
    assert df.module.iloc[0] == "input" and df.module.iloc[-1] == "fc"


def test_hooks_removed_even_on_error(tiny_model, images):
    x, y = images
    with pytest.raises((RuntimeError, ValueError)):
        probes.gradient_sparsity(tiny_model, x, y[:1])  # mismatched labels fail inside the backward pass
    assert all(not m._forward_hooks for m in tiny_model.modules())
    probes.gradient_sparsity(tiny_model, x, y)
    assert all(not m._forward_hooks for m in tiny_model.modules())


def test_maxpool_far_sparser_than_avgpool_on_same_weights(images):
    x, y = images
    torch.manual_seed(0)
    net = build_model("sew_resnet18", 10, width=8)
    model = SpikingClassifier(net, PhaseEncoder()).eval()
    mx = probes.gradient_sparsity(model, x, y).set_index("module")
    net.maxpool = POOLS["avg"](kernel_size=3, stride=2, padding=1, step_mode="m")
    av = probes.gradient_sparsity(model, x, y).set_index("module")
    assert mx.loc["maxpool", "zero_frac"] > 0.5
    assert av.loc["maxpool", "zero_frac"] == 0.0  # the paper: AvgPool's gradient has no zeros


def test_input_gradient_stats_and_ratio(tiny_model, images):
    x, y = images
    st = probes.input_gradient_stats(tiny_model, x, y)
    assert len(st) == 4 and (st.l1 >= st.l2).all()
    assert (st.l1 <= st.l2 * st.l0**0.5 * (1 + 1e-9)).all()  # Eq. 30
    r = probes.vulnerability_ratio(
        tiny_model, x, y, n_random=4, ascent_steps=2, generator=torch.Generator().manual_seed(0)
    )
    assert list(r.columns) == ["rho_rand", "rho_adv", "ratio", "l0", "bound_low", "bound_high", "first_order_ratio"]
    assert (r.rho_adv >= 0).all() and (r.bound_high == 3 * r.l0).all()


def test_spike_space_probe(tiny_model, images):
    x, y = images
    df = probes.gradient_sparsity(tiny_model, x, y, space="spike", bn="train")
    assert df.module_type.iloc[0] == "spikes" and df.numel.iloc[0] == 10 * 3 * 32 * 32


def test_collapsed_bn_scales_find_dead_channels():
    import torch

    from snnlib.probes import collapsed_bn_scales

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.BatchNorm2d(2, affine=False))
    with torch.no_grad():
        net[1].weight[:3] = 1e-41
    df = collapsed_bn_scales(net)
    assert df.to_dict("records") == [{"module": "1", "channels": 4, "collapsed": 3, "frac": 0.75}]
    y = torch.randn(2, 4, 3, 3, requires_grad=True)
    (net[1].eval()(y) * 1e-5).sum().backward()  # a dead channel's input gradient underflows to exactly zero
    assert (y.grad[:, :3] == 0).all() and (y.grad[:, 3] != 0).all()


def test_dead_channels_are_counted_per_channel(images):
    """A channel whose BN scale is zero gets no gradient on any image: the probe reports it as a dead channel,
    and its share of the zeros, apart from the zeros that spikes or pooling leave."""
    x, y = images
    torch.manual_seed(0)
    net = build_model("sew_resnet18", 10, width=8)
    with torch.no_grad():
        net.layer2[0].bn1.weight[:4] = 0.0  # 4 of its 16 channels
    df = probes.gradient_sparsity(SpikingClassifier(net, PhaseEncoder()).eval(), x, y).set_index("module")
    assert df.loc["layer2.0.bn1", "dead_frac"] == 0.25 and df.loc["layer2.0.bn1", "zero_frac"] >= 0.25
    assert df.loc["layer2.1.bn1", "dead_frac"] == 0.0
