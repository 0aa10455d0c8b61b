"""Gradient-obfuscation audit of the "natural robustness" claim (paper Sections 4.2 and 5).

The paper reports the robust accuracy of undefended SEW-ResNets under FGSM and a
7-step PGD, suspects obfuscated gradients (Section 4.2) and leaves BPDA and EOT
open (Section 5). This module runs the checks of Athalye et al. (2018) and
Carlini et al. (2019) on a trained model and keeps the per-sample worst case:

1. PGD with 7 -> 50 -> 200 steps (the shorter runs are prefixes of the longest
   trajectory) and extra restarts (:func:`pgd_track`);
2. an eps sweep up to a large eps: an undefended model must reach 0 %;
3. FGSM against PGD;
4. black-box attacks: Square (Andriushchenko et al. 2020), transfer from an
   ANN twin (same ResNet, ReLU instead of IF neurons) and from another SNN;
5. gradient estimators swapped in at attack time only (:func:`estimator`):
   ATan with several alpha, sigmoid, rectangular, a rate-based gradient in the
   spirit of RGA (Bu et al. 2023, :func:`rate_gradient`) and the encoder's
   true (zero) gradient instead of its straight-through one;
6. APGD-CE, APGD-DLR and, when the budget allows, AutoAttack (Croce & Hein 2020);
7. EOT (Athalye et al. 2018b) for stochastic encoders; phase coding is
   deterministic, which the suite checks;
8. exactly-zero input gradients (:func:`zero_gradient_stats`);
9. threat-model switches (pixel vs spike space, BN eval vs train) and the
   authors' exact evaluation loop, whose crafting in train mode updates the BN
   running statistics on the test images (:func:`authors_loop`).

All attacks of the standard threat model (pixel space, BN in eval mode,
eps = 8/255) enter the per-sample worst case (:func:`worst_case`). Results are
cached as ``results/<profile>/<run_id>/audit-<key>.json`` (:func:`run_config`).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass, field, fields

import pandas as pd
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import surrogate
from tqdm import tqdm

from . import config as _config
from . import results, train
from .attacks import AUTHORS_EPS, FGSM, PAPER_EPS, PGD, ThreatModel, bn_mode, run_torchattack
from .errors import SnnlibError, check_choice
from .models import spiking_neurons

# ------------------------------------------------------------ gradient estimators

#: Surrogates swapped into every IF neuron at attack time (the trained weights stay).
SURROGATES = {
    "atan-0.5": lambda: surrogate.ATan(alpha=0.5),
    "atan-2": lambda: surrogate.ATan(alpha=2.0),  # the training surrogate (paper Eq. 4)
    "atan-8": lambda: surrogate.ATan(alpha=8.0),
    "sigmoid-4": lambda: surrogate.Sigmoid(alpha=4.0),
    "rect-1": lambda: surrogate.Rect(alpha=1.0),
}
ESTIMATORS = (*SURROGATES, "rga", "encoder-none")
ESTIMATOR_LABELS = {
    "atan-0.5": "ATan (alpha 0.5)", "atan-2": "ATan (alpha 2, training)", "atan-8": "ATan (alpha 8)",
    "sigmoid-4": "sigmoid (alpha 4)", "rect-1": "rectangular / STE window (alpha 1)",
    "rga": "rate gradient (RGA-style)", "encoder-none": "encoder's true gradient (zero)",
}


@contextlib.contextmanager
def swap_surrogate(model: torch.nn.Module, make):
    """Give every spiking neuron the surrogate ``make()`` (or a named one of :data:`SURROGATES`);
    the original surrogate objects are put back on exit, also after an error."""
    if isinstance(make, str):
        check_choice("surrogate", make, tuple(SURROGATES))
        make = SURROGATES[make]
    neurons = spiking_neurons(model)
    saved = [(m, m.surrogate_function) for _, m in neurons]
    try:
        for m, _ in saved:
            m.surrogate_function = make()
        yield model
    finally:
        for m, sg in saved:
            m.surrogate_function = sg


class _RateGrad(torch.autograd.Function):
    """Forward: the neuron's spikes. Backward: the rate model's derivative (RGA-style)."""

    @staticmethod
    def forward(ctx, x_seq, spikes, theta):
        xbar = x_seq.mean(0, keepdim=True)
        ctx.save_for_backward(((xbar > 0) & (xbar < theta)).to(x_seq.dtype))
        ctx.theta = theta
        return spikes.detach().clone()

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask / ctx.theta, None, None


@contextlib.contextmanager
def rate_gradient(model: torch.nn.Module):
    """Replace each IF layer's backward by the derivative of its firing rate (after Bu et al. 2023, RGA).

    An IF neuron with threshold theta driven by an input of mean ``xbar`` (over
    the T steps) fires at a rate of about ``clip(xbar / theta, 0, 1)``. Here the
    gradient reaching the input at step t is the output gradient at step t
    times ``d rate / d xbar = 1/theta`` where ``0 < xbar < theta``, else 0 -- the
    per-step form of Bu et al.'s rate-gradient approximation for IF neurons with
    unit leak. The forward pass (the spikes) is unchanged. This is an
    approximation of RGA, not their code: their LIF case and layer-wise details
    are not reproduced.
    """
    handles = []
    try:
        for _, m in spiking_neurons(model):
            if getattr(m, "step_mode", "m") != "m":
                raise SnnlibError("rate_gradient needs multi-step neurons (step_mode='m')")
            theta = float(m.v_threshold)
            handles.append(m.register_forward_hook(
                lambda mod, args, out, theta=theta: _RateGrad.apply(args[0], out, theta)))
        yield model
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def encoder_grad(model: torch.nn.Module, grad: str):
    """Set the encoder's backward (``"ste"`` or ``"none"``) for a block; restored on exit."""
    enc = getattr(model, "encoder", None)
    if enc is None or not hasattr(enc, "grad"):
        raise SnnlibError("encoder_grad needs a phase or rate encoder (with a 'grad' setting)")
    check_choice("encoder grad", grad, ("ste", "none"))
    old = enc.grad
    enc.grad = grad
    try:
        yield model
    finally:
        enc.grad = old


def estimator(model: torch.nn.Module, name: str):
    """Context manager that makes ``model``'s backward one of :data:`ESTIMATORS` (attack time only)."""
    check_choice("gradient estimator", name, ESTIMATORS)
    if name in SURROGATES:
        return swap_surrogate(model, name)
    if name == "rga":
        return rate_gradient(model)
    return encoder_grad(model, "none")


# ---------------------------------------------------------------- attack pieces


def _ce(logits, y):
    return F.cross_entropy(logits.float(), y, reduction="none")


def _bdim(threat: ThreatModel) -> int:
    return 1 if threat.space == "spike" else 0


def _loss_grad(threat: ThreatModel, z, y, loss_fn=None):
    """Logits at ``z`` and the input gradient of the summed loss; zeros where no gradient reaches ``z``."""
    z = z.detach().requires_grad_(True)
    logits = threat.logits(z)
    losses = (loss_fn or _ce)(logits, y)
    if not losses.requires_grad:  # e.g. encoder grad "none": the true gradient is zero
        return torch.zeros_like(z), logits.detach()
    (g,) = torch.autograd.grad(losses.sum(), z, allow_unused=True)
    return (torch.zeros_like(z) if g is None else g), logits.detach()


def pgd_track(threat: ThreatModel, x, y, eps: float = PAPER_EPS, alpha: float = 0.01, steps: int = 200,
              restarts: int = 1, generator: torch.Generator | None = None, loss_fn=None,
              random_start: bool = True) -> dict:
    """PGD that records, per sample, the first iterate that is misclassified (Madry et al. 2017).

    Iterates z_0 (random start) .. z_steps are checked; ``broken_at[r, i]`` is the
    first step s at which restart r misclassified sample i (``steps + 1``: never),
    so PGD-k's accuracy is read off the same trajectory for every k <= steps
    (:func:`acc_at`). A sample leaves the batch once broken, or once its gradient
    is exactly zero (then every later iterate is the same: ``stalled``). Restart
    r attacks only the samples that survived all earlier restarts. Needs BN in
    eval mode, where samples do not interact, so dropping some changes nobody else.
    """
    if threat.bn != "eval":
        raise SnnlibError("pgd_track needs bn='eval' (samples must not interact through batch statistics)")
    bd = _bdim(threat)
    z0 = threat.inputs(x)
    n = len(y)
    never = steps + 1
    broken_at = torch.full((restarts, n), never, dtype=torch.long)
    stalled = torch.zeros((restarts, n), dtype=torch.bool)
    alive = torch.ones(n, dtype=torch.bool)
    with threat.crafting():
        for r in range(restarts):
            u = torch.rand(z0.shape, generator=generator, dtype=z0.dtype).to(z0.device)
            idx = torch.nonzero(alive).flatten()
            if len(idx) == 0:
                break
            start = torch.clamp(z0 + (2 * u - 1) * eps, 0, 1) if random_start else z0
            sel = idx.to(z0.device)
            z, zs, ys = start.index_select(bd, sel), z0.index_select(bd, sel), y[sel]
            for s in range(steps + 1):
                if s < steps:
                    g, logits = _loss_grad(threat, z, ys, loss_fn)
                else:
                    with torch.no_grad():
                        logits = threat.logits(z)
                wrong = (logits.argmax(1) != ys).cpu()
                broken_at[r, idx[wrong]] = s
                keep = ~wrong
                if s < steps:
                    flat = g.transpose(0, bd).flatten(1) if bd else g.flatten(1)
                    zero = ~(flat != 0).any(1).cpu()
                    stalled[r, idx[zero & keep]] = True
                    keep &= ~zero
                    z = z + alpha * g.sign()
                    z = torch.clamp(zs + torch.clamp(z - zs, -eps, eps), 0, 1).detach()
                if not keep.all():
                    k = torch.nonzero(keep).flatten()
                    kd = k.to(z0.device)
                    idx, z, zs, ys = idx[k], z.index_select(bd, kd), zs.index_select(bd, kd), ys[kd]
                if len(idx) == 0:
                    break
            alive &= broken_at[r] == never
    return {"broken_at": broken_at, "stalled": stalled, "steps": steps}


def acc_at(track: dict, k: int, restarts: int | None = None) -> torch.Tensor:
    """Per-sample robustness (bool) after ``k`` steps of the first ``restarts`` restarts of a :func:`pgd_track` run."""
    b = track["broken_at"][: restarts or track["broken_at"].shape[0]]
    return (b > k).all(0)


def random_noise(threat: ThreatModel, x, y, eps: float = PAPER_EPS, draws: int = 20,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample robustness to ``draws`` uniform random points of the eps-ball (a Carlini et al. 2019 check)."""
    z0 = threat.inputs(x)
    robust = torch.ones(len(y), dtype=torch.bool)
    for _ in range(draws):
        u = torch.rand(z0.shape, generator=generator, dtype=z0.dtype).to(z0.device)
        robust &= (threat.predict(torch.clamp(z0 + (2 * u - 1) * eps, 0, 1)) == y).cpu()
    return robust


def eot_pgd(threat: ThreatModel, x, y, eps: float = PAPER_EPS, alpha: float = 0.01, steps: int = 7,
            samples: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """PGD on the expectation over ``samples`` encoder draws (EOT, Athalye et al. 2018b), for stochastic encoders."""
    z0 = threat.inputs(x)
    u = torch.rand(z0.shape, generator=generator, dtype=z0.dtype).to(z0.device)
    z = torch.clamp(z0 + (2 * u - 1) * eps, 0, 1)
    with threat.crafting():
        for _ in range(steps):
            g = sum(_loss_grad(threat, z, y)[0] for _ in range(samples))
            z = z + alpha * g.sign()
            z = torch.clamp(z0 + torch.clamp(z - z0, -eps, eps), 0, 1).detach()
    return z


def is_deterministic(model, x) -> bool:
    """Whether two passes on the same images give the same encoding and the same logits (to float
    tolerance): phase coding yes, Poisson rate coding no."""
    with torch.no_grad(), bn_mode(model, "eval"):
        enc = getattr(model, "encode", None)
        same_input = enc is None or torch.equal(enc(x), enc(x))
        return bool(same_input and torch.allclose(model(x), model(x), rtol=1e-5, atol=1e-6))


def zero_gradient_stats(g: torch.Tensor | None, batch_dim: int = 0) -> dict:
    """Samples whose input gradient is exactly zero everywhere, and the mean fraction of zero entries."""
    if g is None:
        return {"n": 0, "all_zero": 0, "all_zero_frac": float("nan"), "zero_frac": float("nan")}
    flat = g.transpose(0, batch_dim).flatten(1) if batch_dim else g.flatten(1)
    all_zero = ~(flat != 0).any(1)
    return {"n": int(flat.shape[0]), "all_zero": int(all_zero.sum()),
            "all_zero_frac": float(all_zero.float().mean()) if len(flat) else float("nan"),
            "zero_frac": float((flat == 0).float().mean()) if flat.numel() else float("nan")}


def worst_case(robust: dict) -> torch.Tensor:
    """Per-sample worst case over attacks: robust only if robust to every one (a per-sample AND / min)."""
    if not robust:
        raise SnnlibError("worst_case needs at least one attack")
    vals = [torch.as_tensor(v, dtype=torch.bool) for v in robust.values()]
    return torch.stack(vals).all(0)


# ------------------------------------------------------------- authors' loop


def _bn_buffers(model):
    return {n: b.detach().clone() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))}


def authors_loop(model, x, y, eps: float = AUTHORS_EPS, alpha: float = 0.01, steps: int = 7,
                 batch_size: int = 16, generator: torch.Generator | None = None, inplace: bool = False,
                 shuffle: bool = True) -> dict:
    """The authors' ``adv_test_step``, step for step, with and without its BN leak.

    Per batch (shuffled, as their test loader): encode; ``model.train()``; FGSM and
    PGD (random start, ``steps`` signed steps of ``alpha``) on the spike tensor;
    ``model.eval()``; predict. Every crafting forward in train mode moves the BN
    running statistics towards the test batch (momentum 0.1), and the leak
    carries over to every later batch. Crafting uses batch statistics, so the
    adversarial inputs are the same with or without the leak; each is predicted
    twice: with the leaked statistics (``*_leak``) and with the model's own
    (no leak). ``clean_leak`` is the batch's clean accuracy measured in the loop
    after crafting; ``clean_after`` the whole set's clean accuracy after the loop.
    Works on a copy unless ``inplace``. Accuracies count every sample, as theirs do.
    """
    work = model if inplace else copy.deepcopy(model)
    ref = copy.deepcopy(model).eval()
    before = _bn_buffers(work)
    threat = ThreatModel(work, "spike", "train")
    order = torch.randperm(len(y), generator=generator) if shuffle else torch.arange(len(y))
    keys = ("clean", "fgsm", "pgd", "clean_leak", "fgsm_leak", "pgd_leak")
    out = {k: torch.zeros(len(y), dtype=torch.bool) for k in keys}
    was = work.training
    try:
        for i in tqdm(range(0, len(y), batch_size), desc="authors' loop", disable=None, leave=False):
            b = order[i:i + batch_size]
            xb, yb = x[b.to(x.device)], y[b.to(y.device)]
            z0 = work.encode(xb).detach()
            work.train()
            g, _ = _loss_grad(threat, z0, yb)  # one train-mode forward: BN running stats move
            fgsm = torch.clamp(z0 + eps * g.sign(), 0, 1)
            u = torch.rand(z0.shape, generator=generator, dtype=z0.dtype).to(z0.device)
            z = torch.clamp(z0 + (2 * u - 1) * eps, 0, 1)
            for _ in range(steps):
                g, _ = _loss_grad(threat, z, yb)
                z = torch.clamp(z0 + torch.clamp(z + alpha * g.sign() - z0, -eps, eps), 0, 1).detach()
            work.eval()
            with torch.no_grad():
                for name, inp in (("clean", z0), ("fgsm", fgsm), ("pgd", z)):
                    out[f"{name}_leak"][b] = (work.forward_spikes(inp).argmax(1) == yb).cpu()
                    out[name][b] = (ref.forward_spikes(inp).argmax(1) == yb).cpu()
        with torch.no_grad():
            after = torch.cat([(work(x[j:j + 128]).argmax(1) == y[j:j + 128]).cpu()
                               for j in range(0, len(y), 128)])
    finally:
        work.train(was)
    drift = {n: float(((b - before[n]).norm() / before[n].norm().clamp_min(1e-12)).item())
             for n, b in _bn_buffers(work).items()}
    return {**out, "clean_after": after, "bn_drift": drift, "eps": eps, "batch_size": batch_size}


# ------------------------------------------------------------------- settings


@dataclass
class AuditSettings:
    """What the suite runs. ``quick`` is sized for 2 CPU cores, ``paper`` for a GPU runner."""

    n_eval: int = 100  # images, stratified over classes, from the config's attacked subset
    batch_size: int = 50
    eps: float = PAPER_EPS
    alpha: float = 0.01  # the paper's PGD step; also the ladder's
    ladder_steps: list = field(default_factory=lambda: [7, 50, 200])
    ladder_restarts: int = 2
    sweep_eps: list = field(default_factory=lambda: [2 / 255, 4 / 255, 8 / 255, 16 / 255, 32 / 255, 64 / 255])
    sweep_steps: int = 10  # step 2.5 * eps / steps (Madry et al.)
    estimators: list = field(default_factory=lambda: list(ESTIMATORS))
    estimator_steps: int = 10  # step 2.5 * eps / steps
    apgd_steps: int = 10
    square_queries: int = 200
    transfer_steps: int = 10  # step 2.5 * eps / steps, crafted on the source model
    noise_draws: int = 10
    eot_samples: int = 10
    autoattack: bool = False
    authors_eps: float = AUTHORS_EPS
    authors_batch_size: int = 16
    ann_twin: str | None = "ann18_max"  # config name in the same profile; None: derived by twin_config
    seed: int = 0

    @classmethod
    def for_profile(cls, profile_name: str | None = None) -> "AuditSettings":
        p = profile_name or _config.profile()
        if p == "paper":
            return cls(n_eval=1000, batch_size=250, sweep_steps=50, estimator_steps=50, apgd_steps=100,
                       square_queries=5000, transfer_steps=50, noise_draws=100, autoattack=True, ann_twin=None)
        return cls()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AuditSettings":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise SnnlibError(f"unknown audit settings {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)


# ------------------------------------------------------------------ the suite


def _stepsize(eps, steps):
    return 2.5 * eps / steps


def _gen(seed: int, i: int) -> torch.Generator:
    """The generator of batch ``i`` of a run seeded ``seed``: runs with one seed share their random starts."""
    return torch.Generator().manual_seed(int(seed) * 100003 + int(i))


def _batched(fn, x, y, bs, seed=None):
    """Apply ``fn(xb, yb) -> bool[b]`` (or ``fn(xb, yb, generator)`` if ``seed`` is given) over batches."""
    if len(y) == 0:
        return torch.zeros(0, dtype=torch.bool)
    args = lambda i: () if seed is None else (_gen(seed, i),)  # noqa: E731
    return torch.cat([fn(x[i:i + bs], y[i:i + bs], *args(i)).cpu() for i in range(0, len(y), bs)])


def _track_batched(threat, x, y, bs, seed, **kw) -> dict:
    parts = [pgd_track(threat, x[i:i + bs], y[i:i + bs], generator=_gen(seed, i), **kw)
             for i in range(0, len(y), bs)]
    if not parts:
        r = kw.get("restarts", 1)
        return {"broken_at": torch.zeros((r, 0), dtype=torch.long), "stalled": torch.zeros((r, 0), dtype=torch.bool),
                "steps": kw.get("steps")}
    return {"broken_at": torch.cat([p["broken_at"] for p in parts], 1),
            "stalled": torch.cat([p["stalled"] for p in parts], 1), "steps": parts[0]["steps"]}


def run_suite(model, x, y, settings: AuditSettings | None = None, ann=None, snn_source=None, n_classes: int = 10,
              device="cpu", labels: dict | None = None) -> dict:
    """Run the whole audit on images ``x`` (``[N,C,H,W]`` in [0,1]) and labels ``y``; return a result dict.

    ``ann`` and ``snn_source`` are the transfer sources (classifiers on the same
    images), skipped if None. Attacks run on the clean-correct samples only; a
    sample counts as robust to an attack if it is classified correctly both clean
    and under the attack. See the module docstring for the list.
    """
    s = settings or AuditSettings()
    model = model.to(device).eval()
    x, y = x.to(device), y.to(device)
    std = ThreatModel(model, "pixel", "eval")
    n, bs, eps = len(y), s.batch_size, s.eps
    timings, robust, attacks, extra = {}, {}, [], {}
    key = lambda k: int(s.seed) * 1000 + k  # noqa: E731  (one seed per section)
    gen = lambda k: torch.Generator().manual_seed(key(k))  # noqa: E731

    def clock(name):
        timings[name] = time.time() - clock.t0
        clock.t0 = time.time()
    clock.t0 = t_start = time.time()

    clean = _batched(lambda xb, yb: std.predict(xb) == yb, x, y, bs)
    att = torch.nonzero(clean).flatten()
    xa, ya = x[att.to(device)], y[att.to(device)]

    def full(v):  # robustness on the attacked subset -> all N samples
        out = torch.zeros(n, dtype=torch.bool)
        out[att] = torch.as_tensor(v, dtype=torch.bool).cpu()
        return out

    def record(name, group, v, worst=True, eps_=eps, threat="pixel/eval", note=""):
        robust[name] = v
        attacks.append({"attack": name, "group": group, "eps": eps_, "threat": threat, "acc": float(v.float().mean()),
                        "n_robust": int(v.sum()), "in_worst_case": worst, "note": note})

    record("clean", "clean", clean, note="no attack")
    deterministic = is_deterministic(model, x[: min(8, n)])
    clock("clean")

    # 3 + paper setting: FGSM and PGD-7 exactly as the paper (alpha 0.01, last iterate)
    record("FGSM", "one-step", full(_batched(lambda xb, yb: std.predict(FGSM(std, eps)(xb, yb)) == yb, xa, ya, bs)))
    record("PGD-7 (paper)", "paper", full(_batched(
        lambda xb, yb, g: std.predict(PGD(std, eps, s.alpha, 7, generator=g)(xb, yb)) == yb, xa, ya, bs, key(1))),
        note="alpha 0.01, last iterate")
    clock("fgsm_pgd7")

    # 1: step ladder, one trajectory with best-iterate tracking, plus restarts
    smax = max(s.ladder_steps)
    # same random starts as the paper's PGD-7: its last iterate is the ladder's iterate 7
    tr = _track_batched(std, xa, ya, bs, key(1), eps=eps, alpha=s.alpha, steps=smax, restarts=s.ladder_restarts)
    for k in s.ladder_steps:
        record(f"PGD-{k}", "steps", full(acc_at(tr, k, 1)), note=f"alpha {s.alpha:g}, best iterate, 1 restart")
    if s.ladder_restarts > 1:
        record(f"PGD-{smax} x{s.ladder_restarts}", "steps", full(acc_at(tr, smax)),
               note=f"{s.ladder_restarts} restarts, per-sample worst")
    curve = [float(full(acc_at(tr, k, 1)).float().mean()) for k in range(smax + 1)]
    extra["ladder"] = {"steps": list(range(smax + 1)), "acc": curve, "rungs": list(s.ladder_steps),
                       "restarts": s.ladder_restarts, "alpha": s.alpha,
                       "stalled": int(tr["stalled"].any(0).sum())}
    clock("ladder")

    # 2: eps sweep
    sweep = []
    for j, e in enumerate(sorted(s.sweep_eps)):
        t = _track_batched(std, xa, ya, bs, key(10 + j), eps=e, alpha=_stepsize(e, s.sweep_steps),
                           steps=s.sweep_steps)
        v = full(acc_at(t, s.sweep_steps))
        sweep.append({"eps": e, "eps_255": round(e * 255, 3), "acc": float(v.float().mean()), "n_robust": int(v.sum())})
        if math.isclose(e, eps):
            record(f"PGD-{s.sweep_steps} (sweep step)", "steps", v, note="alpha 2.5 eps/steps")
    extra["sweep"] = sweep
    clock("sweep")

    # 5: gradient estimators (attack time only), same PGD budget each
    est_rows, est_robust = [], {}
    for name in s.estimators:
        with estimator(model, name):
            t = _track_batched(std, xa, ya, bs, key(30), eps=eps, alpha=_stepsize(eps, s.estimator_steps),
                               steps=s.estimator_steps)  # same random starts for every estimator
            zs = zero_gradient_stats(_grads(std, xa, ya, bs))
        v = full(acc_at(t, s.estimator_steps))
        est_robust[name] = v
        record(f"PGD-{s.estimator_steps} [{name}]", "estimator", v, note=ESTIMATOR_LABELS[name])
        est_rows.append({"estimator": name, "label": ESTIMATOR_LABELS[name], "acc": float(v.float().mean()),
                         "stalled": int(full(t["stalled"].any(0)).sum()), **{f"grad_{k}": w for k, w in zs.items()}})
    if est_robust:
        wc = worst_case(est_robust)
        est_rows.append({"estimator": "worst case", "label": "per-sample worst over estimators",
                         "acc": float(wc.float().mean())})
    extra["estimators"] = est_rows
    clock("estimators")

    # 6: APGD-CE, APGD-DLR (+ AutoAttack)
    for name in ("apgd-ce", "apgd-dlr"):
        if name == "apgd-dlr" and n_classes < 3:
            continue
        v = _batched(lambda xb, yb: std.predict(run_torchattack(name, std, xb, yb, eps, n_classes, s.seed,
                                                                steps=s.apgd_steps)) == yb, xa, ya, bs)
        record(name.upper(), "adaptive", full(v), note=f"{s.apgd_steps} steps (torchattacks)")
    if s.autoattack:
        v = _batched(lambda xb, yb: std.predict(run_torchattack("autoattack", std, xb, yb, eps, n_classes,
                                                                s.seed)) == yb, xa, ya, bs)
        record("AutoAttack", "adaptive", full(v), note="standard version (torchattacks)")
    clock("apgd")

    # 4: black box: Square and transfer
    v = _batched(lambda xb, yb: std.predict(run_torchattack("square", std, xb, yb, eps, n_classes, s.seed,
                                                            n_queries=s.square_queries)) == yb, xa, ya, bs)
    record("Square", "black-box", full(v), note=f"{s.square_queries} queries")
    for j, (src_name, src) in enumerate((("transfer: ANN twin", ann), ("transfer: other SNN", snn_source))):
        if src is None:
            continue
        src = src.to(device).eval()
        st = ThreatModel(src, "pixel", "eval")
        pgd = PGD(st, eps, _stepsize(eps, s.transfer_steps), s.transfer_steps, generator=gen(50 + j))
        v = _batched(lambda xb, yb: std.predict(pgd(xb, yb)) == yb, xa, ya, bs)
        label = (labels or {}).get("ann" if j == 0 else "snn", "")
        record(src_name, "black-box", full(v), note=f"PGD-{s.transfer_steps} on {label}".strip())
    clock("black_box")

    # random noise in the eps-ball
    g = gen(60)
    v = _batched(lambda xb, yb: random_noise(std, xb, yb, eps, s.noise_draws, g), xa, ya, bs)
    record("random noise", "noise", full(v), note=f"{s.noise_draws} uniform draws")
    clock("noise")

    # 7: EOT, only for stochastic models
    if not deterministic:
        g = gen(70)
        v = _batched(lambda xb, yb: std.predict(eot_pgd(std, xb, yb, eps, s.alpha, 7, s.eot_samples, g)) == yb,
                     xa, ya, bs)
        record(f"EOT-PGD-7 ({s.eot_samples} draws)", "eot", full(v))
    extra["eot"] = {"deterministic": deterministic, "run": not deterministic}
    clock("eot")

    # 8: zero gradients at the clean images (training surrogate), pixel and spike space
    zrows = []
    for space in ("pixel", "spike"):
        t = ThreatModel(model, space, "eval")
        zrows.append({"space": space, **zero_gradient_stats(_grads(t, x, y, bs), _bdim(t))})
    extra["zero_gradients"] = zrows
    clock("zero_gradients")

    # 9: threat-model switches (paper's FGSM and PGD-7, eps 8/255) and the authors' loop
    sw = []
    for space in ("pixel", "spike"):
        for bn in ("eval", "train"):
            t = ThreatModel(model, space, bn)
            f = full(_batched(lambda xb, yb: t.predict(FGSM(t, eps)(xb, yb)) == yb, xa, ya, bs))
            p = full(_batched(lambda xb, yb, g: t.predict(PGD(t, eps, s.alpha, 7, generator=g)(xb, yb)) == yb,
                              xa, ya, bs, key(1)))  # the paper's PGD-7 random starts
            sw.append({"space": space, "bn": bn, "fgsm_acc": float(f.float().mean()),
                       "pgd_acc": float(p.float().mean())})
            robust[f"switch {space}/{bn} FGSM"], robust[f"switch {space}/{bn} PGD-7"] = f, p
    extra["switches"] = sw
    clock("switches")
    al = authors_loop(model, x, y, s.authors_eps, s.alpha, 7, s.authors_batch_size, gen(90))
    extra["authors_loop"] = {k: (float(v.float().mean()) if isinstance(v, torch.Tensor) else v) for k, v in al.items()}
    for k in ("clean", "fgsm", "pgd", "clean_leak", "fgsm_leak", "pgd_leak", "clean_after"):
        robust[f"authors {k}"] = al[k]
    clock("authors_loop")

    res = {"n_eval": n, "n_attacked": len(att), "attacks": attacks, **extra,
           "per_sample": {k: v.int().tolist() for k, v in robust.items()},
           "timings": timings, "attack_time_s": time.time() - t_start}
    return derive(res)


def derive(res: dict) -> dict:
    """Add the per-sample worst case, the summary (``final``) and the red flags to a suite result.

    Everything here is computed from the stored per-sample results, so a cached
    result is re-derived on loading without running any attack again.
    """
    attacks = res["attacks"]
    ps = {k: torch.tensor(v, dtype=torch.bool) for k, v in res["per_sample"].items()}
    wc = worst_case({a["attack"]: ps[a["attack"]] for a in attacks if a["in_worst_case"]})
    res["per_sample"]["worst case"] = wc.int().tolist()
    acc = attack_acc(res)
    worst_acc = float(wc.float().mean())
    low = min(a["acc"] for a in attacks if a["group"] != "clean")
    lowest = [a["attack"] for a in attacks if a["group"] != "clean" and a["acc"] == low]
    res["final"] = {"n_eval": res["n_eval"], "clean_acc": acc["clean"], "fgsm_acc": acc["FGSM"],
                    "pgd7_acc": acc["PGD-7 (paper)"], "worst_acc": worst_acc, "gap": acc["PGD-7 (paper)"] - worst_acc,
                    "strongest_single": ", ".join(lowest), "strongest_single_acc": low}
    res["flags"] = red_flags(res)
    res["final"]["flags_fired"] = [f["flag"] for f in res["flags"] if f["fired"]]
    return res


def _grads(threat: ThreatModel, x, y, bs) -> torch.Tensor:
    """Input gradients of the per-sample loss at the clean inputs, batched (BN as in ``threat``)."""
    bd = _bdim(threat)
    parts = []
    with threat.crafting():
        for i in range(0, len(y), bs):
            parts.append(_loss_grad(threat, threat.inputs(x[i:i + bs]), y[i:i + bs])[0].cpu())
    return torch.cat(parts, bd) if parts else None  # no samples (e.g. none classified correctly)


# ----------------------------------------------------------------- red flags

FLAG_TEXT = {
    "one_step_beats_iterative": ("One-step beats iterative", "Athalye et al. 2018; Carlini et al. 2019",
                                 "FGSM accuracy < PGD-7 accuracy"),
    "black_box_beats_white_box": ("Black-box beats white-box", "Athalye et al. 2018; Carlini et al. 2019",
                                  "best black-box accuracy (Square, transfer) < PGD-7 accuracy"),
    "unbounded_eps_not_100": ("Large eps does not reach full attack success",
                              "Athalye et al. 2018; Carlini et al. 2019",
                              "PGD accuracy at the largest eps of the sweep > 0"),
    "random_noise_finds": ("Random noise finds adversarial examples", "Carlini et al. 2019",
                           "some sample broken by random noise survives PGD-7"),
    "more_steps_keep_helping": ("More steps keep helping", "Carlini et al. 2019",
                                "PGD accuracy still falls between the two longest runs (50 and 200 steps)"),
    "other_estimator_helps": ("Another gradient estimator beats the training surrogate",
                              "SNN-specific (Wang et al. 2025; Özdenizci & Legenstein 2024; Bu et al. 2023)",
                              "worst case over the other estimators < ATan alpha=2 accuracy (same PGD budget)"),
    "zero_gradients": ("Exactly-zero input gradients", "SNN-specific (paper Section 4.3.1)",
                       "some sample's pixel-space input gradient is exactly zero"),
}


def red_flags(r: dict) -> list[dict]:
    """The red-flag checklist (Athalye et al. 2018; Carlini et al. 2019) plus SNN-specific checks, from a result."""
    acc = attack_acc(r)
    ps = {k: torch.tensor(v, dtype=torch.bool) for k, v in r["per_sample"].items()}
    p7 = acc["PGD-7 (paper)"]
    out = []

    def flag(key, fired, evidence):
        title, source, rule = FLAG_TEXT[key]
        out.append({"flag": key, "check": title, "source": source, "rule": rule, "fired": bool(fired),
                    "evidence": evidence})

    flag("one_step_beats_iterative", acc["FGSM"] < p7, f"FGSM {acc['FGSM']:.1%} vs PGD-7 {p7:.1%}")
    bb = {k: v for k, v in acc.items() if k == "Square" or k.startswith("transfer")}
    if bb:
        name = min(bb, key=bb.get)
        wb = {a["attack"]: a["acc"] for a in r["attacks"] if a["group"] not in ("clean", "black-box", "noise")}
        best = min(wb, key=wb.get)
        flag("black_box_beats_white_box", bb[name] < p7, f"{name} {bb[name]:.1%} vs PGD-7 {p7:.1%} "
             f"(strongest white-box: {best} {wb[best]:.1%})")
    if r.get("sweep"):
        top = max(r["sweep"], key=lambda d: d["eps"])
        flag("unbounded_eps_not_100", top["acc"] > 0, f"eps {top['eps_255']:g}/255: {top['acc']:.1%} robust "
             f"({top['n_robust']} of {r['n_eval']})")
    noise_only = (~ps["random noise"] & ps["PGD-7 (paper)"] & ps["clean"]).sum().item()
    flag("random_noise_finds", noise_only > 0, f"{noise_only} sample(s) broken by noise but not by PGD-7")
    rungs = (r.get("ladder") or {}).get("rungs", [])
    if len(rungs) >= 2:
        lad = {a["attack"]: a["acc"] for a in r["attacks"] if a["group"] == "steps" and "sweep" not in a["attack"]}
        flag("more_steps_keep_helping", lad[f"PGD-{rungs[-1]}"] < lad[f"PGD-{rungs[-2]}"],
             " -> ".join(f"{k} {v:.1%}" for k, v in lad.items()))
    est = {k: v for k, v in ps.items() if k.startswith("PGD-") and "[" in k}
    base = [k for k in est if k.endswith("[atan-2]")]
    if base and len(est) > 1:
        others = worst_case({k: v for k, v in est.items() if k != base[0]})
        a_o, a_b = others.float().mean().item(), est[base[0]].float().mean().item()
        flag("other_estimator_helps", a_o < a_b, f"other estimators (worst case) {a_o:.1%} vs ATan alpha=2 {a_b:.1%}")
    z = [d for d in r.get("zero_gradients", []) if d["space"] == "pixel"]
    if z:
        flag("zero_gradients", z[0]["all_zero"] > 0,
             f"{z[0]['all_zero']} of {z[0]['n']} samples; {z[0]['zero_frac']:.1%} of pixel-gradient entries are zero")
    return out


def verdict(r: dict, label: str) -> str:
    """A one-paragraph verdict from a suite result; fixed rules, written before the results were seen."""
    f = r["final"]
    p7, wc, clean = f["pgd7_acc"], f["worst_acc"], f["clean_acc"]
    fired = [x["check"].lower() for x in r["flags"] if x["fired"]]
    text = (f"**{label}.** Clean accuracy {clean:.1%} on {f['n_eval']} images; the paper's PGD-7 leaves "
            f"{p7:.1%}, the per-sample worst case over the suite {wc:.1%}")
    if p7 > 0:
        text += f" ({f['gap'] / p7:.0%} of the PGD-7 robustness gone)"
    n_low = len(f["strongest_single"].split(", "))
    text += (f"; the strongest single attack{'s are' if n_low > 1 else ' is'} {f['strongest_single']} "
             f"({f['strongest_single_acc']:.1%}{' each' if n_low > 1 else ''}). ")
    text += ("Red flags that fired: " + "; ".join(fired) + ". ") if fired else "No red flag fired. "
    if p7 == 0:
        text += "PGD-7 already leaves nothing robust, so there is no robustness to explain."
    elif wc == 0:
        text += ("Nothing survives the whole suite: the robustness that PGD-7 reports is an artifact of how "
                 "the model was attacked.")
    elif f["gap"] >= p7 / 2:
        text += ("Most of the robustness that PGD-7 reports is an artifact of a weak attack; what is left is an "
                 "upper bound, not evidence of robustness.")
    elif f["gap"] > 0:
        text += ("Stronger attacks lower the number but most of it survives this budget; it remains an upper "
                 "bound on the true robust accuracy.")
    else:
        text += "No attack of the suite lowers the PGD-7 number at this budget."
    return text


# -------------------------------------------------------- configs and caching


def twin_config(cfg: _config.Config, name: str | None = None) -> _config.Config:
    """The ANN twin of a config: the same ResNet and training recipe, ReLU instead of IF, direct input, T=1."""
    return _config.with_overrides(cfg, [f"name={name or cfg.name + '_ann'}", "model.neuron=relu",
                                        "model.encoder=direct", "model.T=1",
                                        "notes=ANN twin (ReLU, direct input, T=1) of " + cfg.name])


def snn_transfer_source(cfg: _config.Config, profile_name: str | None = None) -> _config.Config | None:
    """Another SNN of the profile on the same data: the other pooling variant, else the SEW model with the same pool."""
    cands = [c for c in _config.load_profile(profile_name or cfg.profile).values()
             if c.model.neuron == "if" and c.data.dataset == cfg.data.dataset and c.name != cfg.name]
    for pick in (lambda c: c.model.arch == cfg.model.arch and c.model.pool != cfg.model.pool,
                 lambda c: c.model.arch.startswith("sew") and c.model.pool == cfg.model.pool
                 and c.model.arch[-2:] == cfg.model.arch[-2:]):
        hit = sorted((c for c in cands if pick(c)), key=lambda c: c.name)
        if hit:
            return hit[0]
    return None


def ann_twin_config(cfg: _config.Config, settings: AuditSettings) -> _config.Config:
    if settings.ann_twin:
        prof = cfg.profile if cfg.profile in _config.PROFILES else _config.profile()
        return _config.load_config(_config.config_path(settings.ann_twin, prof))
    return twin_config(cfg)


def audit_key(cfg, settings, sources) -> str:
    d = {"eval": cfg.eval_key(), "settings": settings.to_dict(),
         "sources": {k: (c.train_key() if c is not None else None) for k, c in sources.items()}}
    return _config._hash(d)


def run_config(cfg: _config.Config, device: str | None = None, force: bool = False,
               settings: AuditSettings | None = None) -> dict:
    """The audit of one config's trained model, cached as ``results/<profile>/<run_id>/audit-<key>.json``.

    The key covers the config's ``eval_key``, the suite settings and the transfer
    sources' training keys; a second call returns the file without recomputing.
    """
    device = device or _config.device()
    prof = cfg.profile if cfg.profile in _config.PROFILES else None
    s = settings or AuditSettings.for_profile(prof)
    if settings is None and prof is None:  # a custom config: derive its own ANN twin
        s.ann_twin = None
    sources = {"ann": ann_twin_config(cfg, s), "snn": snn_transfer_source(cfg, prof)}
    key = audit_key(cfg, s, sources)
    out = results.run_dir(cfg) / f"audit-{key[:10]}.json"
    if out.exists() and not force:
        r = derive(results.read_json(out))
        r["verdict"] = verdict(r, r.get("name", cfg.name))
        r["result_file"] = str(out)
        return r
    t0 = time.time()
    train.ensure_trained(cfg, device)
    model = train.load_trained(cfg, "best", device)
    loaded, source_acc = {}, {}
    for k, c in sources.items():
        if c is not None:
            source_acc[k] = train.ensure_trained(c, device)["final"]["test_acc_best"]
            loaded[k] = train.load_trained(c, "best", device)
    ds = train.load_data(cfg, "eval")
    from .data import stratified_indices

    per_class = max(1, s.n_eval // ds.num_classes)
    idx = stratified_indices(ds.targets, per_class, cfg.seed)
    x, y = ds.batch(idx)
    labels = {k: c.name for k, c in sources.items() if c is not None}
    r = run_suite(model, x, y, s, ann=loaded.get("ann"), snn_source=loaded.get("snn"), n_classes=ds.num_classes,
                  device=device, labels=labels)
    res = {"kind": "audit", "run_id": cfg.run_id, "name": cfg.name, "eval_key": cfg.eval_key(), "audit_key": key,
           "config": cfg.to_dict(), "settings": s.to_dict(), "env": results.environment(device, cfg.seed),
           "sources": {k: (c.run_id if c is not None else None) for k, c in sources.items()},
           "source_acc": source_acc,
           "data": {"source": ds.source, "n_eval": len(y), "per_class": per_class, "indices": idx.tolist()},
           **r, "verdict": verdict(r, cfg.name), "wall_time_s": time.time() - t0}
    results.write_json(out, res)
    res["result_file"] = str(out)
    return res


#: The configs the book audits in the paper profile (on a GPU runner): the 18-layer models.
PAPER_AUDITED = ("sew18_max_cifar10", "sew18_avg_cifar10", "spiking18_max_cifar100")


def audited_configs(profile_name: str | None = None) -> dict[str, _config.Config]:
    """The SNN configs a profile audits: all of quick's; the 18-layer ones of paper's (ANN twins are not audited)."""
    p = profile_name or _config.profile()
    cfgs = {k: c for k, c in _config.load_profile(p).items() if c.model.neuron == "if"}
    return {k: cfgs[k] for k in PAPER_AUDITED if k in cfgs} if p == "paper" else cfgs


def run_profile(names=None, device: str | None = None, force: bool = False, profile_name: str | None = None,
                settings: AuditSettings | None = None) -> dict[str, dict]:
    """:func:`run_config` for every (or the named) audited config of a profile."""
    device = device or _config.device()
    cfgs = audited_configs(profile_name)
    if names is not None:
        missing = [n for n in names if n not in cfgs]
        if missing:
            raise SnnlibError(f"no SNN config {missing} in this profile; available: {', '.join(cfgs)}")
        cfgs = {n: cfgs[n] for n in names}
    return {n: run_config(c, device, force, settings) for n, c in cfgs.items()}


# ------------------------------------------------------------------- tables


def summary_table(res: dict[str, dict]) -> pd.DataFrame:
    """Per model: clean, PGD-7 (paper setting) and worst-case accuracy, and the gap."""
    rows = []
    for name, r in res.items():
        f = r["final"]
        rows.append({"model": name, "n eval": f["n_eval"], "clean": f["clean_acc"], "FGSM": f["fgsm_acc"],
                     "PGD-7 (paper)": f["pgd7_acc"], "worst case": f["worst_acc"], "gap": f["gap"],
                     "strongest single attack(s)": f["strongest_single"]})
    return pd.DataFrame(rows).set_index("model")


def attack_frame(res: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, attack): accuracy, group, whether it enters the worst case."""
    return pd.DataFrame([{"model": name, **a} for name, r in res.items() for a in r["attacks"]])


def ladder_frame(res: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": name, "steps": k, "acc": a} for name, r in res.items()
                         for k, a in zip(r["ladder"]["steps"], r["ladder"]["acc"])])


def sweep_frame(res: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": name, **d} for name, r in res.items() for d in r["sweep"]])


def estimator_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": name, **d} for name, r in res.items() for d in r["estimators"]]
    return pd.DataFrame(rows).pivot(index="estimator", columns="model", values="acc").reindex(
        [*ESTIMATORS, "worst case"]).dropna(how="all")


def flags_table(res: dict[str, dict]) -> pd.DataFrame:
    """Red-flag checklist: one row per check, one column per model (fired or not, with the evidence)."""
    rows = {}
    for name, r in res.items():
        for f in r["flags"]:
            row = rows.setdefault(f["check"], {"check": f["check"], "rule": f["rule"], "source": f["source"]})
            row[name] = ("FIRES: " if f["fired"] else "no: ") + f["evidence"]
    return pd.DataFrame(list(rows.values())).set_index("check")


def switch_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": name, "space": d["space"], "bn": d["bn"], "FGSM": d["fgsm_acc"], "PGD-7": d["pgd_acc"]}
            for name, r in res.items() for d in r["switches"]]
    return pd.DataFrame(rows).set_index(["model", "space", "bn"])


def leak_table(res: dict[str, dict]) -> pd.DataFrame:
    """The authors' loop: each accuracy without and with the BN leak, and the difference."""
    rows = []
    for name, r in res.items():
        a = r["authors_loop"]
        for k, lab in (("clean", "clean (in the loop)"), ("fgsm", "FGSM"), ("pgd", "PGD-7")):
            rows.append({"model": name, "accuracy": lab, "no leak": a[k], "authors' loop": a[f"{k}_leak"],
                         "leak effect": a[f"{k}_leak"] - a[k]})
        rows.append({"model": name, "accuracy": "clean (after the loop)", "no leak": a["clean"],
                     "authors' loop": a["clean_after"], "leak effect": a["clean_after"] - a["clean"]})
    return pd.DataFrame(rows).set_index(["model", "accuracy"])


def zero_grad_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": name, "gradient": f"{d['space']} space, ATan alpha=2", "samples": d["n"],
             "all-zero samples": d["all_zero"], "zero entries": d["zero_frac"]}
            for name, r in res.items() for d in r["zero_gradients"]]
    rows += [{"model": name, "gradient": f"pixel space, {ESTIMATOR_LABELS.get(d['estimator'], d['label'])}",
              "samples": d["grad_n"],
              "all-zero samples": d["grad_all_zero"], "zero entries": d["grad_zero_frac"]}
             for name, r in res.items() for d in r["estimators"] if "grad_n" in d and d["estimator"] != "atan-2"]
    return pd.DataFrame(rows).set_index(["model", "gradient"])


def fired_for(res: dict[str, dict], flag: str) -> str:
    """The models for which a red flag fired, as text ("none of the models" if none)."""
    hit = [name for name, r in res.items() for f in r["flags"] if f["flag"] == flag and f["fired"]]
    return ", ".join(hit) if hit else "none of the models"


def settings_table(s: AuditSettings) -> pd.DataFrame:
    """The suite's settings, one row per check, in words (for the book)."""
    e = f"{s.eps * 255:g}/255"
    rows = [
        ("evaluation subset", f"{s.n_eval} test images, stratified; attacks run on the clean-correct ones"),
        ("1. steps and restarts", f"PGD, eps {e}, step {s.alpha:g}, {' / '.join(map(str, s.ladder_steps))} steps "
         f"(prefixes of one run, best iterate), {s.ladder_restarts} restarts of the longest"),
        ("2. eps sweep", f"PGD-{s.sweep_steps} (step 2.5 eps/steps) at eps = "
         + ", ".join(f"{v * 255:g}" for v in sorted(s.sweep_eps)) + " (/255)"),
        ("3. one-step", f"FGSM and the paper's PGD-7 (step {s.alpha:g}, last iterate), eps {e}"),
        ("4. black-box", f"Square, {s.square_queries} queries; transfer of PGD-{s.transfer_steps} from the ANN twin "
         "and from another SNN"),
        ("5. gradient estimators", f"PGD-{s.estimator_steps} (step 2.5 eps/steps) with each of "
         + "; ".join(ESTIMATOR_LABELS[k] for k in s.estimators)),
        ("6. adaptive attacks", f"APGD-CE and APGD-DLR, {s.apgd_steps} steps"
         + ("; AutoAttack (standard)" if s.autoattack else "; AutoAttack not run at this budget")),
        ("7. EOT", f"EOT-PGD with {s.eot_samples} encoder draws, only for stochastic encoders"),
        ("random noise", f"{s.noise_draws} uniform draws in the eps-ball"),
        ("8. zero gradients", "input gradient of the loss at the clean images: all images, pixel and spike "
         "space, training surrogate; the attacked images, pixel space, every estimator"),
        ("9. threat models", f"FGSM and PGD-7 at eps {e} in pixel/spike space with BN eval/train; the authors' "
         f"loop at eps {s.authors_eps * 255:g}/255, batch {s.authors_batch_size}"),
    ]
    return pd.DataFrame(rows, columns=["check", "setting"])


def attack_acc(r: dict) -> dict:
    """``{attack name: accuracy}`` of one suite result."""
    return {a["attack"]: a["acc"] for a in r["attacks"]}
