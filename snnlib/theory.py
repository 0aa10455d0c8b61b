"""Checks of the paper's theory: Theorem 4.1 (Appendix A), Theorems 4.3 and 4.4 (Section 4.3.2)
and Theorem B.1 (Appendix B).

Symbolic objects are sympy expressions; numerical helpers take tensors and plain
settings and return tensors or pandas DataFrames. The chapter ``book/theory.md``
uses them.
"""

from __future__ import annotations

import itertools
import math

import pandas as pd
import sympy as sp
import torch
from spikingjelly.activation_based import neuron, surrogate

from .errors import SnnlibError

# ------------------------------------------------------------ Theorem 4.1


def cube_sup(g: torch.Tensor) -> float:
    """max over the vertices of [-1, 1]^m of |g . delta| (brute force, m <= 16): the sup in Eq. 27."""
    g = g.flatten().double()
    if g.numel() > 16:
        raise SnnlibError(f"cube_sup enumerates 2^m vertices; m={g.numel()} is too large (max 16)")
    v = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=g.numel())), dtype=torch.float64)
    return float((v @ g).abs().max())


# ------------------------------------------------------------ Theorem 4.3 (Eqs. 8-10)


def atan_surrogate(x, alpha=2):
    """d Theta / dx of Eq. 4: alpha / (2 (1 + (pi/2 alpha x)^2)); alpha=2 gives Eq. 9's 1/(1+(pi x)^2)."""
    return sp.Rational(1, 2) * alpha / (1 + (sp.pi / 2 * alpha * x) ** 2)


class Theta(sp.Function):
    """Heaviside spike function whose derivative is the ATan surrogate with alpha=2 (Eqs. 4, 9)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return atan_surrogate(self.args[0])


def eq8_symbols(d: int, T: int):
    """Symbol matrices w1, w2 (d x d) and spikes s (T x d; row t is s[t]) for Eq. 8."""
    w1 = sp.Matrix(d, d, lambda n, j: sp.Symbol(f"a_{n}_{j}", real=True))
    w2 = sp.Matrix(d, d, lambda i, n: sp.Symbol(f"b_{i}_{n}", real=True))
    s = sp.Matrix(T, d, lambda t, j: sp.Symbol(f"s_{t}_{j}", real=True))
    return w1, w2, s


def eq8_sympy(w1: sp.Matrix, w2: sp.Matrix, s: sp.Matrix, vth=0) -> sp.Matrix:
    """Output p (d x 1) of the 2-layer SNN of Eq. 8: mean over t of Theta(w2 Theta(w1 s[t] - vth) - vth)."""
    T = s.shape[0]
    out = sp.zeros(w2.shape[0], 1)
    for t in range(T):
        y1 = (w1 * s[t, :].T).applyfunc(lambda z: Theta(z - vth))
        out += (w2 * y1).applyfunc(lambda z: Theta(z - vth))
    return out / T


def eq10_sympy(w1: sp.Matrix, w2: sp.Matrix, s: sp.Matrix, i: int, vth=0) -> dict:
    """The paper's Eq. 10 for output p_i, read with matrix products (diagonal surrogate factors).

    As Eq. 9 writes it, the neurons fire at ``vth`` but the surrogate is evaluated at z itself.
    Returns ``{"s": T x d, "w1": d x d, "w2": d x d}`` of d p_i / d(.).
    """
    T, d = s.shape
    sg = atan_surrogate
    gs, gw1, gw2 = sp.zeros(T, d), sp.zeros(d, d), sp.zeros(d, d)
    for t in range(T):
        z1 = w1 * s[t, :].T
        y1 = z1.applyfunc(lambda z: Theta(z - vth))
        z2 = (w2 * y1)[i]
        shared = [sp.Rational(1, T) * sg(z2) * w2[i, n] * sg(z1[n]) for n in range(d)]  # dp/dy2 dy2/dz2 dz2/dy1 dy1/dz1
        for j in range(d):
            gs[t, j] = sum(shared[n] * w1[n, j] for n in range(d))
            for n in range(d):
                gw1[n, j] += shared[n] * s[t, j]
        for n in range(d):
            gw2[i, n] += sp.Rational(1, T) * sg(z2) * y1[n]
    return {"s": gs, "w1": gw1, "w2": gw2}


def eq8_torch(w1: torch.Tensor, w2: torch.Tensor, s: torch.Tensor, vth: float = 0.0) -> torch.Tensor:
    """Eq. 8 with SpikingJelly's ATan (alpha=2): s [..., T, d] -> p [..., d]; batch dims broadcast.

    SpikingJelly evaluates the surrogate at z - V_th, the argument at which the neuron fires.
    """
    sg = surrogate.ATan(alpha=2.0)
    y1 = sg(s @ w1.transpose(-1, -2) - vth)
    return sg(y1 @ w2.transpose(-1, -2) - vth).mean(-2)


def eq8_chain(w1: torch.Tensor, w2: torch.Tensor, s: torch.Tensor, i: int, vth: float = 0.0) -> dict:
    """Autograd gradients of p_i (Eq. 8) w.r.t. s [T, d], w1, w2 and the pre-activations z1, z2 [T, d] (Fig. 6).

    Also returns the layer-1 spikes ``y1`` [T, d].
    """
    w1, w2, s = (a.detach().clone().requires_grad_(True) for a in (w1, w2, s))
    sg = surrogate.ATan(alpha=2.0)
    z1 = s @ w1.T
    y1 = sg(z1 - vth)
    z2 = y1 @ w2.T
    p = sg(z2 - vth).mean(0)
    names = ("s", "w1", "w2", "z1", "z2")
    grads = torch.autograd.grad(p[i], [s, w1, w2, z1, z2])
    return {**dict(zip(names, grads)), "y1": y1.detach()}


def eq8_jacobians(w1: torch.Tensor, w2: torch.Tensor, s: torch.Tensor, vth: float = 0.0, wrt=("s", "w1", "w2")) -> dict:
    """Full autograd Jacobians of Eq. 8's p (d outputs): ``s`` [d, T, d], ``w1`` [d, d, d], ``w2`` [d, d, d].

    Entry ``[i, ...]`` is the gradient of p_i. One backward pass: the tensors in ``wrt`` are
    copied once per output.
    """
    d = w2.shape[0]
    args = {"w1": w1, "w2": w2, "s": s}
    reps = {
        k: a.detach().unsqueeze(0).repeat(d, *[1] * a.dim()).requires_grad_(True) for k, a in args.items() if k in wrt
    }
    p = eq8_torch(*(reps.get(k, args[k].detach()) for k in ("w1", "w2", "s")), vth=vth)  # [d (copy), d (output)]
    grads = torch.autograd.grad(p.diagonal().sum(), list(reps.values()))
    return dict(zip(reps, grads))


def if_two_layer(
    w1: torch.Tensor, w2: torch.Tensor, s: torch.Tensor, vth: float = 1.0, detach_reset: bool = True
) -> torch.Tensor:
    """Eq. 8 with real multi-step IF neurons (membrane kept over t, hard reset; Eq. 32): s [T, d] -> p [d]."""
    kw = dict(
        v_threshold=vth,
        v_reset=0.0,
        surrogate_function=surrogate.ATan(alpha=2.0),
        detach_reset=detach_reset,
        step_mode="m",
    )
    n1, n2 = neuron.IFNode(**kw), neuron.IFNode(**kw)
    return n2(n1(s @ w1.T) @ w2.T).mean(0)


def eq10_vs_autograd(d: int = 2, T: int = 3, seed: int = 1, vths=(0.0, 1.0), i: int = 0) -> pd.DataFrame:
    """Eq. 10 against autograd through SpikingJelly's surrogate, on a random instance of Eq. 8.

    For each V_th: the largest |autograd - sympy derivation| (sympy differentiates Eq. 8 with the
    surrogate at z - V_th, as SpikingJelly does) and |autograd - Eq. 10 as printed| (surrogate at z),
    for the gradients of p_i w.r.t. s, w1 and w2.
    """
    W1, W2, S_ = eq8_symbols(d, T)
    V = sp.Symbol("V", real=True)
    syms = [*W1, *W2, *S_, V]

    def heav(e):  # Theta(0) = 1, as Eq. 9
        return e.replace(Theta, lambda z: sp.Heaviside(z, 1))

    def lam(M):
        return sp.lambdify(syms, heav(M), "numpy")

    p_v = eq8_sympy(W1, W2, S_, V)
    derived = {n: lam(X.applyfunc(lambda e: sp.diff(p_v[i], e))) for n, X in {"s": S_, "w1": W1, "w2": W2}.items()}
    printed = {n: lam(M) for n, M in eq10_sympy(W1, W2, S_, i, V).items()}
    gen = torch.Generator().manual_seed(seed)
    w1, w2 = (torch.randn(d, d, dtype=torch.float64, generator=gen) for _ in range(2))
    s = (torch.rand(T, d, generator=gen) < 0.6).double()
    rows = []
    for vth in vths:
        args = [*w1.flatten().tolist(), *w2.flatten().tolist(), *s.flatten().tolist(), vth]
        J = eq8_jacobians(w1, w2, s, vth)
        for n in derived:
            rows.append(
                {
                    "V_th": vth,
                    "gradient": n,
                    "|autograd - sympy|": float(abs(J[n][i].numpy() - derived[n](*args)).max()),
                    "|autograd - Eq. 10|": float(abs(J[n][i].numpy() - printed[n](*args)).max()),
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------ Theorem 4.4 (Eqs. 11-19)


def theorem44_counterexample(d: int = 4) -> dict:
    """A deterministic counterexample to Theorem 4.4: d = T, w1 with one non-zero entry, w2 dense, S = I.

    Returns both sides of the bound with Eq. 13's definitions (``eq13_lhs`` = ||w2 S||_0, ``eq13_rhs``)
    and with the autograd Jacobians of Eq. 8 (``ag_lhs``, ``ag_rhs``), and the factor (T/d) k_S / k_w1.
    """
    T = d
    w1 = torch.zeros(d, d, dtype=torch.float64)
    w1[0, 0] = 1.0
    w2 = torch.full((d, d), 0.5, dtype=torch.float64)
    S = torch.eye(d, dtype=torch.float64)  # S[:, t] = s[t]: input t spikes at step t only
    factor = T / d * int((S != 0).sum(0).max()) / degrees(w1)[1]
    J = eq8_jacobians(w1, w2, S.T, wrt=("s", "w1"))
    return {
        "d": d,
        "T": T,
        "factor": factor,
        "eq13_lhs": int((w2 @ S != 0).sum()),
        "eq13_rhs": factor * int((w2 @ w1 != 0).sum()),
        "ag_lhs": int((J["w1"] != 0).sum()),
        "ag_rhs": factor * int((J["s"] != 0).sum()) / T,
    }


def degrees(w: torch.Tensor) -> tuple[int, int]:
    """(k^(i), k^(j)) of Eq. 11: the largest number of non-zeros in a row and in a column."""
    nz = w != 0
    return int(nz.sum(1).max()), int(nz.sum(0).max())


def sparse_matrix(d1: int, d2: int, density: float, generator=None) -> torch.Tensor:
    """Gaussian entries kept independently with probability ``density`` (float64)."""
    keep = torch.rand((d1, d2), generator=generator, dtype=torch.float64) < density
    return torch.randn((d1, d2), generator=generator, dtype=torch.float64) * keep


def k_sparse_rows(d: int, k: int, generator=None) -> torch.Tensor:
    """d x d Gaussian matrix with exactly k non-zeros per row, at uniformly random places."""
    idx = torch.rand((d, d), generator=generator).argsort(1)[:, :k]
    w = torch.zeros((d, d), dtype=torch.float64)
    w.scatter_(1, idx, torch.randn((d, k), generator=generator, dtype=torch.float64))
    return w


def term_probabilities(d: int, k: int, n_draws: int, coupled: bool = False, generator=None) -> dict:
    """Monte Carlo of Eqs. 15-16: w2 has exactly k non-zeros per row, w1 exactly k per column.

    ``coupled=False``: w1 is independent of w2 (the proof's tacit assumption);
    ``coupled=True``: w1 = w2^T (same sparsity degrees, dependent supports).
    Returns the frequency of w2[i,n] w1[n,j] != 0 (Eq. 15) and of
    (w2 w1)[i,j] != 0 (Eq. 16), over all entries and over the diagonal i = j.
    """
    term = term_diag = entry = entry_diag = 0.0
    eye = torch.eye(d, dtype=torch.bool)
    for _ in range(n_draws):
        w2 = k_sparse_rows(d, k, generator)
        w1 = w2.T.clone() if coupled else k_sparse_rows(d, k, generator).T.clone()
        t = (w2 != 0).unsqueeze(2) & (w1 != 0).unsqueeze(0)  # [i, n, j]
        term += t.double().mean().item()
        term_diag += t.diagonal(dim1=0, dim2=2).double().mean().item()
        e = (w2 @ w1) != 0
        entry += e.double().mean().item()
        entry_diag += e[eye].double().mean().item()
    n = n_draws
    return {"term": term / n, "term_diag": term_diag / n, "entry": entry / n, "entry_diag": entry_diag / n}


def theorem44_draws(
    d: int, T: int, w_density: float, s_density: float, n_draws: int, generator=None, vth: float = 0.0
) -> pd.DataFrame:
    """One row per random draw of (w1, w2, S) for Theorem 4.4.

    Columns: the Eq. 13 quantities ``eq13_s`` = ||w2 w1||_0 and ``eq13_w1`` = ||w2 S||_0;
    the autograd ones ``ag_s`` (||d p / d s[t]||_0 of the full Jacobian, mean over t) and
    ``ag_w1`` (||d p / d w1||_0 of the full Jacobian); ``closed_w1`` = ||w2||_0 times the number of
    inputs that spike at least once (the support of the w1 Jacobian, as the chain rule gives it);
    ``k_S`` (k_S^(j), largest ||s[t]||_0)
    and ``k_w1`` (k_w1^(j), largest column count of w1); ``factor`` = (T/d) k_S / k_w1.
    """
    rows = []
    for _ in range(n_draws):
        w1 = sparse_matrix(d, d, w_density, generator)
        w2 = sparse_matrix(d, d, w_density, generator)
        S = (torch.rand((d, T), generator=generator) < s_density).double()
        J = eq8_jacobians(w1, w2, S.T, vth, wrt=("s", "w1"))
        k_S, k_w1 = int((S != 0).sum(0).max()), degrees(w1)[1]
        rows.append(
            {
                "eq13_s": int((w2 @ w1 != 0).sum()),
                "eq13_w1": int((w2 @ S != 0).sum()),
                "ag_s": (J["s"] != 0).sum().item() / T,
                "ag_w1": int((J["w1"] != 0).sum()),
                "closed_w1": int((w2 != 0).sum()) * int(S.any(1).sum()),
                "k_S": k_S,
                "k_w1": k_w1,
                "factor": T / d * k_S / max(k_w1, 1),
            }
        )
    return pd.DataFrame(rows)


def theorem44_grid(ds, Ts, w_densities, s_densities, n_draws: int, seed: int = 0) -> pd.DataFrame:
    """Theorem 4.4's bound E||grad_w1||_0 <= (T/d)(k_S/k_w1) E||grad_s||_0 over a grid of settings.

    For each setting, ``lhs_*`` is the mean L0 of the w1 gradient and ``rhs_*`` the mean of
    (T/d)(k_S/k_w1) ||grad_s||_0, with the Eq. 13 definitions (``eq13``) and with the autograd
    Jacobians of Eq. 8 (``ag``); ``ratio_*`` = lhs / rhs (the bound holds where it is <= 1).
    """
    g = torch.Generator().manual_seed(seed)
    rows = []
    for d, T, wd, sd in itertools.product(ds, Ts, w_densities, s_densities):
        df = theorem44_draws(d, T, wd, sd, n_draws, g)
        row = {"d": d, "T": T, "w_density": wd, "s_density": sd}
        for v in ("eq13", "ag"):
            lhs, rhs = df[f"{v}_w1"].mean(), (df["factor"] * df[f"{v}_s"]).mean()
            row |= {f"lhs_{v}": lhs, f"rhs_{v}": rhs, f"ratio_{v}": lhs / rhs if rhs > 0 else math.inf}
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------ Theorem B.1 (Eqs. 32-36)


def snr(delta: torch.Tensor, norm: str = "2") -> float:
    """Gradient SNR over samples (rows of ``delta``): ||E delta||^2 / E||delta - E delta||^2.

    ``norm="2"`` is Eq. 33 (Shalev-Shwartz et al. 2017); ``norm="inf"`` the "sup SNR" of Theorem B.1.
    """
    delta = delta.flatten(1).double()
    mu = delta.mean(0)
    p = 2 if norm == "2" else math.inf
    if norm not in ("2", "inf"):
        raise SnnlibError(f"norm must be '2' or 'inf', got {norm!r}")
    return float(torch.linalg.vector_norm(mu, p) ** 2 / (torch.linalg.vector_norm(delta - mu, p, dim=1) ** 2).mean())


class TinySNN(torch.nn.Module):
    """Eq. 32's network: a linear layer into hard-reset IF neurons (V_th=1, ATan, BPTT), linear readout.

    ``forward(spikes [T, B, d_in])`` returns p = sum over t of the readout, [B] (Eq. 33 sums over t),
    and keeps the layer-1 input currents so that :meth:`per_sample_grads` can form per-sample
    weight gradients from a single backward pass.
    """

    def __init__(self, d_in: int, hidden: int, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = torch.nn.Linear(d_in, hidden, bias=False)
        self.fc2 = torch.nn.Linear(hidden, 1, bias=False)
        self.sn = neuron.IFNode(
            v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="m"
        )

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        self.sn.reset()
        self.z1 = spikes @ self.fc1.weight.T
        if self.z1.requires_grad:
            self.z1.retain_grad()
        out = self.fc2(self.sn(self.z1)).squeeze(-1).sum(0)
        self.sn.reset()
        return out

    def fit(self, spikes: torch.Tensor, h: torch.Tensor, steps: int = 100, lr: float = 1e-2) -> float:
        """Full-batch Adam on the squared error (p(x) - h(x))^2 / 2; returns the final loss."""
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        for _ in range(steps):
            loss = ((self(spikes) - h) ** 2).mean() / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.zero_grad(set_to_none=True)
        return loss.item()

    def per_sample_grads(self, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(g_w(x) = d p / d W1 per sample [B, hidden, d_in], and its per-time-step terms [T, B, hidden, d_in])."""
        p = self(spikes)
        p.sum().backward()
        terms = torch.einsum("tbh,tbd->tbhd", self.z1.grad, spikes)
        self.zero_grad(set_to_none=True)
        return terms.sum(0), terms


def binary_task(ds, n: int | None = None, pool: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Images average-pooled by ``pool`` and the target h = +1 for CIFAR-10's animals, -1 for its vehicles."""
    x, y = ds.batch(torch.arange(min(n or len(ds), len(ds))))
    return torch.nn.functional.avg_pool2d(x, pool), torch.where((y >= 2) & (y <= 7), 1.0, -1.0)


def snr_runs(train_xh, eval_xh, encode, Ts, seeds: int = 4, hidden: int = 32, fit_steps: int = 60) -> pd.DataFrame:
    """:func:`temporal_snr` of :class:`TinySNN` at initialisation and after a short full-batch training at
    ``Ts[0]``, for each seed; ``encode(x, T)`` gives spikes [T, B, d_in]."""
    (x_tr, h_tr), (x_ev, h_ev) = train_xh, eval_xh
    runs = []
    for seed in range(seeds):
        net = TinySNN(x_ev[0].numel(), hidden, seed=seed)
        runs.append(temporal_snr(net, encode, x_ev, h_ev, Ts).assign(seed=seed, state="initial"))
        net.fit(encode(x_tr, Ts[0]), h_tr, steps=fit_steps)
        runs.append(temporal_snr(net, encode, x_ev, h_ev, Ts).assign(seed=seed, state="trained"))
    return pd.concat(runs, ignore_index=True)


def temporal_snr(model: TinySNN, encoder, x: torch.Tensor, h: torch.Tensor, Ts) -> pd.DataFrame:
    """SNR of delta(x) = h(x) g_w(x) (Eqs. 33-34) for the same weights run over each T in ``Ts``.

    ``encoder(x, T)`` gives spikes [T, B, d_in]. Columns: ``T``, ``snr_2`` (Eq. 33),
    ``snr_inf`` (Theorem B.1), ``mean_inf2`` = ||E delta||_inf^2 (Lemma B.1),
    ``var_inf2`` = E||delta - E delta||_inf^2 (Lemma B.2), ``cov_rel`` =
    ||Cov(h, g)||_inf / ||E[h] E[g]||_inf (Theorem B.1 assumes 0), and ``prefix_change``:
    relative change of the first ``Ts[0]`` steps' gradient terms against the run over ``Ts[0]``
    steps (Eq. 34 assumes 0).
    """
    rows, base_terms = [], None
    hd = h.double()
    for T in Ts:
        g, terms = model.per_sample_grads(encoder(x, T))
        g, terms = g.flatten(1).double(), terms.flatten(2).double()
        delta = hd[:, None] * g
        cov = ((hd - hd.mean())[:, None] * (g - g.mean(0))).mean(0)
        if base_terms is None:
            base_terms = terms.sum(0)
        prefix = terms[: Ts[0]].sum(0)
        rows.append(
            {
                "T": T,
                "snr_2": snr(delta, "2"),
                "snr_inf": snr(delta, "inf"),
                "mean_inf2": float(delta.mean(0).abs().max() ** 2),
                "var_inf2": float(((delta - delta.mean(0)).abs().max(1).values ** 2).mean()),
                "cov_rel": float(cov.abs().max() / (hd.mean() * g.mean(0)).abs().max()),
                "prefix_change": float((prefix - base_terms).norm() / base_terms.norm()),
            }
        )
    return pd.DataFrame(rows)
