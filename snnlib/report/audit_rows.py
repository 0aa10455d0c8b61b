"""The audit's rows of the claims table: does the PGD-7 accuracy of each model of the paper's rows survive the whole
suite (:mod:`snnlib.audit`), and each config's worst case for the claims that compare two models on it."""

from __future__ import annotations

from .. import audit as audit_
from .. import results, stats
from ..errors import SnnlibError
from . import provenance, rules


def audit_final(cfg) -> dict | None:
    """A config's audit summary (``final``), or None where it has not been audited (read only, never computed)."""
    try:
        with results.only_cached():
            return audit_.run_config(cfg)["final"]
    except (SnnlibError, KeyError):  # not audited (ResultMissing), or no audit set-up for it (no ANN twin config)
        return None


def worst_cases(*cfgs) -> tuple | None:
    """Each config's worst case over the audit suite (``{acc, k, n, lo, hi}``), or None unless all are audited.
    Only reads audits (an audit is hours of work; ``reproduce`` computes them), never starts one."""
    finals = [audit_final(c) for c in cfgs]
    return None if any(f is None for f in finals) else tuple(f["worst"] for f in finals)


MISSING = "not yet computed"


def missing_row(title: str, why) -> dict:
    return {"claim": title, "paper": "", "ours": str(why).splitlines()[0], "verdict": MISSING, "rule": ""}


def audit_row(name: str, r: dict) -> dict:
    f = r["final"]
    g = f["gap_test"]
    k, n = int(g["a_only"]), int(g["n"])
    lo, hi = stats.clopper_pearson(k, n)
    ev = {"p": g["p"], "cause": f["cause"], "extra": k}
    return {
        "claim": f"The PGD-7 robustness is real, not an artifact of the attack ({name})",
        "paper": "suspects obfuscated gradients; BPDA and EOT untested",
        "ours": (
            f"PGD-7 {stats.fmt_acc(f['pgd7'])} -> worst case {stats.fmt_acc(f['worst'])}: the suite breaks "
            f"{k} of {n} images that PGD-7 leaves ({100 * k / n:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}], exact), "
            f"none the other way by construction (McNemar p = {g['p']:.2g}, version 1); cause: {f['cause']}"
        ),
        **rules.judge("audit", ev),
    }


def audit_claims(profile) -> list[dict]:
    """The audit's answer per model of the paper's rows: does the PGD-7 accuracy survive the whole suite?"""
    rows = []
    for name, cfg in audit_.audited_configs(profile).items():
        if cfg.role != "paper":
            continue
        try:
            with results.book_reading(cfg.profile):
                row = audit_row(name, audit_.run_config(cfg))
        except results.ResultMissing:
            row = missing_row(
                f"The PGD-7 robustness is real, not an artifact of the attack ({name})",
                f"audit not finished: {audit_.progress_note(cfg, profile)}",
            )
        rows.append({**row, "data": provenance.data_note([cfg])})
    return rows


def _count(k: int, n: int) -> dict:
    """``k`` of ``n`` as an accuracy with its exact interval (the attacks list stores accuracies only)."""
    return stats.accuracy([True] * k + [False] * (n - k))


def defended_summary(profile) -> str:
    """One paragraph (markdown) on what the audit finds for the defended reference (PGD-AT issue, item 3): PGD-7,
    AutoAttack and the worst case on the audit's images, the cause, and the red flags that fired."""
    from .tables import defended_reference

    cfg = defended_reference(profile)
    if cfg is None:
        return "This profile has no defended baseline."
    try:
        with results.book_reading(cfg.profile):
            r = audit_.run_config(cfg)
    except results.ResultMissing:
        return f"The defended reference (`{cfg.name}`) is not audited yet: {audit_.progress_note(cfg, profile)}."
    f = r["final"]
    n = f["worst"]["n"]
    aa = next((a for a in r["attacks"] if a["id"] == "autoattack"), None)
    aa_text = f", AutoAttack {stats.fmt_acc(_count(round(aa['acc'] * n), n))}" if aa else ""
    fired = [fl["check"] for fl in r["flags"] if fl["fired"]]
    flags = "; red flags that fired: " + "; ".join(fired) if fired else "; no red flag fired"
    falls = rules.falls_to_audit(f)  # the rule Fig. 2's shape (version 2) applies
    return (
        f"The audit of the defended reference (`{cfg.name}`, n = {n} images): PGD-7 {stats.fmt_acc(f['pgd7'])}"
        f"{aa_text}, worst case over the whole suite {stats.fmt_acc(f['worst'])}; cause: {f['cause']}{flags}. "
        + (
            "Its PGD-7 accuracy does not survive the suite (the worst case's interval lies below PGD-7's), so "
            "Fig. 2's shape is not judged against it, and the natural-robustness claim compares worst cases."
            if falls
            else "The worst case's interval overlaps PGD-7's, so Fig. 2's shape is judged against it."
        )
    )
