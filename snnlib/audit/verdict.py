"""From the per-sample results of a suite to its summary: the worst case with its exact interval, the paired
test of PGD-7 against it, the attribution of the robustness to attack groups, and the verdict sentence.

Attribution (leave-one-group-out): for each group of attacks, the worst case without that group, and the
worst case of the paper's PGD-7 together with that group alone.

The cause (:func:`cause`). The worst case contains PGD-7, and plain PGD's worst case, by construction, so
these nested pairs are compared by counts: in a deterministic model one image broken beyond PGD-7 is proof.
No image broken beyond PGD-7: *none*. Plain PGD with more steps, restarts or another step size (groups
``steps`` and ``step size``) reaches the worst case: a *weak attack*, but only where no red flag fired (else
*mixed: cannot separate*). Plain PGD plus a stronger loss (APGD-DLR) reaches it: *stronger loss*, not
obfuscation, unless a masking flag fired. Only gradient estimators, encoder BPDA, black-box or noise go
further, with a masking flag fired: *gradient obfuscation*; without one, *mixed: cannot separate*.
"""

from __future__ import annotations

from .. import stats
from .checks import GROUPS
from .primitives import worst_case
from . import records as R
from .flags import attack_acc, per_sample, red_flags
from .legacy import upgrade

PLAIN = ("paper", "steps", "step size")
#: flags that point at masked gradients (not at a merely weak attack, like more_steps_keep_helping)
MASKING_FLAGS = (
    "one_step_beats_iterative",
    "black_box_beats_white_box",
    "unbounded_eps_not_100",
    "random_noise_finds",
    "other_estimator_helps",
    "zero_gradients",
)
CAUSES = ("none", "weak attack", "stronger loss", "gradient obfuscation", "mixed: cannot separate")


def stronger_loss(a: dict) -> bool:
    """An attack whose gain over PGD comes from another loss (DLR, targeted) and nothing else (AutoAttack also runs
    Square, a black-box attack, so it does not count)."""
    return bool(a["stronger_loss"]) and not a["contains_black_box"]


def cause(beyond_pgd7: int, beyond_plain: int, beyond_loss: int, fired: list[str]) -> str:
    """The cause label from nested counts (images the full suite breaks beyond PGD-7, beyond plain PGD, beyond plain
    PGD with the stronger losses) and the red flags that fired (see the module docstring)."""
    masking = [f for f in fired if f in MASKING_FLAGS]
    if beyond_pgd7 == 0:
        return "none"
    if beyond_plain == 0:
        return "weak attack" if not fired else "mixed: cannot separate"
    if beyond_loss == 0:
        return "stronger loss" if not masking else "mixed: cannot separate"
    return "gradient obfuscation" if masking else "mixed: cannot separate"


def _in_worst(r, groups=None, exclude=(), also=None):
    ps = per_sample(r)
    return worst_case(
        {
            a["id"]: ps[a["id"]]
            for a in r["attacks"]
            if a["in_worst_case"]
            and a["group"] != "clean"
            and a["group"] not in exclude
            and (groups is None or a["group"] in groups or (also is not None and also(a)))
        }
    )


def attribution(r: dict) -> list[dict]:
    """Per attack group: accuracy of the worst case without it, and of PGD-7 with it alone (exact intervals)."""
    present = [g for g in GROUPS if any(a["group"] == g for a in r["attacks"])]
    full = _in_worst(r)
    rows = []
    for g in present:
        without, alone = _in_worst(r, exclude=(g,)), _in_worst(r, groups=("paper", g))
        t = stats.mcnemar(without.numpy(), full.numpy(), "greater")
        rows.append(
            {
                "group": g,
                "without": stats.accuracy(without),
                "paper_plus_group": stats.accuracy(alone),
                "needed": t["p"] < stats.ALPHA,
                "p_without": t["p"],
                "attacks": [a["attack"] for a in r["attacks"] if a["group"] == g],
            }
        )
    return rows


def summary(r: dict, fired: list[str] = ()) -> dict:
    """The ``final`` block: accuracies with exact intervals, the worst case, PGD-7 against it, the attribution,
    the cause (from nested counts and the red flags ``fired``)."""
    acc, ps = attack_acc(r), per_sample(r)
    wc = _in_worst(r)
    plain = _in_worst(r, groups=PLAIN)
    loss = _in_worst(r, groups=PLAIN, also=stronger_loss)
    gap = stats.mcnemar(ps[R.PGD7].numpy(), wc.numpy(), "greater")
    plain_gap = stats.mcnemar(plain.numpy(), wc.numpy(), "greater")
    loss_gap = stats.mcnemar(loss.numpy(), wc.numpy(), "greater")
    attacked = [a for a in r["attacks"] if a["group"] != "clean"]
    low = min(a["acc"] for a in attacked)
    rows = attribution(r)
    best = min(rows, key=lambda row: row["paper_plus_group"]["acc"]) if rows else None
    return {
        "n_eval": r["n_eval"],
        "clean": stats.accuracy(ps[R.CLEAN]),
        "pgd7": stats.accuracy(ps[R.PGD7]),
        "worst": stats.accuracy(wc),
        "plain_pgd": stats.accuracy(plain),
        "clean_acc": acc[R.CLEAN],
        "fgsm_acc": acc[R.FGSM],
        "pgd7_acc": acc[R.PGD7],
        "worst_acc": float(wc.float().mean()),
        "gap": acc[R.PGD7] - float(wc.float().mean()),
        "gap_test": gap,
        "plain_vs_worst": plain_gap,
        "plain_loss_vs_worst": loss_gap,
        "plain_loss": stats.accuracy(loss),
        "cause": cause(gap["a_only"], plain_gap["a_only"], loss_gap["a_only"], list(fired)),
        "strongest_group": best["group"] if best else None,
        "strongest_single": ", ".join(a["attack"] for a in attacked if a["acc"] == low),
        "strongest_single_acc": low,
    }


def derive(res: dict) -> dict:
    """Add the worst case, exact intervals, the summary (``final``), the attribution and the red flags. A result
    written before attack records had ids is upgraded first (:func:`.legacy.upgrade`)."""
    res = upgrade(res)
    ps = per_sample(res)
    res["per_sample"][R.WORST] = _in_worst(res).int().tolist()
    for a in res["attacks"]:
        a.update({k: v for k, v in stats.accuracy(ps[a["id"]]).items() if k in ("lo", "hi", "n")})
    res["attribution"] = attribution(res)
    res["estimator_tests"] = _estimator_rows(res)
    res["flags"] = red_flags(res)
    fired = [f["flag"] for f in res["flags"] if f["fired"]]
    res["final"] = summary(res, fired)
    res["final"]["flags_fired"] = fired
    return res


def _cause_text(f: dict) -> str:
    c, plain = f["cause"], stats.fmt_acc(f["plain_pgd"])
    loss = stats.fmt_acc(f["plain_loss"]) if "plain_loss" in f else plain
    return {
        "none": "No attack of the suite breaks an image that PGD-7 leaves at this budget. ",
        "weak attack": (
            f"Plain PGD with more steps, restarts or another step size already reaches the worst case "
            f"({plain}) and no red flag fired: for this model the PGD-7 robustness is an artifact of a weak "
            "attack. "
        ),
        "stronger loss": (
            f"Plain PGD stops at {plain}; with the DLR loss it reaches the worst case ({loss}) and no "
            "masking flag fired: a stronger loss, not obfuscated gradients, closes the gap. "
        ),
        "gradient obfuscation": (
            f"Plain PGD, even with the DLR loss, stops at {loss}, above the worst case; the group "
            f"that goes furthest is '{f['strongest_group']}' and masking flags fired: the gradients "
            "PGD follows are obfuscated. "
        ),
        "mixed: cannot separate": (
            f"Plain PGD reaches {plain}, with the DLR loss {loss}, and the red flags point "
            "another way: the evidence mixes a weak attack, a stronger loss and masked "
            "gradients, and this suite cannot separate them. "
        ),
    }[c]


def _estimator_rows(res):
    from .flags import estimator_tests

    return [{"id": k, **v} for k, v in estimator_tests(res).items()]


def verdict(r: dict, label: str, scale: str = "") -> str:
    """What the evidence supports, at which scale, with n, exact intervals and the test behind it."""
    f = r["final"]
    p7, wc, g = f["pgd7"], f["worst"], f["gap_test"]
    fired = [x["check"].lower() for x in r["flags"] if x["fired"]]
    k, n = g["a_only"], g["n"]
    lo, hi = stats.clopper_pearson(k, n)
    text = (
        f"**{label}**{f' ({scale})' if scale else ''}. Clean {stats.fmt_acc(f['clean'])}; the paper's PGD-7 leaves "
        f"{stats.fmt_acc(p7)}, the per-image worst case over the suite {stats.fmt_acc(wc)}: the suite breaks "
        f"{k} of {n} images that PGD-7 leaves ({100 * lo:.1f} to {100 * hi:.1f} %, exact), and none the other "
        "way, by construction. "
    )
    if p7["k"] == 0:
        return text + "PGD-7 already leaves nothing robust, so there is no robustness to explain."
    text += _cause_text(f)
    text += ("Red flags that fired: " + "; ".join(fired) + ". ") if fired else "No red flag fired. "
    return text + (
        "The worst case is an upper bound on this model's robust accuracy; it says nothing about other "
        "models, or about the paper's full-scale ones unless one of them was audited."
    )
