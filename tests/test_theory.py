import math

import pytest
import sympy as sp
import torch

from snnlib import probes
from snnlib import theory as th
from snnlib.errors import SnnlibError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------ Theorem 4.1


def test_cube_sup_is_l1_norm_at_sign():
    g = torch.tensor([0.5, -2.0, 0.0, 1.5], dtype=torch.float64)
    assert th.cube_sup(g) == pytest.approx(4.0)
    assert float(g @ g.sign()) == pytest.approx(4.0)
    with pytest.raises(SnnlibError):
        th.cube_sup(torch.ones(17))


def test_monte_carlo_vulnerabilities_of_a_linear_function_match_eqs_26_to_28():
    g = torch.randn(20, generator=_gen(), dtype=torch.float64)
    eps = 0.03
    delta = torch.rand((20000, 20), generator=_gen(1), dtype=torch.float64) * 2 - 1
    rho_rand = float(((eps * delta @ g) ** 2).mean())
    assert rho_rand == pytest.approx(eps**2 * float(g @ g) / 3, rel=0.05)  # Eq. 26
    rho_adv = (eps * th.cube_sup(g[:12])) ** 2  # Eq. 27 on a 12-entry slice (2^12 vertices)
    assert rho_adv == pytest.approx(eps**2 * float(g[:12].abs().sum()) ** 2)
    first_order = probes.gradient_stats(g[None]).first_order_ratio[0]  # Eq. 28
    assert eps**2 * float(g.abs().sum()) ** 2 / rho_rand == pytest.approx(first_order, rel=0.05)
    assert 3 <= first_order <= 3 * 20


def test_probe_recovers_first_order_ratio_on_a_linear_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3)).double().eval()
    x = torch.full((2, 3, 4, 4), 0.5, dtype=torch.float64)
    y = torch.tensor([0, 2])
    r = probes.vulnerability_ratio(model, x, y, eps=4 / 255, n_random=512, ascent_steps=1, generator=_gen())
    assert ((r.first_order_ratio / r.ratio) - 1).abs().max() < 0.2


# ------------------------------------------------------------ Theorem 4.3


def test_surrogate_is_eq4_with_alpha_2_and_spikingjelly():
    x = sp.Symbol("x", real=True)
    assert sp.simplify(th.atan_surrogate(x, 2) - 1 / (1 + (sp.pi * x) ** 2)) == 0
    assert sp.diff(th.Theta(x), x) == th.atan_surrogate(x)
    # Eq. 8 with d = T = 1, w1 = w2 = 1, vth = 0: dp/ds = sigma'(w2 Theta(s)) sigma'(s)
    s = torch.linspace(-2, 2, 9, dtype=torch.float64)
    one = torch.ones(1, 1, dtype=torch.float64)
    J = torch.stack([th.eq8_jacobians(one, one, si.view(1, 1))["s"].flatten() for si in s])

    def sg(z):
        return 1 / (1 + (math.pi * z) ** 2)

    assert torch.allclose(J.flatten(), sg((s >= 0).double()) * sg(s))


def test_eq10_equals_sympy_chain_rule_at_zero_threshold():
    w1, w2, s = th.eq8_symbols(2, 1)
    p = th.eq8_sympy(w1, w2, s)
    eq10 = th.eq10_sympy(w1, w2, s, i=1)
    for name, X in {"s": s, "w1": w1, "w2": w2}.items():
        derived = X.applyfunc(lambda e: sp.diff(p[1], e))
        assert (derived - eq10[name]).applyfunc(sp.simplify).is_zero_matrix


@pytest.mark.parametrize("vth", [0.0, 1.0])
def test_eq8_jacobians_match_sympy_and_eq10_only_at_zero_threshold(vth):
    d, T = 2, 2
    w1, w2, s = th.eq8_symbols(d, T)
    V = sp.Symbol("V", real=True)
    p = th.eq8_sympy(w1, w2, s, V)
    syms = [*w1, *w2, *s, V]

    def heav(e):
        return e.replace(th.Theta, lambda z: sp.Heaviside(z, 1))

    derived = sp.lambdify(syms, heav(s.applyfunc(lambda e: sp.diff(p[0], e))), "numpy")
    printed = sp.lambdify(syms, heav(th.eq10_sympy(w1, w2, s, 0, V)["s"]), "numpy")
    g = _gen(3)
    W1, W2 = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    S = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    args = [*W1.flatten().tolist(), *W2.flatten().tolist(), *S.flatten().tolist(), vth]
    J = th.eq8_jacobians(W1, W2, S, vth)
    assert J["s"].shape == (d, T, d) and J["w1"].shape == (d, d, d)
    assert torch.allclose(J["s"][0], torch.as_tensor(derived(*args), dtype=torch.float64), atol=1e-12)
    gap = (J["s"][0] - torch.as_tensor(printed(*args), dtype=torch.float64)).abs().max()
    assert (gap < 1e-12) if vth == 0 else (gap > 1e-6)


def test_shared_trail_factorisation_and_zero_propagation():
    g = _gen(4)
    d, T = 5, 4
    w1, w2 = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    s = (torch.rand(T, d, generator=g) < 0.5).double()
    w2[:, 2] = 0
    ch = th.eq8_chain(w1, w2, s, i=1, vth=1.0)
    assert torch.allclose(ch["s"], ch["z1"] @ w1) and torch.allclose(ch["w1"], ch["z1"].T @ s)
    assert torch.allclose(ch["w2"], ch["z2"].T @ ch["y1"])
    assert (ch["w1"][2] == 0).all() and (ch["w1"][[0, 1, 3, 4]][:, s.any(0)] != 0).all()
    J = th.eq8_jacobians(w1, w2, s, vth=1.0)
    assert (
        torch.allclose(J["s"][1], ch["s"])
        and torch.allclose(J["w1"][1], ch["w1"])
        and torch.allclose(J["w2"][1], ch["w2"])
    )


def test_if_neurons_equal_eq8_for_one_step_only():
    g = _gen(5)
    w1, w2 = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(4, 4, generator=g, dtype=torch.float64)
    s1 = torch.tensor([[1.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    assert torch.equal(th.if_two_layer(w1, w2, s1, vth=1.0), th.eq8_torch(w1, w2, s1, vth=1.0))
    a = th.eq8_chain(w1, w2, s1, 0, vth=1.0)["w1"]
    w = w1.clone().requires_grad_(True)
    (b,) = torch.autograd.grad(th.if_two_layer(w, w2, s1, vth=1.0)[0], w)
    assert torch.allclose(a, b)
    sT = (torch.rand(6, 4, generator=g) < 0.7).double()
    w = w1.clone().requires_grad_(True)
    (b,) = torch.autograd.grad(th.if_two_layer(w, w2, sT, vth=1.0)[0], w)
    assert not torch.allclose(th.eq8_chain(w1, w2, sT, 0, vth=1.0)["w1"], b)  # the membrane adds BPTT terms


# ------------------------------------------------------------ Theorem 4.4


def test_degrees_and_k_sparse_rows():
    w = th.k_sparse_rows(10, 3, _gen())
    assert ((w != 0).sum(1) == 3).all() and th.degrees(w)[0] == 3
    assert th.degrees(torch.tensor([[1.0, 0.0], [2.0, 3.0]])) == (2, 2)


def test_term_probabilities_eq15_needs_independence_and_eq16_fails():
    d, k = 16, 2
    ind = th.term_probabilities(d, k, 30, coupled=False, generator=_gen())
    cpl = th.term_probabilities(d, k, 30, coupled=True, generator=_gen())
    assert ind["term"] == pytest.approx(k * k / d**2, rel=0.1)
    assert cpl["term_diag"] == pytest.approx(k / d) and cpl["entry_diag"] == 1.0
    exact = 1 - math.comb(d - k, k) / math.comb(d, k)
    assert ind["entry"] == pytest.approx(exact, abs=0.03) and ind["entry"] > 5 * k * k / d**2


def test_theorem44_draws_eq13_first_line_right_second_line_not():
    df = th.theorem44_draws(12, 5, 0.4, 0.3, n_draws=4, generator=_gen(6))
    assert (df.ag_s == df.eq13_s).all()
    assert (df.ag_w1 == df.closed_w1).all() and (df.ag_w1 != df.eq13_w1).all()
    assert (df.factor == 5 / 12 * df.k_S / df.k_w1).all()


def test_theorem44_grid_fails_with_dense_weights_and_sparse_spikes():
    grid = th.theorem44_grid([16], [4], [1.0], [0.1], n_draws=4, seed=0)
    assert list(grid.columns[:4]) == ["d", "T", "w_density", "s_density"]
    assert (grid.ratio_eq13 > 1).all() and (grid.ratio_ag > 1).all()


# ------------------------------------------------------------ Theorem B.1


def test_snr_definitions():
    delta = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    assert th.snr(delta, "2") == pytest.approx(4.0) and th.snr(delta, "inf") == pytest.approx(4.0)
    delta = torch.tensor([[1.0, 1.0], [3.0, -1.0]])
    assert th.snr(delta, "2") == pytest.approx(4.0 / 2.0) and th.snr(delta, "inf") == pytest.approx(4.0 / 1.0)
    assert th.snr(10 * delta) == pytest.approx(th.snr(delta))
    with pytest.raises(SnnlibError):
        th.snr(delta, "1")


def test_tiny_snn_per_sample_grads_match_single_sample_backward():
    g = _gen(7)
    spikes = (torch.rand(3, 4, 6, generator=g) < 0.6).float()
    net = th.TinySNN(6, 5, seed=0)
    with torch.no_grad():
        net.fc1.weight.mul_(4)  # make the neurons fire
    per, terms = net.per_sample_grads(spikes)
    assert per.shape == (4, 5, 6) and terms.shape == (3, 4, 5, 6)
    for b in range(4):
        (gb,) = torch.autograd.grad(net(spikes[:, b : b + 1]).sum(), net.fc1.weight)
        assert torch.allclose(per[b], gb, atol=1e-6)


def test_temporal_snr_table():
    g = _gen(8)
    x = torch.rand(16, 1, 2, 2, generator=g)
    h = torch.where(torch.arange(16) % 3 == 0, -1.0, 1.0)

    def enc(x, T):
        return (torch.rand((T, *x.shape), generator=_gen(T)) < x).float().flatten(2)

    df = th.temporal_snr(th.TinySNN(4, 3, seed=1), enc, x, h, [2, 4])
    assert list(df["T"]) == [2, 4] and df.prefix_change.iloc[0] == 0
    assert (df.snr_2 >= 0).all() and (df.var_inf2 > 0).all()
