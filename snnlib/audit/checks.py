"""The audit's checks, one function per item of the suite (Athalye et al. 2018; Carlini et al. 2019),
and the primitives they share. Each check takes the :class:`~snnlib.audit.suite.Suite` and records
attacks (per-sample robustness) or extra results into it. :data:`CHECKS` is the suite, in order.
"""

from __future__ import annotations

import math

import torch

from ..attacks import (EOTPGD, FGSM, PGD, ThreatModel, acc_at, bn_mode, concat_tracks, pgd_track, random_start,
                       run_torchattack)
from ..authors import authors_loop
from ..errors import SnnlibError
from .estimators import ESTIMATOR_LABELS, estimator
from .suite import Suite, batch_generator, stepsize

# ----------------------------------------------------------------- primitives


def random_noise(threat: ThreatModel, x, y, eps: float, draws: int = 20,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample robustness to ``draws`` uniform random points of the eps-ball (a Carlini et al. 2019 check)."""
    z0 = threat.inputs(x)
    robust = torch.ones(len(y), dtype=torch.bool)
    for _ in range(draws):
        robust &= (threat.predict(random_start(z0, eps, generator)) == y).cpu()
    return robust


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
    return torch.stack([torch.as_tensor(v, dtype=torch.bool) for v in robust.values()]).all(0)


def input_grads(threat: ThreatModel, x, y, bs) -> torch.Tensor | None:
    """Input gradients of the per-sample loss at the clean inputs, batched (BN as in ``threat``)."""
    parts = []
    with threat.crafting():
        for i in range(0, len(y), bs):
            parts.append(threat.grad(threat.inputs(x[i:i + bs]), y[i:i + bs])[0].cpu())
    return torch.cat(parts, threat.batch_dim) if parts else None  # no samples (e.g. none classified correctly)


def track(suite: Suite, threat: ThreatModel, seed: int, **kw) -> dict:
    """:func:`~snnlib.attacks.pgd_track` over the attacked subset in batches, with per-batch generators."""
    x, y = suite.attacked
    parts = [pgd_track(threat, x[i:i + suite.bs], y[i:i + suite.bs], generator=batch_generator(seed, i), **kw)
             for i in range(0, len(y), suite.bs)]
    return concat_tracks(parts, kw.get("restarts", 1), kw.get("steps"))


# ------------------------------------------------------------------ checks


def check_clean(suite: Suite):
    """Clean accuracy; sets the attacked subset; checks that the model is deterministic (for EOT)."""
    std = suite.std
    clean = suite.batched(lambda xb, yb: std.predict(xb) == yb, suite.x, suite.y)
    suite.att = torch.nonzero(clean).flatten()
    suite.record("clean", "clean", clean, note="no attack")
    suite.deterministic = is_deterministic(suite.model, suite.x[: min(8, suite.n)])


def check_paper(suite: Suite):
    """3 + the paper's setting: FGSM and PGD-7 exactly as the paper (alpha 0.01, last iterate)."""
    std, eps, s = suite.std, suite.eps, suite.s
    suite.record("FGSM", "one-step", suite.full(suite.batched(lambda xb, yb: std.predict(FGSM(std, eps)(xb, yb)) == yb)))
    pgd7 = lambda xb, yb, g: std.predict(PGD(std, eps, s.alpha, 7, generator=g)(xb, yb)) == yb  # noqa: E731
    suite.record("PGD-7 (paper)", "paper", suite.full(suite.batched(pgd7, seed=suite.key(1))),
                 note="alpha 0.01, last iterate")


def check_ladder(suite: Suite):
    """1: one PGD trajectory with best-iterate tracking (prefixes give the shorter runs), plus restarts."""
    s, smax = suite.s, max(suite.s.ladder_steps)
    # same random starts as the paper's PGD-7: its last iterate is the ladder's iterate 7
    tr = track(suite, suite.std, suite.key(1), eps=suite.eps, alpha=s.alpha, steps=smax, restarts=s.ladder_restarts)
    for k in s.ladder_steps:
        suite.record(f"PGD-{k}", "steps", suite.full(acc_at(tr, k, 1)), note=f"alpha {s.alpha:g}, best iterate, 1 restart")
    if s.ladder_restarts > 1:
        suite.record(f"PGD-{smax} x{s.ladder_restarts}", "steps", suite.full(acc_at(tr, smax)),
                     note=f"{s.ladder_restarts} restarts, per-sample worst")
    curve = [float(suite.full(acc_at(tr, k, 1)).float().mean()) for k in range(smax + 1)]
    suite.extra["ladder"] = {"steps": list(range(smax + 1)), "acc": curve, "rungs": list(s.ladder_steps),
                             "restarts": s.ladder_restarts, "alpha": s.alpha, "stalled": int(tr["stalled"].any(0).sum())}


def check_sweep(suite: Suite):
    """2: PGD at every eps of the sweep (an undefended model must reach 0 at large eps)."""
    s, sweep = suite.s, []
    for j, e in enumerate(sorted(s.sweep_eps)):
        t = track(suite, suite.std, suite.key(10 + j), eps=e, alpha=stepsize(e, s.sweep_steps), steps=s.sweep_steps)
        v = suite.full(acc_at(t, s.sweep_steps))
        sweep.append({"eps": e, "eps_255": round(e * 255, 3), "acc": float(v.float().mean()), "n_robust": int(v.sum())})
        if math.isclose(e, suite.eps):
            suite.record(f"PGD-{s.sweep_steps} (sweep step)", "steps", v, note="alpha 2.5 eps/steps")
    suite.extra["sweep"] = sweep


def check_estimators(suite: Suite):
    """5: the same PGD budget with each gradient estimator swapped in at attack time."""
    s, rows, robust = suite.s, [], {}
    xa, ya = suite.attacked
    for name in s.estimators:
        with estimator(suite.model, name):
            t = track(suite, suite.std, suite.key(30), eps=suite.eps, alpha=stepsize(suite.eps, s.estimator_steps),
                      steps=s.estimator_steps)  # same random starts for every estimator
            zs = zero_gradient_stats(input_grads(suite.std, xa, ya, suite.bs))
        v = robust[name] = suite.full(acc_at(t, s.estimator_steps))
        suite.record(f"PGD-{s.estimator_steps} [{name}]", "estimator", v, note=ESTIMATOR_LABELS[name])
        rows.append({"estimator": name, "label": ESTIMATOR_LABELS[name], "acc": float(v.float().mean()),
                     "stalled": int(suite.full(t["stalled"].any(0)).sum()), **{f"grad_{k}": w for k, w in zs.items()}})
    if robust:
        rows.append({"estimator": "worst case", "label": "per-sample worst over estimators",
                     "acc": float(worst_case(robust).float().mean())})
    suite.extra["estimators"] = rows


def _torchattack(suite, name, **kw):
    std, s = suite.std, suite.s
    return suite.batched(lambda xb, yb: std.predict(run_torchattack(name, std, xb, yb, suite.eps, suite.n_classes,
                                                                    s.seed, **kw)) == yb)


def check_adaptive(suite: Suite):
    """6: APGD-CE, APGD-DLR and, when the budget allows, AutoAttack (Croce & Hein 2020)."""
    for name in ("apgd-ce", "apgd-dlr"):
        if name == "apgd-dlr" and suite.n_classes < 3:
            continue
        suite.record(name.upper(), "adaptive", suite.full(_torchattack(suite, name, steps=suite.s.apgd_steps)),
                     note=f"{suite.s.apgd_steps} steps (torchattacks)")
    if suite.s.autoattack:
        suite.record("AutoAttack", "adaptive", suite.full(_torchattack(suite, "autoattack")),
                     note="standard version (torchattacks)")


def check_black_box(suite: Suite):
    """4: Square (Andriushchenko et al. 2020) and transfer from the ANN twin and from another SNN."""
    s, std = suite.s, suite.std
    v = _torchattack(suite, "square", n_queries=s.square_queries)
    suite.record("Square", "black-box", suite.full(v), note=f"{s.square_queries} queries")
    for j, (name, key) in enumerate((("transfer: ANN twin", "ann"), ("transfer: other SNN", "snn"))):
        src = suite.sources[key]
        if src is None:
            continue
        st = ThreatModel(src.to(suite.device).eval(), "pixel", "eval")
        pgd = PGD(st, suite.eps, stepsize(suite.eps, s.transfer_steps), s.transfer_steps, generator=suite.gen(50 + j))
        v = suite.batched(lambda xb, yb: std.predict(pgd(xb, yb)) == yb)
        suite.record(name, "black-box", suite.full(v), note=f"PGD-{s.transfer_steps} on {suite.labels.get(key, '')}".strip())


def check_noise(suite: Suite):
    """Random noise in the eps-ball (Carlini et al. 2019)."""
    g = suite.gen(60)
    v = suite.batched(lambda xb, yb: random_noise(suite.std, xb, yb, suite.eps, suite.s.noise_draws, g))
    suite.record("random noise", "noise", suite.full(v), note=f"{suite.s.noise_draws} uniform draws")


def check_eot(suite: Suite):
    """7: EOT-PGD (Athalye et al. 2018b), only for stochastic models."""
    det = suite.deterministic
    if not det:
        g, s = suite.gen(70), suite.s
        v = suite.batched(lambda xb, yb: suite.std.predict(EOTPGD(suite.std, suite.eps, s.alpha, 7, s.eot_samples,
                                                                  g)(xb, yb)) == yb)
        suite.record(f"EOT-PGD-7 ({s.eot_samples} draws)", "eot", suite.full(v))
    suite.extra["eot"] = {"deterministic": det, "run": not det}


def check_zero_gradients(suite: Suite):
    """8: exactly-zero input gradients at the clean images (training surrogate), pixel and spike space."""
    rows = []
    for space in ("pixel", "spike"):
        t = ThreatModel(suite.model, space, "eval")
        rows.append({"space": space, **zero_gradient_stats(input_grads(t, suite.x, suite.y, suite.bs), t.batch_dim)})
    suite.extra["zero_gradients"] = rows


def check_threat_models(suite: Suite):
    """9a: the paper's FGSM and PGD-7 in pixel/spike space with BN eval/train (statistics restored)."""
    s, eps, rows = suite.s, suite.eps, []
    for space in ("pixel", "spike"):
        for bn in ("eval", "train"):
            t = ThreatModel(suite.model, space, bn)
            f = suite.full(suite.batched(lambda xb, yb: t.predict(FGSM(t, eps)(xb, yb)) == yb))
            p = suite.full(suite.batched(lambda xb, yb, g: t.predict(PGD(t, eps, s.alpha, 7, generator=g)(xb, yb)) == yb,
                                         seed=suite.key(1)))  # the paper's PGD-7 random starts
            rows.append({"space": space, "bn": bn, "fgsm_acc": float(f.float().mean()), "pgd_acc": float(p.float().mean())})
            suite.robust[f"switch {space}/{bn} FGSM"], suite.robust[f"switch {space}/{bn} PGD-7"] = f, p
    suite.extra["switches"] = rows


def check_authors_loop(suite: Suite):
    """9b: the authors' evaluation loop, whose crafting in train mode updates BN statistics on test images."""
    s = suite.s
    al = authors_loop(suite.model, suite.x, suite.y, s.authors_eps, s.alpha, 7, s.authors_batch_size, suite.gen(90))
    suite.extra["authors_loop"] = {k: (float(v.float().mean()) if isinstance(v, torch.Tensor) else v) for k, v in al.items()}
    for k in ("clean", "fgsm", "pgd", "clean_leak", "fgsm_leak", "pgd_leak", "clean_after"):
        suite.robust[f"authors {k}"] = al[k]


#: The suite, in order: (timing name, check).
CHECKS = [("clean", check_clean), ("fgsm_pgd7", check_paper), ("ladder", check_ladder), ("sweep", check_sweep),
          ("estimators", check_estimators), ("apgd", check_adaptive), ("black_box", check_black_box),
          ("noise", check_noise), ("eot", check_eot), ("zero_gradients", check_zero_gradients),
          ("switches", check_threat_models), ("authors_loop", check_authors_loop)]
