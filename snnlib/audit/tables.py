"""The audit's tables for the book: tidy DataFrames built from suite results (``{model: result}``)."""

from __future__ import annotations

import pandas as pd

from .estimators import ESTIMATOR_LABELS, ESTIMATORS
from .settings import AuditSettings


def summary_table(res: dict[str, dict]) -> pd.DataFrame:
    """Per model: clean, PGD-7 (paper setting) and worst-case accuracy, and the gap."""
    rows = []
    for name, r in res.items():
        f = r["final"]
        rows.append({"model": name, "n eval": f["n_eval"], "clean": f["clean_acc"], "FGSM": f["fgsm_acc"],
                     "PGD-7 (paper)": f["pgd7_acc"], "worst case": f["worst_acc"], "gap": f["gap"],
                     "strongest single attack(s)": f["strongest_single"]})
    return pd.DataFrame(rows).set_index("model")


def attack_frame(res: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, attack): accuracy, group, whether it enters the worst case."""
    return pd.DataFrame([{"model": name, **a} for name, r in res.items() for a in r["attacks"]])


def ladder_frame(res: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": name, "steps": k, "acc": a} for name, r in res.items()
                         for k, a in zip(r["ladder"]["steps"], r["ladder"]["acc"])])


def sweep_frame(res: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": name, **d} for name, r in res.items() for d in r["sweep"]])


def estimator_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": name, **d} for name, r in res.items() for d in r["estimators"]]
    return pd.DataFrame(rows).pivot(index="estimator", columns="model", values="acc").reindex(
        [*ESTIMATORS, "worst case"]).dropna(how="all")


def flags_table(res: dict[str, dict]) -> pd.DataFrame:
    """Red-flag checklist: one row per check, one column per model (fired or not, with the evidence)."""
    rows = {}
    for name, r in res.items():
        for f in r["flags"]:
            row = rows.setdefault(f["check"], {"check": f["check"], "rule": f["rule"], "source": f["source"]})
            row[name] = ("FIRES: " if f["fired"] else "no: ") + f["evidence"]
    return pd.DataFrame(list(rows.values())).set_index("check")


def switch_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": name, "space": d["space"], "bn": d["bn"], "FGSM": d["fgsm_acc"], "PGD-7": d["pgd_acc"]}
            for name, r in res.items() for d in r["switches"]]
    return pd.DataFrame(rows).set_index(["model", "space", "bn"])


def leak_table(res: dict[str, dict]) -> pd.DataFrame:
    """The authors' loop: each accuracy without and with the BN leak, and the difference."""
    rows = []
    for name, r in res.items():
        a = r["authors_loop"]
        for k, lab in (("clean", "clean (in the loop)"), ("fgsm", "FGSM"), ("pgd", "PGD-7")):
            rows.append({"model": name, "accuracy": lab, "no leak": a[k], "authors' loop": a[f"{k}_leak"],
                         "leak effect": a[f"{k}_leak"] - a[k]})
        rows.append({"model": name, "accuracy": "clean (after the loop)", "no leak": a["clean"],
                     "authors' loop": a["clean_after"], "leak effect": a["clean_after"] - a["clean"]})
    return pd.DataFrame(rows).set_index(["model", "accuracy"])


def zero_grad_table(res: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": name, "gradient": f"{d['space']} space, ATan alpha=2", "samples": d["n"],
             "all-zero samples": d["all_zero"], "zero entries": d["zero_frac"]}
            for name, r in res.items() for d in r["zero_gradients"]]
    rows += [{"model": name, "gradient": f"pixel space, {ESTIMATOR_LABELS.get(d['estimator'], d['label'])}",
              "samples": d["grad_n"],
              "all-zero samples": d["grad_all_zero"], "zero entries": d["grad_zero_frac"]}
             for name, r in res.items() for d in r["estimators"] if "grad_n" in d and d["estimator"] != "atan-2"]
    return pd.DataFrame(rows).set_index(["model", "gradient"])


def fired_for(res: dict[str, dict], flag: str) -> str:
    """The models for which a red flag fired, as text ("none of the models" if none)."""
    hit = [name for name, r in res.items() for f in r["flags"] if f["flag"] == flag and f["fired"]]
    return ", ".join(hit) if hit else "none of the models"


def settings_table(s: AuditSettings) -> pd.DataFrame:
    """The suite's settings, one row per check, in words (for the book)."""
    e = f"{s.eps * 255:g}/255"
    rows = [
        ("evaluation subset", f"{s.n_eval} test images, stratified; attacks run on the clean-correct ones"),
        ("1. steps and restarts", f"PGD, eps {e}, step {s.alpha:g}, {' / '.join(map(str, s.ladder_steps))} steps "
         f"(prefixes of one run, best iterate), {s.ladder_restarts} restarts of the longest"),
        ("2. eps sweep", f"PGD-{s.sweep_steps} (step 2.5 eps/steps) at eps = "
         + ", ".join(f"{v * 255:g}" for v in sorted(s.sweep_eps)) + " (/255)"),
        ("3. one-step", f"FGSM and the paper's PGD-7 (step {s.alpha:g}, last iterate), eps {e}"),
        ("4. black-box", f"Square, {s.square_queries} queries; transfer of PGD-{s.transfer_steps} from the ANN twin "
         "and from another SNN"),
        ("5. gradient estimators", f"PGD-{s.estimator_steps} (step 2.5 eps/steps) with each of "
         + "; ".join(ESTIMATOR_LABELS[k] for k in s.estimators)),
        ("6. adaptive attacks", f"APGD-CE and APGD-DLR, {s.apgd_steps} steps"
         + ("; AutoAttack (standard)" if s.autoattack else "; AutoAttack not run at this budget")),
        ("7. EOT", f"EOT-PGD with {s.eot_samples} encoder draws, only for stochastic encoders"),
        ("random noise", f"{s.noise_draws} uniform draws in the eps-ball"),
        ("8. zero gradients", "input gradient of the loss at the clean images: all images, pixel and spike "
         "space, training surrogate; the attacked images, pixel space, every estimator"),
        ("9. threat models", f"FGSM and PGD-7 at eps {e} in pixel/spike space with BN eval/train; the authors' "
         f"loop at eps {s.authors_eps * 255:g}/255, batch {s.authors_batch_size}"),
    ]
    return pd.DataFrame(rows, columns=["check", "setting"])
