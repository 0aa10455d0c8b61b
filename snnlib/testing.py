"""Robustness in a test suite: :func:`assert_audit` runs the audit (:func:`snnlib.audit.audit`) and fails like an
``assert`` where the model's worst-case accuracy or its red flags do not meet the bar.

    from snnlib.testing import assert_audit

    def test_my_snn_is_robust():
        assert_audit(build(), x, y, worst_at_least=0.3, no_flags=True, budget="quick")
"""

from __future__ import annotations

from .audit import AuditReport, audit


def key_line(report: AuditReport) -> str:
    """The card's headline in one line: clean, PGD-7, worst case with its exact interval, n, cause, red flags."""
    c = report.card
    lo, hi = c["worst_case_interval"]
    fired = [f["name"] for f in c["flags"] if f["fired"]]
    return (
        f"{report.label}: clean {c['clean_acc']:.1%}, PGD-7 {c['pgd7_acc']:.1%}, worst case "
        f"{c['worst_case_acc']:.1%} [{lo:.1%}, {hi:.1%}] (n = {c['n']}, {c.get('norm', 'linf')} eps "
        f"{c['eps']:.4g}), cause: {c['cause']}; "
        f"red flags: {', '.join(fired) if fired else 'none'}"
    )


def assert_audit(
    model, x, y, worst_at_least: float | None = None, no_flags: bool = False, **audit_kwargs
) -> AuditReport:
    """Audit ``model`` on ``x, y`` (keywords go to :func:`snnlib.audit.audit`, e.g. ``budget``, ``eps``, ``norm``)
    and raise ``AssertionError`` with the card's key line where the worst-case accuracy is below ``worst_at_least``
    (a fraction) or, with ``no_flags``, a red flag fired. Returns the report otherwise."""
    if worst_at_least is not None and not 0 <= worst_at_least <= 1:
        raise ValueError(f"worst_at_least is a fraction in [0, 1], got {worst_at_least!r}")
    audit_kwargs.setdefault("progress", False)
    rep = audit(model, x, y, **audit_kwargs)
    c, why = rep.card, []
    if worst_at_least is not None and c["worst_case_acc"] < worst_at_least:
        why.append(f"worst-case accuracy {c['worst_case_acc']:.3f} below {worst_at_least:g}")
    if no_flags and any(f["fired"] for f in c["flags"]):
        why.append("red flags fired")
    if why:
        raise AssertionError(f"{'; '.join(why)}. {key_line(rep)}")
    return rep
