"""From the per-sample results of a suite to its summary: the worst case with its exact interval, the paired
test of PGD-7 against it, the attribution of the robustness to attack groups, and the verdict sentence.

Attribution (leave-one-group-out): for each group of attacks, the worst case without that group, and the
worst case of the paper's PGD-7 together with that group alone. If plain PGD with more steps, restarts or
another step size (groups ``steps`` and ``step size``) already reaches the full worst case (no
significant difference), the robustness that PGD-7 reports is an artifact of a *weak attack*; if it stops
short and only gradient estimators, adaptive or black-box attacks go further, the gradients are
*obfuscated* for PGD.
"""

from __future__ import annotations

from .. import stats
from .checks import GROUPS, worst_case
from .flags import attack_acc, per_sample, red_flags

PLAIN = ("paper", "steps", "step size")


def _in_worst(r, groups=None, exclude=()):
    ps = per_sample(r)
    return worst_case({a["attack"]: ps[a["attack"]] for a in r["attacks"] if a["in_worst_case"]
                       and a["group"] != "clean" and (groups is None or a["group"] in groups)
                       and a["group"] not in exclude})


def attribution(r: dict) -> list[dict]:
    """Per attack group: accuracy of the worst case without it, and of PGD-7 with it alone (exact intervals)."""
    present = [g for g in GROUPS if any(a["group"] == g for a in r["attacks"])]
    full = _in_worst(r)
    rows = []
    for g in present:
        without, alone = _in_worst(r, exclude=(g,)), _in_worst(r, groups=("paper", g))
        t = stats.mcnemar(without.numpy(), full.numpy(), "greater")
        rows.append({"group": g, "without": stats.accuracy(without), "paper_plus_group": stats.accuracy(alone),
                     "needed": t["p"] < stats.ALPHA, "p_without": t["p"],
                     "attacks": [a["attack"] for a in r["attacks"] if a["group"] == g]})
    return rows


def summary(r: dict) -> dict:
    """The ``final`` block: accuracies with exact intervals, the worst case, PGD-7 against it, the attribution."""
    acc, ps = attack_acc(r), per_sample(r)
    wc = _in_worst(r)
    plain = _in_worst(r, groups=PLAIN)
    gap = stats.mcnemar(ps["PGD-7 (paper)"].numpy(), wc.numpy(), "greater")
    plain_gap = stats.mcnemar(plain.numpy(), wc.numpy(), "greater")
    attacked = [a for a in r["attacks"] if a["group"] != "clean"]
    low = min(a["acc"] for a in attacked)
    rows = attribution(r)
    best = min(rows, key=lambda row: row["paper_plus_group"]["acc"]) if rows else None
    return {"n_eval": r["n_eval"], "clean": stats.accuracy(ps["clean"]), "pgd7": stats.accuracy(ps["PGD-7 (paper)"]),
            "worst": stats.accuracy(wc), "plain_pgd": stats.accuracy(plain),
            "clean_acc": acc["clean"], "fgsm_acc": acc["FGSM"], "pgd7_acc": acc["PGD-7 (paper)"],
            "worst_acc": float(wc.float().mean()), "gap": acc["PGD-7 (paper)"] - float(wc.float().mean()),
            "gap_test": gap, "plain_vs_worst": plain_gap,
            "cause": ("none" if gap["p"] >= stats.ALPHA else "weak attack" if plain_gap["p"] >= stats.ALPHA
                      else "gradient obfuscation"),
            "strongest_group": best["group"] if best else None,
            "strongest_single": ", ".join(a["attack"] for a in attacked if a["acc"] == low),
            "strongest_single_acc": low}


def derive(res: dict) -> dict:
    """Add the worst case, exact intervals, the summary (``final``), the attribution and the red flags."""
    ps = per_sample(res)
    res["per_sample"]["worst case"] = _in_worst(res).int().tolist()
    for a in res["attacks"]:
        a.update({k: v for k, v in stats.accuracy(ps[a["attack"]]).items() if k in ("lo", "hi", "n")})
    res["final"] = summary(res)
    res["attribution"] = attribution(res)
    res["estimator_tests"] = _estimator_rows(res)
    res["flags"] = red_flags(res)
    res["final"]["flags_fired"] = [f["flag"] for f in res["flags"] if f["fired"]]
    return res


def _estimator_rows(res):
    from .flags import estimator_tests

    return [{"estimator": k, **v} for k, v in estimator_tests(res).items()]


def verdict(r: dict, label: str, scale: str = "") -> str:
    """What the evidence supports, at which scale, with n, exact intervals and the test behind it."""
    f = r["final"]
    p7, wc, g = f["pgd7"], f["worst"], f["gap_test"]
    fired = [x["check"].lower() for x in r["flags"] if x["fired"]]
    text = (f"**{label}**{f' ({scale})' if scale else ''}. Clean {stats.fmt_acc(f['clean'])}; the paper's PGD-7 leaves "
            f"{stats.fmt_acc(p7)}, the per-image worst case over the suite {stats.fmt_acc(wc)} "
            f"(exact one-sided McNemar on the {g['discordant']} discordant images: p = {g['p']:.2g}). ")
    if p7["k"] == 0:
        return text + "PGD-7 already leaves nothing robust, so there is no robustness to explain."
    if f["cause"] == "none":
        text += f"No attack of the suite lowers the PGD-7 number significantly at this budget (level {stats.ALPHA}). "
    elif f["cause"] == "weak attack":
        text += ("Plain PGD with more steps, restarts or another step size already reaches the worst case "
                 f"({stats.fmt_acc(f['plain_pgd'])}): for this model the PGD-7 robustness is an artifact of a weak attack. ")
    else:
        text += (f"Plain PGD with more steps stops at {stats.fmt_acc(f['plain_pgd'])}, significantly above the worst case; "
                 f"the group that goes furthest is '{f['strongest_group']}': the gradients PGD follows are obfuscated. ")
    text += ("Red flags that fired: " + "; ".join(fired) + ". ") if fired else "No red flag fired. "
    return text + ("The worst case is an upper bound on this model's robust accuracy; it says nothing about other "
                   "models, or about the paper's full-scale ones unless one of them was audited.")
