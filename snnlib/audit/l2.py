"""The audit under an l2 threat model (``--norm l2``): torchattacks' standard l2 attacks, as a suite result of the
same shape as the l-inf suite's, so :func:`~snnlib.audit.verdict.derive`, the red flags and the card apply unchanged.

The attacks, in order (each on the clean-correct images, ``eps`` an l2 radius in pixel units, typically 0.5 on
CIFAR-10 as in RobustBench): one-step FGM (Goodfellow et al. 2015's step along the l2-normalised gradient, kept
under the one-step id ``fgsm`` that the flags read), 7-step PGD-L2 (id ``pgd7``: the baseline the worst case is
compared with, torchattacks' ``PGDL2`` with its step eps/5) and a longer one, PGD-L2 at several radii up to one
that holds the whole cube (the unbounded-eps check), APGD-CE and APGD-DLR (Croce & Hein 2020, ``norm='L2'``),
AutoAttack's standard l2 version where the budget says so, Square (Andriushchenko et al. 2020, ``norm='L2'``),
random points on the l2 sphere, EOT (APGD's ``eot_iter``) for models whose forwards differ, and the zero-gradient
check. The l-inf-only checks (gradient estimators, SA-PGD/ASSG, encoder BPDA, SPSA, transfer) are not run.
"""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from ..attacks import bn_mode
from ..kernels import flush_denormals
from .checks import check_clean
from .threat_checks import check_zero_gradients
from .settings import AuditSettings
from . import records as R
from .suite import Suite
from .verdict import derive


#: the threat of every l2 attack record
L2 = "pixel/eval/l2"


def _ta(suite: Suite, make):
    """Per-sample robustness and inputs of a torchattacks attack built by ``make(model)``, BN in eval mode."""

    def run(xb, yb):
        with bn_mode(suite.model, "eval"):
            return make(suite.model)(xb, yb).detach()

    return suite.adversarial(run)


def pgd_l2(eps: float, steps: int, alpha: float | None = None):
    """torchattacks' PGDL2 with ``steps`` steps of ``alpha`` (default eps/5, torchattacks' own ratio 0.2/1.0)."""
    import torchattacks as ta

    return lambda m: ta.PGDL2(m, eps=eps, alpha=eps / 5 if alpha is None else alpha, steps=steps)


def fgm(suite: Suite, xb, yb):
    """One step of length eps along the l2-normalised gradient (FGM), clamped to [0, 1]."""
    with suite.std.crafting():
        g, _ = suite.std.grad(xb, yb)
    norm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (g.dim() - 1)))
    return (xb + suite.eps * g / norm).clamp(0, 1).detach()


def check_paper_l2(suite: Suite):
    """FGM (id ``fgsm``), PGD-L2 with 7 steps (id ``pgd7``) and a longer one (a two-rung ladder for
    more_steps_keep_helping)."""
    v, xa = suite.adversarial(lambda xb, yb: fgm(suite, xb, yb))
    note = "l2 FGM: one step of eps along the normalised gradient"
    suite.record(R.FGSM, "FGM", "one-step", v, x_adv=xa, threat=L2, steps=1, note=note)
    v, xa = _ta(suite, pgd_l2(suite.eps, 7))
    note = "PGD-L2, 7 steps of eps/5 (torchattacks), last iterate"
    suite.record(R.PGD7, "PGD-7 (paper)", "paper", v, x_adv=xa, threat=L2, steps=7, note=note)
    suite.robust[R.ladder(7)] = v  # the ladder's first rung
    rungs, accs = [7], [float(v.float().mean())]
    longer = max(suite.s.ladder_steps[:2])
    if longer > 7:
        v, xa = _ta(suite, pgd_l2(suite.eps, longer))
        note = f"PGD-L2, {longer} steps of eps/5"
        suite.record(R.ladder(longer), f"PGD-{longer}", "steps", v, x_adv=xa, threat=L2, steps=longer, note=note)
        rungs.append(longer)
        accs.append(float(v.float().mean()))
    suite.extra["ladder"] = {
        "steps": rungs,
        "acc": accs,
        "rungs": rungs,
        "restarts": 1,
        "alpha": suite.eps / 5,
        "stalled": 0,
    }


def sweep_radii(eps: float, shape) -> list[float]:
    """eps/2, eps, 2 eps and the diameter of the input cube (every point of [0, 1]^d is that close)."""
    return sorted({eps / 2, eps, 2 * eps, math.sqrt(math.prod(shape))})


def check_sweep_l2(suite: Suite):
    """PGD-L2 at several radii, step 2.5 eps/steps (Madry et al.), up to the cube's diameter, where an undefended
    model must reach 0; the entry at the suite's eps enters the worst case."""
    n, sweep = suite.s.sweep_steps, []
    for e in sweep_radii(suite.eps, suite.x.shape[1:]):
        v, xa = _ta(suite, pgd_l2(e, n, 2.5 * e / n))
        sweep.append({"eps": e, "eps_255": round(e * 255, 3), "acc": float(v.float().mean()), "n_robust": int(v.sum())})
        suite.robust[R.sweep(e)] = v
        if math.isclose(e, suite.eps):
            note = "PGD-L2, step 2.5 eps/steps"
            suite.record(R.SWEEP_STEP, f"PGD-{n} (sweep step)", "step size", v, x_adv=xa, threat=L2, steps=n, note=note)
    suite.extra["sweep"] = sweep


def check_adaptive_l2(suite: Suite):
    """APGD-CE and APGD-DLR with ``norm='L2'`` (Croce & Hein 2020), torchattacks."""
    import torchattacks as ta

    s = suite.s
    for loss in ("ce", "dlr"):
        if loss == "dlr" and suite.n_classes < 3:
            suite.skip(R.APGD_DLR, "APGD-DLR", "adaptive", "the DLR loss needs at least 3 classes")
            continue
        v, xa = _ta(
            suite, lambda m, loss=loss: ta.APGD(m, norm="L2", eps=suite.eps, steps=s.apgd_steps, loss=loss, seed=s.seed)
        )
        note, dlr = f"{s.apgd_steps} steps, norm L2 (torchattacks)", loss == "dlr"
        rid = R.APGD_DLR if dlr else R.APGD_CE
        suite.record(
            rid,
            f"APGD-{loss.upper()}",
            "adaptive",
            v,
            x_adv=xa,
            threat=L2,
            steps=s.apgd_steps,
            stronger_loss=dlr,
            note=note,
        )


def autoattack_l2(m, eps: float, n_classes: int, seed: int, steps: int, n_queries: int):
    """AutoAttack's standard l2 version (Croce & Hein 2020) from torchattacks' attacks, as
    :func:`~snnlib.attacks.autoattack_standard` builds the l-inf one."""
    import torchattacks as ta

    k = min(9, n_classes - 1) + 1
    return ta.MultiAttack(
        [
            ta.APGD(m, norm="L2", eps=eps, steps=steps, loss="ce", seed=seed),
            ta.APGDT(m, norm="L2", eps=eps, steps=steps, n_classes=k, seed=seed),
            ta.FAB(m, norm="L2", eps=eps, steps=steps, n_classes=k, multi_targeted=True, seed=seed),
            ta.Square(m, norm="L2", eps=eps, n_queries=n_queries, resc_schedule=False, seed=seed),
        ]
    )


def check_autoattack_l2(suite: Suite):
    s = suite.s
    if s.autoattack and suite.n_classes >= 3:
        v, xa = _ta(
            suite,
            lambda m: autoattack_l2(m, suite.eps, suite.n_classes, s.seed, s.autoattack_steps, s.autoattack_queries),
        )
        note = f"l2: APGD-CE, APGD-T, FAB-T ({s.autoattack_steps} steps), Square ({s.autoattack_queries})"
        both = dict(contains_black_box=True, stronger_loss=True, steps=s.autoattack_steps, queries=s.autoattack_queries)
        suite.record(R.AUTOATTACK, "AutoAttack (standard)", "adaptive", v, x_adv=xa, threat=L2, note=note, **both)


def check_square_l2(suite: Suite):
    """Square with ``norm='L2'`` (Andriushchenko et al. 2020), score-based black-box."""
    import torchattacks as ta

    q, s = suite.s.square_queries, suite.s
    v, xa = _ta(suite, lambda m: ta.Square(m, norm="L2", eps=suite.eps, n_queries=q, seed=s.seed))
    suite.record(R.SQUARE, f"Square-{q}", "black-box", v, x_adv=xa, threat=L2, queries=q, note=f"{q} queries, norm L2")


def check_noise_l2(suite: Suite):
    """Random points on the l2 sphere of radius eps (Carlini et al. 2019), clamped to [0, 1]."""
    g, draws = suite.gen(60), suite.s.noise_draws

    def robust(xb, yb):
        ok = torch.ones(len(yb), dtype=torch.bool)
        for _ in range(draws):
            u = torch.randn(xb.shape, generator=g).to(xb.device)
            u = u / u.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            ok &= (suite.std.predict((xb + suite.eps * u).clamp(0, 1)) == yb).cpu()
        return ok

    v, note = suite.full(suite.batched(robust)), f"{draws} points on the l2 sphere"
    suite.record(R.NOISE, "random noise", "noise", v, threat=L2, note=note)


def check_eot_l2(suite: Suite):
    """EOT (Athalye et al. 2018b) as APGD-CE averaging ``eot_samples`` gradients, only where forwards differ."""
    import torchattacks as ta

    det, s = suite.deterministic, suite.s
    if not det:
        v, xa = _ta(
            suite,
            lambda m: ta.APGD(m, norm="L2", eps=suite.eps, steps=s.apgd_steps, eot_iter=s.eot_samples, seed=s.seed),
        )
        label = f"EOT-APGD-CE ({s.eot_samples} draws)"
        suite.record(R.EOT_APGD, label, "eot", v, x_adv=xa, threat=L2, steps=s.apgd_steps)
    suite.extra["eot"] = {"deterministic": det, "run": not det}


def check_linf_only(suite: Suite):
    suite.skip(
        "linf-only",
        "gradient estimators, SA-PGD, ASSG, encoder BPDA, SPSA, transfer",
        "-",
        "l-inf checks; the l2 suite runs torchattacks' standard l2 attacks",
    )


CHECKS_L2 = [
    ("clean", check_clean),
    ("fgsm_pgd7", check_paper_l2),
    ("sweep", check_sweep_l2),
    ("adaptive", check_adaptive_l2),
    ("autoattack", check_autoattack_l2),
    ("square", check_square_l2),
    ("noise", check_noise_l2),
    ("eot", check_eot_l2),
    ("zero_gradients", check_zero_gradients),
    ("skipped", check_linf_only),
]


def run_l2(
    model,
    x,
    y,
    settings: AuditSettings,
    n_classes: int = 10,
    device="cpu",
    progress: bool | None = None,
    keep_examples: bool = True,
) -> dict:
    """The l2 suite on images ``x`` and labels ``y`` (settings' ``eps`` is the l2 radius); a derived result like
    :func:`~snnlib.audit.run.run_suite`'s, with ``norm: 'l2'``."""
    suite = Suite(model, x, y, settings, device, n_classes=n_classes, keep_examples=keep_examples)
    bar = tqdm(CHECKS_L2, desc="audit (l2)", disable=None if progress is None else not progress, leave=False)
    for j, (name, check) in enumerate(bar):
        bar.set_postfix_str(name)
        torch.manual_seed(suite.key(700 + j))  # torchattacks draws its random starts from the global generator
        with flush_denormals():
            check(suite)
        suite.clock(name)
    r = derive(suite.result())
    r["norm"] = "l2"
    return r
