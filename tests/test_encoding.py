import pytest
import torch
from spikingjelly.activation_based import encoding as sj_encoding

from snnlib.encoding import DirectEncoder, FrameEncoder, PhaseEncoder, RateEncoder, build_encoder, phase_weights
from snnlib.errors import SnnlibError


def authors_encode(p: torch.Tensor, T: int = 10) -> torch.Tensor:
    """The authors' encoder: SpikingJelly's stateful WeightedPhaseEncoder(K=8) called T times on p/256."""
    enc = sj_encoding.WeightedPhaseEncoder(K=8)
    out = torch.stack([enc(p / 256.0) for _ in range(T)])
    enc.reset()
    return out


def test_bit_identical_to_spikingjelly():
    p = torch.arange(256).float().view(1, 1, 16, 16).repeat(2, 3, 1, 1)
    ours = PhaseEncoder(T=10, K=8)(p / 255.0)
    assert ours.shape == (10, 2, 3, 16, 16)
    assert torch.equal(ours, authors_encode(p))


def test_bit_identical_on_random_images():
    g = torch.Generator().manual_seed(1)
    p = torch.randint(0, 256, (5, 3, 8, 8), generator=g).float()
    assert torch.equal(PhaseEncoder()(p / 255.0), authors_encode(p))


def test_binary_expansion_msb_first_and_cyclic():
    x = torch.full((1, 1, 1, 1), 192 / 255.0)  # 11000000
    s = PhaseEncoder(T=10, K=8)(x).flatten().tolist()
    assert s == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]


def test_stateless_and_weighted():
    enc = PhaseEncoder(weighted=True)
    x = torch.rand(2, 3, 4, 4)
    a, b = enc(x), enc(x)
    assert torch.equal(a, b)
    w = phase_weights(10, 8)
    assert w[0] == 0.5 and w[7] == 2**-8 and w[8] == 0.5
    # the weighted spikes of one period reconstruct the 8-bit pixel / 256
    p = torch.round(x * 255)
    assert torch.allclose(a[:8].sum(0), p / 256)


def test_gradient_ste_and_none():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    PhaseEncoder(grad="ste")(x).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 10.0))  # identity per time step, summed over T=10
    x2 = x.detach().clone().requires_grad_(True)
    out = PhaseEncoder(grad="none")(x2)
    assert not out.requires_grad  # the true gradient of a quantiser is zero


def test_rate_and_direct():
    x = torch.rand(3, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    s = RateEncoder(T=200, generator=g)(x)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert (s.mean(0) - x).abs().mean() < 0.05
    d = DirectEncoder(T=4)(x)
    assert d.shape == (4, 3, 1, 8, 8) and torch.equal(d[2], x)


def test_frames():
    f = torch.rand(2, 10, 2, 8, 8)
    assert FrameEncoder()(f).shape == (10, 2, 2, 8, 8)
    with pytest.raises(SnnlibError, match="rank 5"):
        FrameEncoder()(torch.rand(2, 2, 8, 8))


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(3, 32, 32), "rank 4"),
        (torch.rand(1, 3, 8, 8) * 255, r"\[0,1\]"),
        (-torch.rand(1, 3, 8, 8), r"\[0,1\]"),
        (torch.randint(0, 2, (1, 3, 8, 8)), "floating point"),
    ],
)
def test_bad_images(bad, match):
    with pytest.raises(SnnlibError, match=match):
        PhaseEncoder()(bad)


def test_bad_encoder_name():
    with pytest.raises(SnnlibError, match="unknown encoder 'poisson'.*phase, rate, direct"):
        build_encoder("poisson")
    with pytest.raises(SnnlibError, match="unknown encoder grad"):
        PhaseEncoder(grad="bpda")
