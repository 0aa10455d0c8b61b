"""snnlib.kernels: the fused IF neuron and the GEMM convolution gradients give SpikingJelly's results."""

import copy

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate

from snnlib import kernels
from snnlib.attacks import FGSM, PGD, FastThreatModel, ThreatModel
from snnlib.kernels.conv import _igrad_gemm, _wgrad_gemm
from snnlib.models import build_model


@pytest.mark.parametrize("sur", [surrogate.ATan(alpha=2.0), surrogate.ATan(alpha=3.0), surrogate.Sigmoid(alpha=4.0)])
@pytest.mark.parametrize("reset", [0.0, None, -0.5])
def test_fused_if_bit_identical(sur, reset):
    torch.manual_seed(0)
    ref = neuron.IFNode(v_threshold=1.0, v_reset=reset, surrogate_function=sur, detach_reset=True, step_mode="m")
    fused = kernels.accelerate(copy.deepcopy(ref))
    assert isinstance(fused, kernels.FusedIFNode)
    x = (torch.randn(5, 6, 3, 7) * 0.8 + 0.3).transpose(0, 1)  # [6, 5, 3, 7], not contiguous
    x[..., ::3] = 1.0  # exactly at threshold
    g = torch.randn(x.shape)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    s1, s2 = ref(x1), fused(x2)
    (s1 * g).sum().backward()
    (s2 * g).sum().backward()
    assert torch.equal(s1, s2) and torch.equal(ref.v, fused.v) and torch.equal(x1.grad, x2.grad)
    functional.reset_net(ref), functional.reset_net(fused)
    with torch.no_grad():
        assert torch.equal(ref(x), fused(x))


@pytest.mark.parametrize("alpha", [2.0, 3.0])
@pytest.mark.parametrize("reset", [0.0, None, -0.5])
def test_fused_if_attached_reset_bit_identical(alpha, reset):
    """Spiking-ResNet's neurons (reset not detached): the compiled loop gives SpikingJelly's spikes and gradients."""
    torch.manual_seed(0)
    ref = neuron.IFNode(
        v_threshold=1.0,
        v_reset=reset,
        surrogate_function=surrogate.ATan(alpha=alpha),
        detach_reset=False,
        step_mode="m",
    )
    fused = kernels.accelerate(copy.deepcopy(ref))
    assert isinstance(fused, kernels.FusedIFNode)
    x = (torch.randn(5, 6, 3, 7) * 0.8 + 0.3).transpose(0, 1)
    x[..., ::3] = 1.0
    g = torch.randn(x.shape)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    s1, s2 = ref(x1), fused(x2)
    (s1 * g).sum().backward()
    (s2 * g).sum().backward()
    assert torch.equal(s1, s2) and torch.equal(ref.v, fused.v) and torch.equal(x1.grad, x2.grad)


def test_accelerate_keeps_state_and_skips_unfusable():
    torch.manual_seed(0)
    sig = neuron.IFNode(surrogate_function=surrogate.Sigmoid(), detach_reset=False, step_mode="m")
    kernels.accelerate(sig)  # an attached reset with a sigmoid surrogate: stays SpikingJelly's
    assert not isinstance(sig, kernels.FusedIFNode)
    net = build_model("spiking_resnet18", 10, width=4)  # attached reset, ATan: fused
    kernels.accelerate(net, gemm_wgrad=True)
    assert any(isinstance(m, kernels.FusedIFNode) for m in net.modules())
    sew = build_model("sew_resnet18", 10, width=4)
    keys = set(sew.state_dict())
    kernels.accelerate(sew, gemm_wgrad=True)
    assert set(sew.state_dict()) == keys
    assert any(isinstance(m, kernels.FusedIFNode) for m in sew.modules())
    assert any(isinstance(m, kernels.GemmGradConv2d) for m in sew.modules())
    kernels.decelerate(sew)
    assert not any(isinstance(m, (kernels.FusedIFNode, kernels.GemmGradConv2d)) for m in sew.modules())


@pytest.mark.parametrize(
    "cin,cout,hw,k,stride", [(8, 16, 1, 3, 1), (8, 16, 2, 3, 1), (8, 16, 2, 3, 2), (8, 16, 2, 1, 2), (8, 16, 4, 3, 1)]
)
def test_gemm_wgrad_conv(cin, cout, hw, k, stride):
    torch.manual_seed(0)
    ref = layer.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False, step_mode="m")
    alt = copy.deepcopy(ref)
    alt.__class__ = kernels.GemmGradConv2d
    x = torch.randint(0, 3, (3, 5, cin, hw, hw)).float()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ref(x1), alt(x2)
    assert torch.equal(y1, y2)
    g = torch.randn_like(y1)
    # input-only gradient (attacks): oneDNN's, bit for bit
    assert torch.equal(
        torch.autograd.grad(y1, x1, g, retain_graph=True)[0], torch.autograd.grad(y2, x2, g, retain_graph=True)[0]
    )
    assert alt.weight.grad is None
    # training backward: the same sums in another order
    y1.backward(g), y2.backward(g)
    for a, b in ((ref.weight.grad, alt.weight.grad), (x1.grad, x2.grad)):
        assert (a - b).abs().max() <= 1e-5 * a.abs().max()


@pytest.mark.parametrize("cin,cout,hw,k,stride", [(64, 64, 1, 3, 1), (64, 64, 2, 3, 1), (32, 64, 2, 3, 2)])
def test_gemm_grads_as_accurate_as_onednn(cin, cout, hw, k, stride):
    """Against a float64 reference, where a train-mode BatchNorm makes the per-channel gradients cancel."""
    torch.manual_seed(0)
    x = (torch.rand(160, cin, hw, hw) < 0.15).float()
    w = torch.randn(cout, cin, k, k) * 0.05
    conf = ([stride] * 2, [k // 2] * 2, [1, 1])
    g = torch.randn_like(torch.nn.functional.conv2d(x, w, None, *conf))
    go = g - g.mean((0, 2, 3), keepdim=True)
    bw = torch.ops.aten.convolution_backward
    ref = bw(go.double(), x.double(), w.double(), None, *conf, False, [0, 0], 1, [True, True, False])
    onednn = bw(go, x, w, None, *conf, False, [0, 0], 1, [True, True, False])

    def err(a, b):
        return float((a.double() - b).abs().max())

    gw, gx = _wgrad_gemm(x, go, w, *conf), _igrad_gemm(go, w, x.shape, *conf)
    assert err(gw, ref[1]) <= 3 * err(onednn[1], ref[1]) + 1e-7 * float(ref[1].abs().max())
    assert err(gx, ref[0]) <= 3 * err(onednn[0], ref[0]) + 1e-7 * float(ref[0].abs().max())


@pytest.mark.parametrize(
    "hw,k,stride,pad,dil",
    [(1, 3, 1, 1, 1), (2, 3, 1, 1, 1), (3, 3, 2, 1, 1), (4, 1, 2, 0, 1), (5, 3, 2, 2, 2), (2, 5, 1, 2, 1)],
)
def test_gemm_grads_exact_in_float64(hw, k, stride, pad, dil):
    torch.manual_seed(0)
    x, w = torch.randn(4, 3, hw, hw, dtype=torch.float64), torch.randn(5, 3, k, k, dtype=torch.float64)
    conf = ([stride] * 2, [pad] * 2, [dil] * 2)
    go = torch.randn_like(torch.nn.functional.conv2d(x, w, None, *conf))
    ref = torch.ops.aten.convolution_backward(go, x, w, None, *conf, False, [0, 0], 1, [True, True, False])
    assert torch.allclose(_wgrad_gemm(x, go, w, *conf), ref[1], atol=1e-12)
    assert torch.allclose(_igrad_gemm(go, w, x.shape, *conf), ref[0], atol=1e-12)


def test_fast_threat_model_same_attacks(tiny_model, images):
    x, y = images
    slow = ThreatModel(tiny_model, "spike", "train")
    a_fgsm = FGSM(slow, 6 / 255)(x, y)
    a_pgd = PGD(slow, 6 / 255, steps=2, generator=torch.Generator().manual_seed(1))(x, y)
    pred = slow.predict(a_pgd)
    kernels.accelerate(tiny_model, gemm_wgrad=True)
    quick = FastThreatModel(tiny_model, "spike", "train")
    assert torch.equal(FGSM(quick, 6 / 255)(x, y), a_fgsm)
    b_pgd = PGD(quick, 6 / 255, steps=2, generator=torch.Generator().manual_seed(1))(x, y)
    assert torch.equal(b_pgd, a_pgd)
    assert torch.equal(quick.predict(b_pgd), pred)
    assert all(p.requires_grad for p in tiny_model.parameters())


def test_flush_denormals_same_logits_and_gradients(tiny_model, images):
    """Dead BN channels decayed into the denormal range (as weight decay left the medium models'): flushing
    denormals changes neither the logits nor the input gradients, and the flag is restored afterwards."""
    from torch.nn import functional as F

    from snnlib.kernels import _flushing, flush_denormals

    with torch.no_grad():
        for m in tiny_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight[: m.num_features // 2] = 1e-41
    x, y = images

    def run():
        xx = (x * 3).clamp(0, 1).requires_grad_(True)
        z = tiny_model(xx)
        F.cross_entropy(z, y).backward()
        return z.detach(), xx.grad

    z0, g0 = run()
    with flush_denormals():
        assert _flushing()
        z1, g1 = run()
        with flush_denormals(False):  # what counts exact zeros keeps the denormals
            t = torch.ones(3, requires_grad=True)
            (t * 1e-41).sum().backward()
            assert (t.grad != 0).all()
        assert _flushing()
    assert not _flushing()
    assert torch.equal(z0, z1) and torch.equal(g0, g1) and g0.abs().sum() > 0


def test_stem_once_same_forward_and_close_weight_grads():
    """Phase coding repeats planes 1 and 2 at steps 9 and 10: the stem convolves 8 planes, with the same outputs
    bit for bit, and its training weight gradient within the GEMM gradients' tolerance."""
    from snnlib.bench import GRAD_TOL
    from snnlib.encoding import PhaseEncoder

    torch.manual_seed(0)
    ref = layer.Conv2d(3, 8, 7, stride=2, padding=3, bias=False, step_mode="m")
    alt = copy.deepcopy(ref)
    alt.__class__ = kernels.StemOnceConv2d
    x = PhaseEncoder(T=10, K=8)(torch.rand(3, 3, 32, 32))
    assert kernels.planes_repeat(x, 8)
    y1, y2 = ref(x), alt(x)
    assert torch.equal(y1, y2)
    g = torch.randn_like(y1)
    y1.backward(g), y2.backward(g)
    a, b = ref.weight.grad, alt.weight.grad
    assert 0 < (a - b).abs().max() / a.abs().max() <= GRAD_TOL or torch.equal(a, b)
    with torch.inference_mode():
        assert torch.equal(ref(x), alt(x))


def test_stem_once_falls_back_exactly():
    """Planes that do not repeat (spike-space attacks) and inputs that need a gradient take the full convolution:
    outputs and input gradients bit-identical."""
    from snnlib.encoding import PhaseEncoder

    torch.manual_seed(0)
    ref = layer.Conv2d(3, 8, 7, stride=2, padding=3, bias=False, step_mode="m")
    alt = copy.deepcopy(ref)
    alt.__class__ = kernels.StemOnceConv2d
    x = PhaseEncoder(T=10, K=8)(torch.rand(2, 3, 32, 32))
    z = x.clone()
    z[9, 0, 0, 0, 0] += 0.01  # one perturbed element of a repeated step
    assert not kernels.planes_repeat(z, 8) and not kernels.planes_repeat(x[:8], 8)
    assert torch.equal(ref(z), alt(z))
    for inp in (x, z):
        x1, x2 = inp.clone().requires_grad_(), inp.clone().requires_grad_()
        y1, y2 = ref(x1), alt(x2)
        g = torch.randn_like(y1)
        assert torch.equal(y1, y2)
        assert torch.equal(torch.autograd.grad(y1, x1, g)[0], torch.autograd.grad(y2, x2, g)[0])


def test_accelerate_stem_once_swaps_only_the_stem(tiny_model, images):
    from snnlib.bench import GRAD_TOL

    x, y = images
    ref = copy.deepcopy(tiny_model).train()
    fast = copy.deepcopy(tiny_model).train()
    keys = set(fast.state_dict())
    kernels.accelerate(fast.net, gemm_wgrad=True, stem_once=True)
    assert type(fast.net.conv1) is kernels.StemOnceConv2d and set(fast.state_dict()) == keys
    assert sum(isinstance(m, kernels.StemOnceConv2d) for m in fast.modules()) == 1
    z1, z2 = ref(x), fast(x)
    assert torch.equal(z1, z2)
    torch.nn.functional.cross_entropy(z1, y).backward()
    torch.nn.functional.cross_entropy(z2, y).backward()
    for p, q in zip(ref.parameters(), fast.parameters(), strict=True):
        assert (p.grad - q.grad).abs().max() <= GRAD_TOL * p.grad.abs().max()
    kernels.decelerate(fast.net)
    assert type(fast.net.conv1) is layer.Conv2d
