"""Red flags of gradient obfuscation (after AutoAttack's ``checks.py``: one function per flag), the summary
of a suite result, and its verdict.

Each flag function takes a suite result and returns ``(fired, evidence)``, or None where it does not
apply. :data:`FLAG_TEXT` documents each as title, source and the rule ("raised if").
Everything here is computed from the stored per-sample results, so a cached result is re-derived on
loading without running any attack again.
"""

from __future__ import annotations

import torch

from .checks import worst_case

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


def attack_acc(r: dict) -> dict:
    """``{attack name: accuracy}`` of one suite result."""
    return {a["attack"]: a["acc"] for a in r["attacks"]}


def per_sample(r: dict) -> dict:
    return {k: torch.tensor(v, dtype=torch.bool) for k, v in r["per_sample"].items()}


def flag_one_step_beats_iterative(r):
    acc = attack_acc(r)
    p7 = acc["PGD-7 (paper)"]
    return acc["FGSM"] < p7, f"FGSM {acc['FGSM']:.1%} vs PGD-7 {p7:.1%}"


def flag_black_box_beats_white_box(r):
    acc = attack_acc(r)
    bb = {k: v for k, v in acc.items() if k == "Square" or k.startswith("transfer")}
    if not bb:
        return None
    p7, name = acc["PGD-7 (paper)"], min(bb, key=bb.get)
    wb = {a["attack"]: a["acc"] for a in r["attacks"] if a["group"] not in ("clean", "black-box", "noise")}
    best = min(wb, key=wb.get)
    return bb[name] < p7, f"{name} {bb[name]:.1%} vs PGD-7 {p7:.1%} (strongest white-box: {best} {wb[best]:.1%})"


def flag_unbounded_eps_not_100(r):
    if not r.get("sweep"):
        return None
    top = max(r["sweep"], key=lambda d: d["eps"])
    return top["acc"] > 0, f"eps {top['eps_255']:g}/255: {top['acc']:.1%} robust ({top['n_robust']} of {r['n_eval']})"


def flag_random_noise_finds(r):
    ps = per_sample(r)
    noise_only = (~ps["random noise"] & ps["PGD-7 (paper)"] & ps["clean"]).sum().item()
    return noise_only > 0, f"{noise_only} sample(s) broken by noise but not by PGD-7"


def flag_more_steps_keep_helping(r):
    rungs = (r.get("ladder") or {}).get("rungs", [])
    if len(rungs) < 2:
        return None
    lad = {a["attack"]: a["acc"] for a in r["attacks"] if a["group"] == "steps" and "sweep" not in a["attack"]}
    return lad[f"PGD-{rungs[-1]}"] < lad[f"PGD-{rungs[-2]}"], " -> ".join(f"{k} {v:.1%}" for k, v in lad.items())


def flag_other_estimator_helps(r):
    est = {k: v for k, v in per_sample(r).items() if k.startswith("PGD-") and "[" in k}
    base = [k for k in est if k.endswith("[atan-2]")]
    if not base or len(est) < 2:
        return None
    others = worst_case({k: v for k, v in est.items() if k != base[0]})
    a_o, a_b = others.float().mean().item(), est[base[0]].float().mean().item()
    return a_o < a_b, f"other estimators (worst case) {a_o:.1%} vs ATan alpha=2 {a_b:.1%}"


def flag_zero_gradients(r):
    z = [d for d in r.get("zero_gradients", []) if d["space"] == "pixel"]
    if not z:
        return None
    return z[0]["all_zero"] > 0, (f"{z[0]['all_zero']} of {z[0]['n']} samples; {z[0]['zero_frac']:.1%} of "
                                  f"pixel-gradient entries are zero")


FLAGS = {"one_step_beats_iterative": flag_one_step_beats_iterative,
         "black_box_beats_white_box": flag_black_box_beats_white_box,
         "unbounded_eps_not_100": flag_unbounded_eps_not_100, "random_noise_finds": flag_random_noise_finds,
         "more_steps_keep_helping": flag_more_steps_keep_helping,
         "other_estimator_helps": flag_other_estimator_helps, "zero_gradients": flag_zero_gradients}


def red_flags(r: dict) -> list[dict]:
    """The red-flag checklist (Athalye et al. 2018; Carlini et al. 2019) plus SNN-specific checks, from a result."""
    out = []
    for key, fn in FLAGS.items():
        hit = fn(r)
        if hit is None:
            continue
        title, source, rule = FLAG_TEXT[key]
        out.append({"flag": key, "check": title, "source": source, "rule": rule, "fired": bool(hit[0]),
                    "evidence": hit[1]})
    return out


def derive(res: dict) -> dict:
    """Add the per-sample worst case, the summary (``final``) and the red flags to a suite result."""
    attacks = res["attacks"]
    ps = per_sample(res)
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
