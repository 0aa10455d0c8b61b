"""Red flags of gradient obfuscation (after AutoAttack's ``checks.py``: one function per flag), the summary of a
suite result, the attribution of the robustness to attack groups, and the verdict.

Every flag is decided by an exact test at :data:`snnlib.stats.ALPHA`, never by a single image: two attacks on
the same images are compared by the exact McNemar (sign) test on the discordant images, a rate against a
threshold by an exact binomial test. Each flag function takes a suite result and returns
``(fired, evidence)``, or None where it does not apply; :data:`FLAG_TEXT` documents each as title, source
and the rule ("raised if"). Everything is computed from the stored per-sample results, so a cached
result is re-derived on loading without running any attack again.
"""

from __future__ import annotations

import torch

from .. import stats
from .checks import worst_case

A = stats.ALPHA
FLAG_TEXT = {
    "one_step_beats_iterative": (
        "One-step beats iterative",
        "Athalye et al. 2018; Carlini et al. 2019",
        f"FGSM accuracy below PGD-7's (exact one-sided McNemar, p < {A})",
    ),
    "black_box_beats_white_box": (
        "Black-box beats white-box",
        "Athalye et al. 2018; Carlini et al. 2019",
        "the strongest black-box attack below the strongest white-box attack that has no "
        f"black-box part (AutoAttack, which runs Square, is left out) (McNemar, p < {A})",
    ),
    "unbounded_eps_not_100": (
        "Unbounded eps does not reach full attack success",
        "Athalye et al. 2018; Carlini et al. 2019",
        f"PGD accuracy at the largest eps of the sweep above 1 % (exact binomial test, p < {A})",
    ),
    "random_noise_finds": (
        "Random noise beats PGD-7",
        "Carlini et al. 2019",
        f"random noise in the eps-ball below PGD-7's accuracy (McNemar, p < {A})",
    ),
    "more_steps_keep_helping": (
        "More steps keep helping",
        "Carlini et al. 2019",
        f"the longest PGD run below the second longest (McNemar, p < {A})",
    ),
    "other_estimator_helps": (
        "Another gradient estimator beats the training surrogate",
        "SNN-specific (Wang et al. 2025; Özdenizci & Legenstein 2024; Bu et al. 2023)",
        f"some estimator below ATan alpha=2 with the same PGD budget (McNemar each, Holm-corrected, p < {A})",
    ),
    "zero_gradients": (
        "Exactly-zero input gradients",
        "AutoAttack's check_zero_gradients; paper Section 4.3.1",
        "more than 1 % of the images have an all-zero input gradient with respect to the encoded "
        "spikes (binomial test, p < 0.05); in pixel space for a model without an encoder. Through a "
        "straight-through encoder the pixel gradient sums the steps' gradients, so it is zero only "
        "if the spike gradient is: the flag is measured where it can fire",
    ),
    "randomness": (
        "Forwards on the same input differ",
        "AutoAttack's check_randomized",
        "two of five forwards on the same images give different predictions or logits (> 1e-4)",
    ),
    "probabilities": (
        "Outputs look like probabilities, not logits",
        "AutoAttack's check_range_output",
        "every output in [0, 1] and every row sums to 1",
    ),
}


def _images(k: int) -> str:
    return f"{k} image" + ("" if k == 1 else "s")


def attack_acc(r: dict) -> dict:
    """``{attack name: accuracy}`` of one suite result."""
    return {a["attack"]: a["acc"] for a in r["attacks"]}


def per_sample(r: dict) -> dict:
    return {k: torch.tensor(v, dtype=torch.bool) for k, v in r["per_sample"].items()}


def _test(ps, a, b):
    """McNemar: is attack ``b`` stronger than ``a`` (lower accuracy) on these images?"""
    return stats.mcnemar(ps[a].numpy(), ps[b].numpy(), "greater")


def _ev(a, b, t):
    return f"{b} breaks {_images(t['a_only'])} {a} does not, the reverse {t['b_only']}; p = {t['p']:.3g}"


def _group(r, *groups):
    return [a["attack"] for a in r["attacks"] if a["group"] in groups and a["attack"] in r["per_sample"]]


def _strongest(r, names):
    acc = attack_acc(r)
    return min(names, key=lambda k: acc[k]) if names else None


def _have(r, *names):
    return all(n in r["per_sample"] for n in names)


def flag_one_step_beats_iterative(r):
    if not _have(r, "PGD-7 (paper)", "FGSM"):
        return None
    t = _test(per_sample(r), "PGD-7 (paper)", "FGSM")
    return t["p"] < A, _ev("PGD-7", "FGSM", t)


WHITE_BOX = ("paper", "one-step", "steps", "step size", "estimator", "adaptive", "encoder BPDA", "eot")


def contains_black_box(a: dict) -> bool:
    """Whether an attack record runs a black-box attack inside (AutoAttack runs Square); results written before the
    record said so are recognised by AutoAttack's name."""
    return bool(a.get("contains_black_box", a["attack"].startswith("AutoAttack")))


def white_box(r) -> list[str]:
    """The white-box attacks of a result that have no black-box part."""
    keep = {a["attack"] for a in r["attacks"] if not contains_black_box(a)}
    return [k for k in _group(r, *WHITE_BOX) if k in keep]


def flag_black_box_beats_white_box(r):
    bb = _strongest(r, _group(r, "black-box"))
    wb = _strongest(r, white_box(r))
    if bb is None or wb is None:
        return None
    ps = per_sample(r)
    t = _test(ps, wb, bb)
    union = worst_case({k: ps[k] for k in white_box(r)})
    only_bb = int((union & ~ps[bb]).sum())
    return t["p"] < A, (f"{_ev(wb, bb, t)}; {only_bb} images broken by {bb} and by no white-box attack")


def flag_unbounded_eps_not_100(r):
    if not r.get("sweep"):
        return None
    top = max(r["sweep"], key=lambda d: d["eps"])
    p = stats.exceeds([1] * top["n_robust"] + [0] * (r["n_eval"] - top["n_robust"]), 0.01)
    return (
        p < A,
        f"eps {top['eps_255']:g}/255: {top['n_robust']} of {r['n_eval']} robust ({top['acc']:.1%}); p = {p:.3g}",
    )


def flag_random_noise_finds(r):
    if not _have(r, "PGD-7 (paper)", "random noise"):
        return None
    t = _test(per_sample(r), "PGD-7 (paper)", "random noise")
    return t["p"] < A, _ev("PGD-7", "random noise", t)


def flag_more_steps_keep_helping(r):
    rungs = (r.get("ladder") or {}).get("rungs", [])
    if len(rungs) < 2:
        return None
    if not _have(r, f"PGD-{rungs[-2]}", f"PGD-{rungs[-1]}"):
        return None
    t = _test(per_sample(r), f"PGD-{rungs[-2]}", f"PGD-{rungs[-1]}")
    return t["p"] < A, _ev(f"PGD-{rungs[-2]}", f"PGD-{rungs[-1]}", t)


def estimator_tests(r) -> dict:
    """Each estimator against ATan alpha=2 at the same PGD budget: McNemar p-values, Holm-corrected."""
    ps = per_sample(r)
    est = [k for k in _group(r, "estimator", "encoder BPDA") if k.startswith("PGD-") and "[" in k]
    base = next((k for k in est if k.endswith("[atan-2]")), None)
    if base is None:
        return {}
    tests = {k: _test(ps, base, k) for k in est if k != base}
    adj = stats.holm({k: t["p"] for k, t in tests.items()})
    return {k: {**t, "p_holm": adj[k], "base": base} for k, t in tests.items()}


def flag_other_estimator_helps(r):
    tests = estimator_tests(r)
    if not tests:
        return None
    best = min(tests, key=lambda k: tests[k]["p_holm"])
    t = tests[best]
    return t["p_holm"] < A, (
        f"strongest: {best} breaks {_images(t['a_only'])} ATan alpha=2 does not, the reverse "
        f"{t['b_only']}; Holm-corrected p = {t['p_holm']:.3g} over {len(tests)} estimators"
    )


def flag_zero_gradients(r):
    rows = {d["space"]: d for d in r.get("zero_gradients", [])}
    space = "spike" if "spike" in rows else "pixel" if "pixel" in rows else None
    if space is None:
        return None
    z = rows[space]
    p = stats.exceeds([1] * z["all_zero"] + [0] * (z["n"] - z["all_zero"]), 0.01)
    which = ", ".join(map(str, z.get("which", [])[:10]))
    return p < A, (
        f"{space} space: {z['all_zero']} of {z['n']} images ({which or 'none'}); {z['zero_frac']:.1%} of "
        f"the gradient's entries are zero; p = {p:.3g}"
    )


def flag_randomness(r):
    rr = r.get("randomness")
    if rr is None:
        return None
    return not rr["deterministic"], (
        f"{rr['kind']}: predictions differ: {rr['predictions_differ']}, largest distance "
        f"of normalised logits {rr['max_logit_distance']:.2g}"
    )


def flag_probabilities(r):
    o = r.get("output_range")
    if o is None:
        return None
    return o["probabilities"], f"outputs in [{o['min']:.3g}, {o['max']:.3g}] over {o['n_classes']} classes"


FLAGS = {
    "one_step_beats_iterative": flag_one_step_beats_iterative,
    "black_box_beats_white_box": flag_black_box_beats_white_box,
    "unbounded_eps_not_100": flag_unbounded_eps_not_100,
    "random_noise_finds": flag_random_noise_finds,
    "more_steps_keep_helping": flag_more_steps_keep_helping,
    "other_estimator_helps": flag_other_estimator_helps,
    "zero_gradients": flag_zero_gradients,
    "randomness": flag_randomness,
    "probabilities": flag_probabilities,
}


def red_flags(r: dict) -> list[dict]:
    """The red-flag checklist (Athalye et al. 2018; Carlini et al. 2019; AutoAttack), each decided by its test."""
    out = []
    for key, fn in FLAGS.items():
        hit = fn(r)
        if hit is None:
            continue
        title, source, rule = FLAG_TEXT[key]
        out.append(
            {
                "flag": key,
                "name": key,
                "check": title,
                "source": source,
                "rule": rule,
                "fired": bool(hit[0]),
                "evidence": hit[1],
            }
        )
    return out
