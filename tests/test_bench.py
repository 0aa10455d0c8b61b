"""The benchmark's reduced form, and the exactness of snnlib.fast.

``bench.run(quick=True)`` runs the authors' pipeline and snnlib's path side by side on a tiny
SEW-ResNet-18 and must find the same logits, the same adversarial inputs and predictions, and
report speed-up ratios.
"""

import copy
import json
import math
import time

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate

from snnlib import bench, fast
from snnlib.attacks import FGSM, PGD, ThreatModel
from snnlib.errors import SnnlibError
from snnlib.models import build_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny ops: thread hand-offs cost more than they save (and CI machines are shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def quick(tmp_path_factory, _one_thread):
    out = tmp_path_factory.mktemp("bench") / "cpu-quick.json"
    return bench.run(quick=True, out=str(out))


def test_quick_bench_same_numbers(quick):
    assert quick["final"]["equal"] is True
    assert quick["final"]["spikes_equal"] is True
    assert quick["checks"], "no comparison was made"
    for name, c in quick["checks"].items():
        assert c["passed"], name
        if name.startswith("train"):
            assert c["logits_maxdiff"] == 0 and c["loss_diff"] == 0, name
            assert c["grads_max_rel_diff"] <= bench.GRAD_TOL, name
        else:
            for k in ("clean", "fgsm", "pgd"):
                assert c[f"{k}_logits_maxdiff"] <= bench.LOGIT_TOL, (name, k)
            for k in ("fgsm", "pgd"):
                assert c[f"{k}_adv_elements_differing"] == 0, (name, k)
                assert c[f"{k}_predictions_differing"] == 0, (name, k)


def test_quick_bench_reports_ratios(quick):
    final = quick["final"]
    for kind in ("train", "eval"):
        for b in bench.QUICK["batches"]:
            r = final[f"{kind}_b{b}_speedup"]
            assert math.isfinite(r) and r > 0
    saved = json.loads(open(quick["result_file"]).read())
    assert saved["final"] == final
    assert saved["machine"]["cpu_model"] and saved["machine"]["torch_threads"] >= 1
    variants = {(r["workload"], r["batch"], r["variant"]) for r in saved["table"]}
    for kind in ("train", "eval"):
        assert set(bench.VARIANTS["cpu"][kind]) <= {v for w, b, v in variants if w == kind}


def test_bench_rejects_bad_arguments():
    with pytest.raises(SnnlibError):
        bench.run(quick=True, repeats=0)
    with pytest.raises(SnnlibError):
        bench.run(quick=True, device="tpu")
    with pytest.raises(SnnlibError):
        bench.run(quick=True, extras=["fp8"])


def test_peak_memory_sees_a_temporary():
    out = {}
    with bench._peak_memory(torch.device("cpu"), out):
        t = torch.ones(2**23)  # 32 MiB, held for a few samples
        time.sleep(0.05)
        del t
    assert 30 <= out["peak_mb"] < 128


@pytest.mark.parametrize("sur", [surrogate.ATan(alpha=2.0), surrogate.ATan(alpha=3.0), surrogate.Sigmoid(alpha=4.0)])
@pytest.mark.parametrize("reset", [0.0, None, -0.5])
def test_fused_if_bit_identical(sur, reset):
    torch.manual_seed(0)
    ref = neuron.IFNode(v_threshold=1.0, v_reset=reset, surrogate_function=sur, detach_reset=True, step_mode="m")
    fused = fast.accelerate(copy.deepcopy(ref))
    assert isinstance(fused, fast.FusedIFNode)
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


def test_accelerate_keeps_state_and_skips_unfusable():
    torch.manual_seed(0)
    net = build_model("spiking_resnet18", 10, width=4)  # detach_reset=False: stays SpikingJelly's
    fast.accelerate(net, gemm_wgrad=True)
    assert not any(isinstance(m, fast.FusedIFNode) for m in net.modules())
    sew = build_model("sew_resnet18", 10, width=4)
    keys = set(sew.state_dict())
    fast.accelerate(sew, gemm_wgrad=True)
    assert set(sew.state_dict()) == keys
    assert any(isinstance(m, fast.FusedIFNode) for m in sew.modules())
    assert any(isinstance(m, fast.GemmGradConv2d) for m in sew.modules())
    fast.decelerate(sew)
    assert not any(isinstance(m, (fast.FusedIFNode, fast.GemmGradConv2d)) for m in sew.modules())


@pytest.mark.parametrize("cin,cout,hw,k,stride",
                         [(8, 16, 1, 3, 1), (8, 16, 2, 3, 1), (8, 16, 2, 3, 2), (8, 16, 2, 1, 2), (8, 16, 4, 3, 1)])
def test_gemm_wgrad_conv(cin, cout, hw, k, stride):
    torch.manual_seed(0)
    ref = layer.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False, step_mode="m")
    alt = copy.deepcopy(ref)
    alt.__class__ = fast.GemmGradConv2d
    x = torch.randint(0, 3, (3, 5, cin, hw, hw)).float()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ref(x1), alt(x2)
    assert torch.equal(y1, y2)
    g = torch.randn_like(y1)
    # input-only gradient (attacks): oneDNN's, bit for bit
    assert torch.equal(torch.autograd.grad(y1, x1, g, retain_graph=True)[0],
                       torch.autograd.grad(y2, x2, g, retain_graph=True)[0])
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
    err = lambda a, b: float((a.double() - b).abs().max())
    gw, gx = fast._wgrad_gemm(x, go, w, *conf), fast._igrad_gemm(go, w, x.shape, *conf)
    assert err(gw, ref[1]) <= 3 * err(onednn[1], ref[1]) + 1e-7 * float(ref[1].abs().max())
    assert err(gx, ref[0]) <= 3 * err(onednn[0], ref[0]) + 1e-7 * float(ref[0].abs().max())


@pytest.mark.parametrize("hw,k,stride,pad,dil", [(1, 3, 1, 1, 1), (2, 3, 1, 1, 1), (3, 3, 2, 1, 1), (4, 1, 2, 0, 1),
                                                 (5, 3, 2, 2, 2), (2, 5, 1, 2, 1)])
def test_gemm_grads_exact_in_float64(hw, k, stride, pad, dil):
    torch.manual_seed(0)
    x, w = torch.randn(4, 3, hw, hw, dtype=torch.float64), torch.randn(5, 3, k, k, dtype=torch.float64)
    conf = ([stride] * 2, [pad] * 2, [dil] * 2)
    go = torch.randn_like(torch.nn.functional.conv2d(x, w, None, *conf))
    ref = torch.ops.aten.convolution_backward(go, x, w, None, *conf, False, [0, 0], 1, [True, True, False])
    assert torch.allclose(fast._wgrad_gemm(x, go, w, *conf), ref[1], atol=1e-12)
    assert torch.allclose(fast._igrad_gemm(go, w, x.shape, *conf), ref[0], atol=1e-12)


def test_fast_threat_model_same_attacks(tiny_model, images):
    x, y = images
    slow = ThreatModel(tiny_model, "spike", "train")
    a_fgsm = FGSM(slow, 6 / 255)(x, y)
    a_pgd = PGD(slow, 6 / 255, steps=2, generator=torch.Generator().manual_seed(1))(x, y)
    pred = slow.predict(a_pgd)
    fast.accelerate(tiny_model, gemm_wgrad=True)
    quick = fast.FastThreatModel(tiny_model, "spike", "train")
    assert torch.equal(FGSM(quick, 6 / 255)(x, y), a_fgsm)
    b_pgd = PGD(quick, 6 / 255, steps=2, generator=torch.Generator().manual_seed(1))(x, y)
    assert torch.equal(b_pgd, a_pgd)
    assert torch.equal(quick.predict(b_pgd), pred)
    assert all(p.requires_grad for p in tiny_model.parameters())
