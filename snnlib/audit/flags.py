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


from .. import stats
from . import records as R
from .primitives import worst_case

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
    """``{attack id: accuracy}`` of one suite result."""
    return {a["id"]: a["acc"] for a in r["attacks"]}


def per_sample(r: dict) -> dict:
    """Every per-image outcome of a result, by id (:func:`.records.robust`)."""
    return R.robust(r)


def _test(ps, a, b):
    """McNemar: is attack ``b`` stronger than ``a`` (lower accuracy) on these images?"""
    return stats.mcnemar(ps[a].numpy(), ps[b].numpy(), "greater")


def _ev(a, b, t):
    return f"{b} breaks {_images(t['a_only'])} {a} does not, the reverse {t['b_only']}; p = {t['p']:.3g}"


def _group(r, *groups) -> list[str]:
    """The ids of a result's attacks in ``groups`` (those with an outcome)."""
    return [a["id"] for a in r["attacks"] if a["group"] in groups and a["id"] in r["per_sample"]]


def _label(r, rid) -> str:
    return next((a["attack"] for a in r["attacks"] if a["id"] == rid), rid)


def _strongest(r, ids):
    acc = attack_acc(r)
    return min(ids, key=lambda k: acc[k]) if ids else None


def _have(r, *ids):
    return all(n in r["per_sample"] for n in ids)


def _pair(r, a, b, shown_a=None):
    """(fired, evidence) of attack ``b`` against ``a`` by McNemar, or None if either is missing; the evidence names
    them by label (``a`` as ``shown_a`` if given)."""
    if not _have(r, a, b):
        return None
    t = _test(per_sample(r), a, b)
    return t["p"] < A, _ev(shown_a or _label(r, a), _label(r, b), t)


def flag_one_step_beats_iterative(r):
    return _pair(r, R.PGD7, R.FGSM, "PGD-7")


WHITE_BOX = ("paper", "one-step", "steps", "step size", "estimator", "adaptive", "encoder BPDA", "eot")


def white_box(r) -> list[str]:
    """The ids of a result's white-box attacks that have no black-box part."""
    keep = {a["id"] for a in r["attacks"] if not a["contains_black_box"]}
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
    bl = _label(r, bb)
    return t["p"] < A, (f"{_ev(_label(r, wb), bl, t)}; {only_bb} images broken by {bl} and by no white-box attack")


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
    return _pair(r, R.PGD7, R.NOISE, "PGD-7")


def flag_more_steps_keep_helping(r):
    rungs = (r.get("ladder") or {}).get("rungs", [])
    if len(rungs) < 2:
        return None
    return _pair(r, R.ladder(rungs[-2]), R.ladder(rungs[-1]), f"PGD-{rungs[-2]}")


def estimator_tests(r) -> dict:
    """Each estimator against ATan alpha=2 at the same PGD budget: McNemar p-values, Holm-corrected, by attack id."""
    ps, rec = per_sample(r), {a["id"]: a for a in r["attacks"]}
    est = [k for k in _group(r, "estimator", "encoder BPDA") if rec[k].get("estimator")]
    base = R.estimator("atan-2")
    if base not in est:
        return {}
    tests = {k: _test(ps, base, k) for k in est if k != base}
    adj = stats.holm({k: t["p"] for k, t in tests.items()})
    return {k: {**t, "p_holm": adj[k], "base": _label(r, base), "label": _label(r, k)} for k, t in tests.items()}


def flag_other_estimator_helps(r):
    tests = estimator_tests(r)
    if not tests:
        return None
    best = min(tests, key=lambda k: tests[k]["p_holm"])
    t = tests[best]
    return t["p_holm"] < A, (
        f"strongest: {t['label']} breaks {_images(t['a_only'])} ATan alpha=2 does not, the reverse "
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
