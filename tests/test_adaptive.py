"""Adaptive SNN attacks: SA-PGD and ASSG, BPTR and RGA, the encoder's backward variants, the discrete encoder
attacks, SPSA and AutoAttack's standard version (tiny sizes)."""

import math

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from snnlib import attacks
from snnlib.attacks import (
    SAPGD,
    SPSA,
    LevelSearch,
    SpikeProjectedPGD,
    ThreatModel,
    adaptive_surrogate,
    bptr,
    halving_schedule,
    omega_of,
    rate_gradient,
    run_torchattack,
)
from snnlib.encoding import PhaseEncoder
from snnlib.errors import NotApplicable, SnnlibError
from snnlib.models import SpikingClassifier, build_model


@pytest.fixture
def lively_model():
    torch.manual_seed(0)
    m = SpikingClassifier(build_model("sew_resnet18", 10, width=4), PhaseEncoder()).eval()
    with torch.no_grad():  # BN statistics from data, so that the neurons fire
        m.train()
        m(torch.rand(32, 3, 32, 32))
        m.eval()
    return m


def test_sapgd_schedule_and_eps_ball(lively_model, images):
    assert halving_schedule(100) == {22, 41, 57, 70, 80, 87, 93, 99}  # Wang et al. 2025's schedule
    x, y = images
    atk = SAPGD(ThreatModel(lively_model), eps=8 / 255, steps=4, generator=torch.Generator().manual_seed(0))
    adv = atk(x, y)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert atk.robust(x, y).dtype == torch.bool
    with pytest.raises(SnnlibError, match="bn='eval'"):
        SAPGD(ThreatModel(lively_model, bn="train"))


def test_assg_keeps_the_forward_and_changes_the_backward(lively_model, images):
    x, y = images
    assert math.isclose(omega_of(0.425), 2 * math.tan(math.pi * 0.425) / math.pi) and omega_of(0.425) > 2.6
    t = ThreatModel(lively_model)
    g0, logits0 = t.grad(x, y)
    with adaptive_surrogate(lively_model, 0.425):
        g1, logits1 = t.grad(x, y)
        n = [m for m in lively_model.modules() if hasattr(m, "_assg")]
        assert n and all(m._assg["M"] for m in n)  # statistics were collected
    assert torch.allclose(logits0, logits1, atol=1e-5) and not torch.allclose(g0, g1)
    assert not any(hasattr(m, "_assg") for m in lively_model.modules())  # restored
    with pytest.raises(SnnlibError):
        omega_of(0.5)


def test_rate_backward_masks():
    """RGA passes 1/(2 V_th) where the mean input is in [0, 2 V_th]; BPTR passes 1 where the neuron fired at all."""
    x = torch.tensor([[0.3, -0.5, 3.0, 0.1], [0.3, -0.5, 3.0, 0.1]]).unsqueeze(-1)  # [T=2, 4 neurons, 1]
    net = SpikingClassifier(
        torch.nn.Sequential(
            neuron.IFNode(v_threshold=1.0, surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")
        )
    )
    for ctx, want in ((rate_gradient, [0.5, 0.0, 0.0, 0.5]), (bptr, [0.0, 0.0, 1.0, 0.0])):
        z = x.clone().requires_grad_(True)
        functional.reset_net(net)
        with ctx(net):
            (g,) = torch.autograd.grad(net.net(z).sum(), z)
        assert torch.allclose(g[0, :, 0], torch.tensor(want)), (ctx.__name__, g[0, :, 0])


def test_estimators_not_applicable_to_an_ann():
    ann = SpikingClassifier(build_model("sew_resnet18", 10, width=4, neuron="relu"), PhaseEncoder(T=1))
    for make in (lambda: rate_gradient(ann), lambda: adaptive_surrogate(ann), lambda: attacks.estimator(ann, "atan-8")):
        with pytest.raises(NotApplicable, match="no spiking neurons|none"):
            with make():
                pass


def test_encoder_backward_variants(images):
    x, _ = images
    enc = PhaseEncoder()
    grads = {}
    for g in ("ste", "omega", "flip"):
        enc.grad = g
        xx = x.clone().requires_grad_(True)
        enc(xx).sum().backward()
        grads[g] = xx.grad
    assert torch.allclose(grads["ste"], torch.full_like(x, 10.0))
    assert torch.allclose(grads["omega"], torch.full_like(x, float(enc.omega.sum())))
    enc.grad, enc.flip_width = "flip", 0.1 / 255  # a window too small to flip any bit: exactly zero
    xx = torch.full((1, 1, 2, 2), 100 / 255, requires_grad=True)
    enc(xx).sum().backward()
    assert (xx.grad == 0).all()


@pytest.mark.parametrize("cls", [SpikeProjectedPGD, LevelSearch])
def test_level_attacks_stay_on_valid_images(lively_model, images, cls):
    x, y = images
    atk = cls(ThreatModel(lively_model), eps=8 / 255, steps=2)
    adv = atk(x, y)
    levels = adv * 255
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # a valid 8-bit image
    assert ((levels.round() - (x * 255).round()).abs() <= 8).all() and adv.min() >= 0 and adv.max() <= 1
    with pytest.raises(NotApplicable):
        cls(ThreatModel(lively_model, space="spike"))


def test_spsa_estimates_a_linear_model():
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    x, y = torch.rand(2, 3, 4, 4) * 0.5 + 0.25, torch.tensor([0, 1])
    spsa = SPSA(ThreatModel(lin), eps=8 / 255, steps=1, samples=256, generator=torch.Generator().manual_seed(0))
    est = spsa._estimate(x, y)
    z = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(attacks.margin(lin(z), y).sum(), z)
    assert torch.nn.functional.cosine_similarity(est.flatten(1), g.flatten(1)).min() > 0.8
    adv = spsa(x, y)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6


def test_tiny_autoattack_standard(lively_model, images):
    x, y = images
    adv = run_torchattack(
        "autoattack", ThreatModel(lively_model), x, y, eps=8 / 255, n_classes=10, steps=2, n_queries=3
    )
    assert adv.shape == x.shape and (adv - x).abs().max() <= 8 / 255 + 1e-5
