"""The audit's checks, one function per item of the suite (Athalye et al. 2018; Carlini et al. 2019;
Croce & Hein 2020; Wang et al. 2025), and the primitives they share.

Each check takes the :class:`~snnlib.audit.suite.Suite` and records attacks (per-sample robustness,
with a group) or extra results into it. An attack that cannot apply to the model (an adaptive
surrogate on a model without spiking neurons, an encoder backward without a phase encoder) is
recorded as skipped with the reason. :data:`CHECKS` is the suite, in order.
"""

from __future__ import annotations

import math

import torch

from .. import models
from ..attacks import (
    EOTPGD,
    FGSM,
    PGD,
    SAPGD,
    SPSA,
    LevelSearch,
    SpikeProjectedPGD,
    ThreatModel,
    acc_at,
    bn_mode,
    concat_tracks,
    estimator,
    pgd_trace,
    pgd_track,
    random_start,
    run_torchattack,
)
from ..attacks import ESTIMATOR_LABELS
from ..attacks import threat as registered_threat
from ..authors import authors_loop
from ..encoding import PhaseEncoder, RateEncoder
from ..errors import NotApplicable, SnnlibError
from ..kernels import flush_denormals
from . import records as R
from .suite import Suite, batch_generator, stepsize

#: the attack groups whose contribution the attribution separates (``paper`` is PGD-7 itself)
GROUPS = ("one-step", "steps", "step size", "estimator", "adaptive", "encoder BPDA", "black-box", "noise", "eot")

# ----------------------------------------------------------------- primitives


def random_noise(
    threat: ThreatModel, x, y, eps: float, draws: int = 20, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample robustness to ``draws`` uniform random points of the eps-ball (a Carlini et al. 2019 check)."""
    z0 = threat.inputs(x)
    robust = torch.ones(len(y), dtype=torch.bool)
    for _ in range(draws):
        robust &= (threat.predict(random_start(z0, eps, generator)) == y).cpu()
    return robust


def randomness(model, x, n: int = 5) -> dict:
    """AutoAttack's randomness check, and which kind: ``n`` forwards on the same images; ``stochastic`` if the
    encoder's output differs between calls, ``stateful`` if only the logits do (state leaks between calls)."""
    with torch.no_grad(), bn_mode(model, "eval"):
        outs = [model(x).float() for _ in range(n)]
        enc = getattr(model, "encode", None)
        enc_differs = enc is not None and not torch.equal(enc(x), enc(x))
    norm = [o / o.norm(dim=1, keepdim=True).clamp_min(1e-12) for o in outs]
    dist = max(float((a - norm[0]).norm(dim=1).max()) for a in norm[1:]) if n > 1 else 0.0
    preds_differ = any(not torch.equal(o.argmax(1), outs[0].argmax(1)) for o in outs[1:])
    differ = preds_differ or dist > 1e-4 or enc_differs  # a random encoder counts even where the logits agree
    kind = "deterministic" if not differ else "stochastic" if enc_differs else "stateful"
    return {"deterministic": not differ, "kind": kind, "max_logit_distance": dist, "predictions_differ": preds_differ}


def is_deterministic(model, x) -> bool:
    """Whether repeated forwards on the same images agree (AutoAttack's check): phase coding yes, rate coding no."""
    return randomness(model, x)["deterministic"]


def output_range(model, x) -> dict:
    """AutoAttack's output check: do the outputs look like probabilities (in [0, 1], rows summing to 1)?"""
    with torch.no_grad(), bn_mode(model, "eval"):
        out = model(x).float()
    probs = bool(out.max() < 1 + 1e-5 and out.min() > -1e-5 and (out.sum(1) - 1).abs().max() < 1e-5)
    return {"probabilities": probs, "min": float(out.min()), "max": float(out.max()), "n_classes": int(out.shape[-1])}


def zero_gradient_stats(g: torch.Tensor | None, batch_dim: int = 0) -> dict:
    """Samples whose input gradient is exactly zero everywhere (and which), and the fraction of zero entries."""
    if g is None:
        return {"n": 0, "all_zero": 0, "all_zero_frac": float("nan"), "zero_frac": float("nan"), "which": []}
    flat = g.transpose(0, batch_dim).flatten(1) if batch_dim else g.flatten(1)
    all_zero = ~(flat != 0).any(1)
    return {
        "n": int(flat.shape[0]),
        "all_zero": int(all_zero.sum()),
        "all_zero_frac": float(all_zero.float().mean()) if len(flat) else float("nan"),
        "zero_frac": float((flat == 0).float().mean()) if flat.numel() else float("nan"),
        "which": torch.nonzero(all_zero).flatten().tolist(),
    }


def worst_case(robust: dict) -> torch.Tensor:
    """Per-sample worst case over attacks: robust only if robust to every one (a per-sample AND / min)."""
    if not robust:
        raise SnnlibError("worst_case needs at least one attack")
    return torch.stack([torch.as_tensor(v, dtype=torch.bool) for v in robust.values()]).all(0)


def input_grads(threat: ThreatModel, x, y, bs) -> torch.Tensor | None:
    """Input gradients of the per-sample loss at the clean inputs, batched (BN as in ``threat``). Denormals are kept
    (not flushed to zero, :func:`snnlib.kernels.flush_denormals`): callers count the gradient's exact zeros."""
    parts = []
    with threat.crafting(), flush_denormals(False):
        for i in range(0, len(y), bs):
            parts.append(threat.grad(threat.inputs(x[i : i + bs]), y[i : i + bs])[0].cpu())
    return torch.cat(parts, threat.batch_dim) if parts else None  # no samples (e.g. none classified correctly)


def track(suite: Suite, threat: ThreatModel, seed: int, **kw) -> dict:
    """:func:`~snnlib.attacks.pgd_track` over the attacked subset in batches, with per-batch generators."""
    x, y = suite.attacked
    parts = [
        pgd_track(threat, x[i : i + suite.bs], y[i : i + suite.bs], generator=batch_generator(seed, i), **kw)
        for i in range(0, len(y), suite.bs)
    ]
    return concat_tracks(parts, kw.get("restarts", 1), kw.get("steps"))


def has_phase(model) -> bool:
    return isinstance(getattr(model, "encoder", None), PhaseEncoder)


# ------------------------------------------------------------------ checks


def check_clean(suite: Suite):
    """Clean accuracy; sets the attacked subset; AutoAttack's randomness and output-range checks."""
    std = suite.std
    clean = suite.batched(lambda xb, yb: std.predict(xb) == yb, suite.x, suite.y)
    suite.att = torch.nonzero(clean).flatten()
    suite.record(R.CLEAN, "clean", "clean", clean, note="no attack")
    probe = suite.x[: min(8, suite.n)]
    suite.extra["randomness"] = randomness(suite.model, probe)
    suite.extra["output_range"] = output_range(suite.model, probe)
    suite.deterministic = suite.extra["randomness"]["deterministic"]


def check_paper(suite: Suite):
    """3 + the paper's setting: FGSM and PGD-7 exactly as the paper (alpha 0.01, last iterate)."""
    std, eps, s = suite.std, suite.eps, suite.s
    v, xa = suite.adversarial(lambda xb, yb: FGSM(std, eps)(xb, yb))
    suite.record(R.FGSM, "FGSM", "one-step", v, x_adv=xa, steps=1)
    v, xa = suite.adversarial(lambda xb, yb, g: PGD(std, eps, s.alpha, 7, generator=g)(xb, yb), seed=suite.key(1))
    suite.record(R.PGD7, "PGD-7 (paper)", "paper", v, x_adv=xa, steps=7, restarts=1, note="alpha 0.01, last iterate")


def check_ladder(suite: Suite):
    """1: one PGD trajectory with best-iterate tracking (prefixes give the shorter runs), plus restarts."""
    s, smax = suite.s, max(suite.s.ladder_steps)
    # same random starts as the paper's PGD-7: its last iterate is the ladder's iterate 7
    tr = track(suite, suite.std, suite.key(1), eps=suite.eps, alpha=s.alpha, steps=smax, restarts=s.ladder_restarts)
    for k in s.ladder_steps:
        v = suite.full(acc_at(tr, k, 1))
        note = f"alpha {s.alpha:g}, best iterate, 1 restart"
        suite.record(R.ladder(k), f"PGD-{k}", "steps", v, steps=k, restarts=1, note=note)
    if s.ladder_restarts > 1:
        r = s.ladder_restarts
        v, note = suite.full(acc_at(tr, smax)), f"{r} restarts, per-sample worst"
        suite.record(R.ladder(smax, r), f"PGD-{smax} x{r}", "steps", v, steps=smax, restarts=r, note=note)
    curve = [float(suite.full(acc_at(tr, k, 1)).float().mean()) for k in range(smax + 1)]
    suite.extra["ladder"] = {
        "steps": list(range(smax + 1)),
        "acc": curve,
        "rungs": list(s.ladder_steps),
        "restarts": s.ladder_restarts,
        "alpha": s.alpha,
        "stalled": int(tr["stalled"].any(0).sum()),
    }


def check_trace(suite: Suite):
    """10b: the paper's PGD (same random starts, alpha) followed without stopping: loss and prediction per
    iterate, to see whether iterates climb the loss or wander in and out of misclassification."""
    x, y = suite.attacked
    parts = [
        pgd_trace(
            suite.std,
            x[i : i + suite.bs],
            y[i : i + suite.bs],
            suite.eps,
            suite.s.alpha,
            suite.s.trace_steps,
            batch_generator(suite.key(1), i),
        )
        for i in range(0, len(y), suite.bs)
    ]
    if not parts:
        return
    loss, wrong = torch.cat([p["loss"] for p in parts], 1), torch.cat([p["wrong"] for p in parts], 1)
    k = min(7, suite.s.trace_steps)
    suite.extra["trace"] = {
        "steps": list(range(suite.s.trace_steps + 1)),
        "mean_loss": loss.mean(1).tolist(),
        "median_loss": loss.median(1).values.tolist(),
        "wrong": wrong.float().mean(1).tolist(),
        "ever_wrong_by_7": int(wrong[: k + 1].any(0).sum()),
        "wrong_at_7": int(wrong[k].sum()),
        "wrong_before_right_at_7": int((wrong[: k + 1].any(0) & ~wrong[k]).sum()),
        "mean_flips": float(torch.cat([p["flips"] for p in parts]).float().mean()),
        "loss_examples": loss[:, : min(8, loss.shape[1])].T.tolist(),
        "n": int(loss.shape[1]),
    }


def check_sweep(suite: Suite):
    """2: PGD at every eps of the sweep, up to an unbounded eps (an undefended model must reach 0 there). Only
    the entry at the suite's eps enters the worst case."""
    s, sweep = suite.s, []
    for j, e in enumerate(sorted(s.sweep_eps)):
        t = track(suite, suite.std, suite.key(10 + j), eps=e, alpha=stepsize(e, s.sweep_steps), steps=s.sweep_steps)
        v = suite.full(acc_at(t, s.sweep_steps))
        sweep.append({"eps": e, "eps_255": round(e * 255, 3), "acc": float(v.float().mean()), "n_robust": int(v.sum())})
        suite.robust[R.sweep(e)] = v
        if math.isclose(e, suite.eps):
            label, note = f"PGD-{s.sweep_steps} (sweep step)", "alpha 2.5 eps/steps"
            suite.record(R.SWEEP_STEP, label, "step size", v, steps=s.sweep_steps, note=note)
    suite.extra["sweep"] = sweep


def _estimator_group(name: str) -> str:
    return "encoder BPDA" if name.startswith("encoder") else "estimator"


def check_estimators(suite: Suite):
    """5: the same PGD budget with each gradient estimator swapped in at attack time (same random starts)."""
    s, rows = suite.s, []
    xa, ya = suite.attacked
    for name in s.estimators:
        try:
            with estimator(suite.model, name):
                t = track(
                    suite,
                    suite.std,
                    suite.key(30),
                    eps=suite.eps,
                    alpha=stepsize(suite.eps, s.estimator_steps),
                    steps=s.estimator_steps,
                )
                zs = zero_gradient_stats(input_grads(suite.std, xa, ya, suite.bs))
        except NotApplicable as e:
            suite.skip(R.estimator(name), f"PGD-{s.estimator_steps} [{name}]", _estimator_group(name), str(e))
            continue
        v = suite.full(acc_at(t, s.estimator_steps))
        label, group = f"PGD-{s.estimator_steps} [{name}]", _estimator_group(name)
        suite.record(
            R.estimator(name), label, group, v, estimator=name, steps=s.estimator_steps, note=ESTIMATOR_LABELS[name]
        )
        rows.append(
            {
                "estimator": name,
                "label": ESTIMATOR_LABELS[name],
                "acc": float(v.float().mean()),
                "stalled": int(suite.full(t["stalled"].any(0)).sum()),
                **{f"grad_{k}": w for k, w in zs.items() if k != "which"},
            }
        )
    suite.extra["estimators"] = rows


def _torchattack(suite, name, **kw):
    """Per-sample robustness over all N and the adversarial inputs (:meth:`Suite.adversarial`)."""
    std, s = suite.std, suite.s
    return suite.adversarial(
        lambda xb, yb: run_torchattack(name, std, xb, yb, suite.eps, suite.n_classes, s.seed, **kw)
    )


def _robust_of(suite, make):
    """Per-sample robustness of an attack class with a ``robust(x, y)`` method, over the attacked subset."""
    return suite.full(suite.batched(lambda xb, yb, g: make(g).robust(xb, yb).cpu(), seed=suite.key(40)))


def check_adaptive(suite: Suite):
    """6: APGD-CE, APGD-DLR (Croce & Hein 2020) and Wang et al. 2025's step-size adaptive PGD with the training
    surrogate."""
    s, std = suite.s, suite.std
    for name in ("apgd-ce", "apgd-dlr"):
        if name == "apgd-dlr" and suite.n_classes < 3:
            suite.skip(R.APGD_DLR, "APGD-DLR", "adaptive", "the DLR loss needs at least 3 classes")
            continue
        v, xa = _torchattack(suite, name, steps=s.apgd_steps)
        note, dlr = f"{s.apgd_steps} steps (torchattacks)", name == "apgd-dlr"
        suite.record(name, name.upper(), "adaptive", v, x_adv=xa, steps=s.apgd_steps, stronger_loss=dlr, note=note)
    v = _robust_of(suite, lambda g: SAPGD(std, suite.eps, s.sapgd_steps, generator=g))
    note = "step-size adaptive PGD, training surrogate"
    suite.record(R.SAPGD, f"SA-PGD-{s.sapgd_steps}", "adaptive", v, steps=s.sapgd_steps, note=note)


def check_assg(suite: Suite):
    """Wang et al. 2025: SA-PGD with the adaptive surrogate ASSG (per-sample worst over the A grid)."""
    s, std = suite.s, suite.std
    try:
        models.require_spiking(suite.model, "ASSG")
    except NotApplicable as e:
        suite.skip(R.ASSG, f"ASSG + SA-PGD-{s.sapgd_steps}", "adaptive", str(e))
        return
    per_a = [
        _robust_of(suite, lambda g, a=a: SAPGD(std, suite.eps, s.sapgd_steps, assg=a, generator=g)) for a in s.assg_A
    ]
    note = "adaptive surrogate, A in " + ", ".join(f"{a:g}" for a in s.assg_A) + " (per-sample worst)"
    v = worst_case(dict(enumerate(per_a)))
    suite.record(R.ASSG, f"ASSG + SA-PGD-{s.sapgd_steps}", "adaptive", v, steps=s.sapgd_steps, note=note)
    suite.extra["assg"] = [{"A": a, "acc": float(v.float().mean())} for a, v in zip(s.assg_A, per_a)]


def check_autoattack(suite: Suite):
    """AutoAttack's standard version (Croce & Hein 2020), if the budget says so."""
    s = suite.s
    if s.autoattack:
        v, xa = _torchattack(suite, "autoattack", steps=s.autoattack_steps, n_queries=s.autoattack_queries)
        note = f"APGD-CE, APGD-T, FAB-T ({s.autoattack_steps} steps), Square ({s.autoattack_queries} queries)"
        # Square inside (black-box); DLR and targeted losses
        both = dict(contains_black_box=True, stronger_loss=True, steps=s.autoattack_steps, queries=s.autoattack_queries)
        suite.record(R.AUTOATTACK, "AutoAttack (standard)", "adaptive", v, x_adv=xa, note=note, **both)


def check_encoder_bpda(suite: Suite):
    """BPDA for the phase encoder on its exact forward: spike-space PGD projected onto valid encodings, and a
    search over the pixel levels eps allows."""
    s = suite.s
    for rid, name, make in (
        (R.SPIKE_PGD, "spike-projected PGD", lambda g: SpikeProjectedPGD(suite.std, suite.eps, s.level_steps)),
        (R.LEVEL_SEARCH, "level search", lambda g: LevelSearch(suite.std, suite.eps, s.level_steps)),
    ):
        label = f"{name}-{s.level_steps}"
        if not has_phase(suite.model):
            suite.skip(rid, label, "encoder BPDA", "needs a phase encoder")
            continue
        note = "exact encoder forward, gradient w.r.t. spikes"
        suite.record(rid, label, "encoder BPDA", _robust_of(suite, make), steps=s.level_steps, note=note)


def rate_twin(model):
    """The same weights behind Poisson rate coding (a transfer source): None unless ``model`` is phase coded."""
    if not has_phase(model):
        return None
    return models.SpikingClassifier(
        model.net, RateEncoder(T=model.encoder.T, generator=torch.Generator().manual_seed(0))
    ).eval()


def _transfer(suite, j, rid, name, src, source: str, eot=False):
    s = suite.s
    st = ThreatModel(src.to(suite.device).eval(), "pixel", "eval")
    alpha, g = stepsize(suite.eps, s.transfer_steps), suite.gen(50 + j)
    atk = (
        EOTPGD(st, suite.eps, alpha, s.transfer_steps, s.eot_samples, g)
        if eot
        else PGD(st, suite.eps, alpha, s.transfer_steps, generator=g)
    )
    v, xa = suite.adversarial(atk)
    kind = f"EOT-PGD-{s.transfer_steps}" if eot else f"PGD-{s.transfer_steps}"
    note = f"{kind} on {source}"
    suite.record(rid, name, "black-box", v, x_adv=xa, steps=s.transfer_steps, note=note)


def check_square(suite: Suite):
    """4: Square (Andriushchenko et al. 2020), a score-based black-box attack."""
    q = suite.s.square_queries
    v, xa = _torchattack(suite, "square", n_queries=q)
    suite.record(R.SQUARE, f"Square-{q}", "black-box", v, x_adv=xa, queries=q, note=f"{q} queries")


def check_spsa(suite: Suite):
    """4: SPSA (Uesato et al. 2018), a gradient-free estimate of the gradient."""
    s = suite.s
    v = _robust_of(suite, lambda g: SPSA(suite.std, suite.eps, s.spsa_steps, s.spsa_samples, generator=g))
    note = f"{s.spsa_steps} iterations x {s.spsa_samples} direction pairs"
    suite.record(R.SPSA, f"SPSA-{s.spsa_steps}", "black-box", v, steps=s.spsa_steps, note=note)


def check_transfer(suite: Suite):
    """4: transfer from the ANN twin, another SNN and the same weights behind rate coding."""
    for j, (name, key) in enumerate((("transfer: ANN twin", "ann"), ("transfer: other SNN", "snn"))):
        if suite.sources.get(key) is not None:
            _transfer(suite, j, R.TRANSFER[key], name, suite.sources[key], suite.labels.get(key, key))
    rate, rid = rate_twin(suite.model), R.TRANSFER["rate"]
    if rate is not None:
        _transfer(suite, 2, rid, "transfer: rate-coded twin", rate, "the same weights with Poisson rate coding", True)
    else:
        suite.skip(rid, "transfer: rate-coded twin", "black-box", "needs a phase-coded SNN")


def check_noise(suite: Suite):
    """Random noise in the eps-ball (Carlini et al. 2019)."""
    g = suite.gen(60)
    v = suite.batched(lambda xb, yb: random_noise(suite.std, xb, yb, suite.eps, suite.s.noise_draws, g))
    suite.record(R.NOISE, "random noise", "noise", suite.full(v), note=f"{suite.s.noise_draws} uniform draws")


def check_eot(suite: Suite):
    """7: EOT-PGD (Athalye et al. 2018b), only for models whose forwards differ between calls."""
    det = suite.deterministic
    if not det:
        g, s = suite.gen(70), suite.s
        v, xa = suite.adversarial(EOTPGD(suite.std, suite.eps, s.alpha, 7, s.eot_samples, g))
        suite.record(R.EOT_PGD, f"EOT-PGD-7 ({s.eot_samples} draws)", "eot", v, x_adv=xa, steps=7)
    suite.extra["eot"] = {"deterministic": det, "run": not det}


def check_zero_gradients(suite: Suite):
    """8: exactly-zero input gradients at the clean images (training surrogate), pixel and spike space."""
    rows = []
    for space in ("pixel", "spike"):
        if space == "spike" and getattr(suite.model, "encoder", None) is None:
            continue
        t = ThreatModel(suite.model, space, "eval")
        rows.append({"space": space, **zero_gradient_stats(input_grads(t, suite.x, suite.y, suite.bs), t.batch_dim)})
    suite.extra["zero_gradients"] = rows


def check_threat_models(suite: Suite):
    """9a: the paper's FGSM and PGD-7 in pixel/spike space with BN eval/train (statistics restored)."""
    s, eps, rows = suite.s, suite.eps, []
    if getattr(suite.model, "encoder", None) is None or not hasattr(suite.model, "forward_spikes"):
        suite.extra["switches"] = rows
        return
    for space in ("pixel", "spike"):
        for bn in ("eval", "train"):
            t = ThreatModel(suite.model, space, bn)
            # under BN train the batch matters: the registry's authors' batching (shuffled, 16), as their loader
            batching = registered_threat("authors") if bn == "train" else None

            def fgsm(xb, yb, t=t):
                return t.predict(FGSM(t, eps)(xb, yb)) == yb

            def pgd(xb, yb, g, t=t):
                return t.predict(PGD(t, eps, s.alpha, 7, generator=g)(xb, yb)) == yb

            f = suite.full(suite.batched(fgsm, threat=batching))
            p = suite.full(suite.batched(pgd, seed=suite.key(1), threat=batching))  # the paper's PGD-7 random starts
            rows.append(
                {"space": space, "bn": bn, "fgsm_acc": float(f.float().mean()), "pgd_acc": float(p.float().mean())}
            )
            suite.robust[R.switch(space, bn, R.FGSM)], suite.robust[R.switch(space, bn, R.PGD7)] = f, p
    suite.extra["switches"] = rows


def check_authors_loop(suite: Suite):
    """9b: the authors' evaluation loop, whose crafting in train mode updates BN statistics on test images."""
    s = suite.s
    if not has_phase(suite.model) or not models.spiking_neurons(suite.model):
        return
    al = authors_loop(suite.model, suite.x, suite.y, s.authors_eps, s.alpha, 7, s.authors_batch_size, suite.gen(90))
    suite.extra["authors_loop"] = {
        k: (float(v.float().mean()) if isinstance(v, torch.Tensor) else v) for k, v in al.items()
    }
    for k in ("clean", "fgsm", "pgd", "clean_leak", "fgsm_leak", "pgd_leak", "clean_after"):
        suite.robust[R.authors(k)] = al[k]


def check_diagnostics(suite: Suite):
    """How well each encoder backward predicts the loss: cosine with finite differences; a loss-landscape slice."""
    from .diagnostics import gradient_alignment, landscape

    if not has_phase(suite.model) or suite.s.diagnostics_images < 1:
        return
    x, y = suite.attacked
    k = min(suite.s.diagnostics_images, len(y))
    if k == 0:
        return
    suite.extra["alignment"] = gradient_alignment(suite.model, x[:k], y[:k], suite.eps, generator=suite.gen(95))
    suite.extra["landscape"] = landscape(suite.model, x[:2], y[:2], suite.eps, generator=suite.gen(96))


#: The suite, in order: (timing name, check). Each check is its own unit of an interrupted run's checkpoint.
CHECKS = [
    ("clean", check_clean),
    ("fgsm_pgd7", check_paper),
    ("ladder", check_ladder),
    ("trace", check_trace),
    ("sweep", check_sweep),
    ("estimators", check_estimators),
    ("adaptive", check_adaptive),
    ("assg", check_assg),
    ("autoattack", check_autoattack),
    ("encoder_bpda", check_encoder_bpda),
    ("square", check_square),
    ("spsa", check_spsa),
    ("transfer", check_transfer),
    ("noise", check_noise),
    ("eot", check_eot),
    ("zero_gradients", check_zero_gradients),
    ("switches", check_threat_models),
    ("authors_loop", check_authors_loop),
    ("diagnostics", check_diagnostics),
]

#: Each check's seed index for attacks that draw from torch's global generator (torchattacks): fixed per check,
#: so splitting or adding checks leaves the others' random draws unchanged.
SEED_INDEX = {
    "clean": 0,
    "fgsm_pgd7": 1,
    "ladder": 2,
    "trace": 3,
    "sweep": 4,
    "estimators": 5,
    "adaptive": 6,
    "encoder_bpda": 7,
    "square": 8,
    "noise": 9,
    "eot": 10,
    "zero_gradients": 11,
    "switches": 12,
    "authors_loop": 13,
    "diagnostics": 14,
    "autoattack": 15,
    "spsa": 16,
    "transfer": 17,
    "assg": 18,
}
