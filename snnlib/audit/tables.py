"""The audit's tables for the book: tidy DataFrames built from suite results (``{model: result}``)."""

from __future__ import annotations

import pandas as pd

from .. import stats
from ..attacks import ESTIMATOR_LABELS
from . import records as R
from .settings import AuditSettings


def _ci(a: dict) -> str:
    return f"{100 * a['acc']:.1f} [{100 * a['lo']:.1f}, {100 * a['hi']:.1f}]"


def summary_table(res: dict[str, dict]) -> pd.DataFrame:
    """Per model: n, clean, PGD-7 and worst-case accuracy (%, exact 95 % intervals), the paired test, the cause."""
    rows = []
    for name, r in res.items():
        f = r["final"]
        rows.append(
            {
                "model": name,
                "n": f["n_eval"],
                "clean": _ci(f["clean"]),
                "PGD-7 (paper)": _ci(f["pgd7"]),
                "plain PGD (more steps)": _ci(f["plain_pgd"]),
                "worst case": _ci(f["worst"]),
                "McNemar p (PGD-7 > worst)": f["gap_test"]["p"],
                "cause": f["cause"],
                "group that goes furthest": f["strongest_group"],
            }
        )
    return pd.DataFrame(rows)


def attack_frame(res: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, attack): group, accuracy with its exact interval, whether it enters the worst case."""
    return pd.DataFrame([{"model": name, **a} for name, r in res.items() for a in r["attacks"]])


def attack_table(res: dict[str, dict]) -> pd.DataFrame:
    """Accuracy (%) [exact interval] under each attack, one column per model."""
    df = attack_frame(res)
    df["cell"] = [_ci({"acc": a, "lo": lo, "hi": hi}) for a, lo, hi in zip(df.acc, df.lo, df.hi)]
    return df.pivot_table(
        index=["group", "attack"], columns="model", values="cell", aggfunc="first", sort=False
    ).reset_index()


def attribution_table(res: dict[str, dict]) -> pd.DataFrame:
    """Leave-one-group-out: per model and group, the worst case without the group and PGD-7 with it alone."""
    rows = [
        {
            "model": name,
            "group": a["group"],
            "worst case without it": _ci(a["without"]),
            "PGD-7 + this group alone": _ci(a["paper_plus_group"]),
            "needed (p < 0.05)": a["needed"],
            "p": a["p_without"],
        }
        for name, r in res.items()
        for a in r["attribution"]
    ]
    return pd.DataFrame(rows)


def ladder_frame(res: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": name, "steps": k, "acc": a}
            for name, r in res.items()
            for k, a in zip(r["ladder"]["steps"], r["ladder"]["acc"])
        ]
    )


def sweep_frame(res: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": name, **d} for name, r in res.items() for d in r["sweep"]])


def trace_frame(res: dict[str, dict]) -> pd.DataFrame:
    """Mean loss and fraction misclassified per PGD iterate (the paper's step), per model."""
    return pd.DataFrame(
        [
            {"model": name, "step": k, "mean loss": lo, "misclassified": w}
            for name, r in res.items()
            if "trace" in r
            for k, lo, w in zip(r["trace"]["steps"], r["trace"]["mean_loss"], r["trace"]["wrong"])
        ]
    )


def strength_frame(res: dict[str, dict]) -> pd.DataFrame:
    """Robust accuracy against attack strength (forward or backward passes per image), per model and family; ``curve``
    marks the PGD ladder's rows (:func:`snnlib.plots.attack_budget` draws them as a line)."""
    rows = []
    for name, r in res.items():
        s = r["settings"] if "settings" in r else {}
        rows += [
            {"model": name, "family": "PGD (paper's step, best iterate)", "budget": max(k, 1), "acc": a, "curve": True}
            for k, a in zip(r["ladder"]["steps"], r["ladder"]["acc"])
        ]
        for a in r["attacks"]:
            b = _budget(a, s)
            if b is not None:
                rows.append({"model": name, "family": a["group"], "budget": b, "acc": a["acc"], "curve": False})
    return pd.DataFrame(rows)


def _budget(a: dict, s: dict) -> int | None:
    """Forward or backward passes per image of the query-counted attacks (record fields and suite settings)."""
    return {
        R.SQUARE: lambda: a["queries"],
        R.SPSA: lambda: a["steps"] * 2 * s.get("spsa_samples", 1),
        R.ASSG: lambda: s.get("sapgd_steps", 1) * len(s.get("assg_A", [1])),
        R.SAPGD: lambda: a["steps"],
        R.AUTOATTACK: lambda: 4 * s.get("autoattack_steps", 100) + s.get("autoattack_queries", 5000),
    }.get(a["id"], lambda: None)()


def estimator_table(res: dict[str, dict]) -> pd.DataFrame:
    """Accuracy (%) under PGD with each backward pass, and the paired test against ATan alpha=2 (Holm-corrected)."""
    rows = []
    for name, r in res.items():
        tests = {t["id"]: t for t in r.get("estimator_tests", [])}
        for a in r["attacks"]:
            if not a.get("estimator"):
                continue
            key, t = a["estimator"], tests.get(a["id"])
            rows.append(
                {
                    "model": name,
                    "estimator": ESTIMATOR_LABELS.get(key, key),
                    "accuracy": _ci(a),
                    "vs ATan alpha=2: broken only here / only there": f"{t['a_only']} / {t['b_only']}" if t else "",
                    "Holm p": t["p_holm"] if t else None,
                }
            )
    return pd.DataFrame(rows)


def flags_table(res: dict[str, dict]) -> pd.DataFrame:
    """Red-flag checklist: one row per check, one column per model (fired or not, with the evidence)."""
    rows = {}
    for name, r in res.items():
        for f in r["flags"]:
            row = rows.setdefault(f["check"], {"check": f["check"], "rule": f["rule"], "source": f["source"]})
            row[name] = ("FIRES: " if f["fired"] else "no: ") + f["evidence"]
    return pd.DataFrame(list(rows.values()))


def switch_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [
        {"model": name, "space": d["space"], "bn": d["bn"], "FGSM": d["fgsm_acc"], "PGD-7": d["pgd_acc"]}
        for name, r in res.items()
        for d in r["switches"]
    ]
    return pd.DataFrame(rows).set_index(["model", "space", "bn"])


def leak_table(res: dict[str, dict]) -> pd.DataFrame:
    """The authors' loop: each accuracy without and with the BN leak, and the difference."""
    rows = []
    for name, r in res.items():
        a = r.get("authors_loop")
        if a is None:
            continue
        for k, lab in (("clean", "clean (in the loop)"), ("fgsm", "FGSM"), ("pgd", "PGD-7")):
            rows.append(
                {
                    "model": name,
                    "accuracy": lab,
                    "no leak": a[k],
                    "authors' loop": a[f"{k}_leak"],
                    "leak effect": a[f"{k}_leak"] - a[k],
                }
            )
        rows.append(
            {
                "model": name,
                "accuracy": "clean (after the loop)",
                "no leak": a["clean"],
                "authors' loop": a["clean_after"],
                "leak effect": a["clean_after"] - a["clean"],
            }
        )
    return pd.DataFrame(rows).set_index(["model", "accuracy"])


def zero_grad_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [
        {
            "model": name,
            "gradient": f"{d['space']} space, ATan alpha=2",
            "samples": d["n"],
            "all-zero samples": d["all_zero"],
            "zero entries": d["zero_frac"],
        }
        for name, r in res.items()
        for d in r["zero_gradients"]
    ]
    rows += [
        {
            "model": name,
            "gradient": f"pixel space, {ESTIMATOR_LABELS.get(d['estimator'], d['label'])}",
            "samples": d["grad_n"],
            "all-zero samples": d["grad_all_zero"],
            "zero entries": d["grad_zero_frac"],
        }
        for name, r in res.items()
        for d in r["estimators"]
        if "grad_n" in d and d["estimator"] != "atan-2"
    ]
    return pd.DataFrame(rows).set_index(["model", "gradient"])


def alignment_table(res: dict[str, dict]) -> pd.DataFrame:
    """Per model and encoder backward: cosine between predicted and finite-difference loss changes."""
    return pd.DataFrame([{"model": name, **d} for name, r in res.items() for d in r.get("alignment", [])])


def fired_for(res: dict[str, dict], flag: str) -> str:
    """The models for which a red flag fired, as text ("none of the models" if none)."""
    hit = [name for name, r in res.items() for f in r["flags"] if f["flag"] == flag and f["fired"]]
    return ", ".join(hit) if hit else "none of the models"


def settings_table(s: AuditSettings) -> pd.DataFrame:
    """The suite's settings, one row per check, in words (for the book)."""
    e = f"{s.eps * 255:g}/255"
    rows = [
        ("evaluation subset", f"{s.n_eval} test images, stratified; attacks run on the clean-correct ones"),
        ("one-step and the paper's PGD", f"FGSM and PGD-7 (step {s.alpha:g}, last iterate), eps {e}"),
        (
            "steps and restarts",
            f"PGD, step {s.alpha:g}, {' / '.join(map(str, s.ladder_steps))} steps (prefixes of one run, "
            f"best iterate), {s.ladder_restarts} restarts of the longest; the trajectory followed for {s.trace_steps} steps",
        ),
        (
            "eps sweep",
            f"PGD-{s.sweep_steps} (step 2.5 eps/steps) at eps = "
            + ", ".join(f"{v * 255:g}" for v in sorted(s.sweep_eps))
            + " (/255); only eps "
            + e
            + " enters the worst case",
        ),
        (
            "gradient estimators",
            f"PGD-{s.estimator_steps} (step 2.5 eps/steps) with each of "
            + "; ".join(ESTIMATOR_LABELS[k] for k in s.estimators),
        ),
        (
            "adaptive attacks",
            f"APGD-CE and APGD-DLR ({s.apgd_steps} steps); SA-PGD-{s.sapgd_steps} with the training "
            f"surrogate and with ASSG (A in {', '.join(f'{a:g}' for a in s.assg_A)})"
            + (
                f"; AutoAttack standard ({s.autoattack_steps} steps, Square {s.autoattack_queries})"
                if s.autoattack
                else ""
            ),
        ),
        (
            "encoder BPDA",
            f"spike-space PGD projected onto valid encodings and a search over the pixel levels, "
            f"{s.level_steps} steps each",
        ),
        (
            "black-box",
            f"Square ({s.square_queries} queries), SPSA ({s.spsa_steps} x {s.spsa_samples} pairs); transfer of "
            f"PGD-{s.transfer_steps} from the ANN twin and another SNN, EOT-PGD from the rate-coded twin",
        ),
        ("EOT and noise", f"EOT-PGD with {s.eot_samples} draws for stochastic models; {s.noise_draws} uniform draws"),
        ("zero gradients", "input gradient of the loss at the clean images, pixel and spike space, every estimator"),
        (
            "threat models",
            f"FGSM and PGD-7 at eps {e} in pixel/spike space with BN eval/train; the authors' loop at eps "
            f"{s.authors_eps * 255:g}/255, batch {s.authors_batch_size}",
        ),
        ("statistics", f"exact intervals at {stats.LEVEL:.0%}; every flag an exact test at level {stats.ALPHA}"),
    ]
    return pd.DataFrame(rows, columns=["check", "setting"])
