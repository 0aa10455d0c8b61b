"""The audit's checks, one function per item of the suite (Athalye et al. 2018; Carlini et al. 2019;
Croce & Hein 2020; Wang et al. 2025): the white-box ones here, the black-box ones in :mod:`.black_box`, those of
the threat model in :mod:`.threat_checks`, the primitives they share in :mod:`.primitives`.

Each check takes the :class:`~snnlib.audit.suite.Suite` and records attacks (per-sample robustness,
with a group) or extra results into it. An attack that cannot apply to the model (an adaptive
surrogate on a model without spiking neurons, an encoder backward without a phase encoder) is
recorded as skipped with the reason. :data:`CHECKS` is the suite, in order.
"""

from __future__ import annotations

import math

import torch

from .. import models
from ..attacks import EOTPGD, FGSM, PGD, SAPGD, ESTIMATOR_LABELS, LevelSearch, SpikeProjectedPGD, acc_at, estimator
from ..attacks import pgd_trace
from ..errors import NotApplicable
from . import records as R
from .black_box import check_spsa, check_square, check_transfer
from .primitives import (
    robust_of,
    suite_torchattack,
    has_phase,
    input_grads,
    output_range,
    random_noise,
    randomness,
    track,
    worst_case,
    zero_gradient_stats,
)
from .suite import Suite, batch_generator, stepsize
from .threat_checks import check_authors_loop, check_diagnostics, check_threat_models, check_zero_gradients

#: the attack groups whose contribution the attribution separates (``paper`` is PGD-7 itself)
GROUPS = ("one-step", "steps", "step size", "estimator", "adaptive", "encoder BPDA", "black-box", "noise", "eot")


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


def check_adaptive(suite: Suite):
    """6: APGD-CE, APGD-DLR (Croce & Hein 2020) and Wang et al. 2025's step-size adaptive PGD with the training
    surrogate."""
    s, std = suite.s, suite.std
    for name in ("apgd-ce", "apgd-dlr"):
        if name == "apgd-dlr" and suite.n_classes < 3:
            suite.skip(R.APGD_DLR, "APGD-DLR", "adaptive", "the DLR loss needs at least 3 classes")
            continue
        v, xa = suite_torchattack(suite, name, steps=s.apgd_steps)
        note, dlr = f"{s.apgd_steps} steps (torchattacks)", name == "apgd-dlr"
        suite.record(name, name.upper(), "adaptive", v, x_adv=xa, steps=s.apgd_steps, stronger_loss=dlr, note=note)
    v = robust_of(suite, lambda g: SAPGD(std, suite.eps, s.sapgd_steps, generator=g))
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
        robust_of(suite, lambda g, a=a: SAPGD(std, suite.eps, s.sapgd_steps, assg=a, generator=g)) for a in s.assg_A
    ]
    note = "adaptive surrogate, A in " + ", ".join(f"{a:g}" for a in s.assg_A) + " (per-sample worst)"
    v = worst_case(dict(enumerate(per_a)))
    suite.record(R.ASSG, f"ASSG + SA-PGD-{s.sapgd_steps}", "adaptive", v, steps=s.sapgd_steps, note=note)
    suite.extra["assg"] = [{"A": a, "acc": float(v.float().mean())} for a, v in zip(s.assg_A, per_a)]


def check_autoattack(suite: Suite):
    """AutoAttack's standard version (Croce & Hein 2020), if the budget says so."""
    s = suite.s
    if s.autoattack:
        v, xa = suite_torchattack(suite, "autoattack", steps=s.autoattack_steps, n_queries=s.autoattack_queries)
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
        suite.record(rid, label, "encoder BPDA", robust_of(suite, make), steps=s.level_steps, note=note)


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
