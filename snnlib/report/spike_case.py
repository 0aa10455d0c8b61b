"""The spike-space worst case in the book: does the robustness the authors' threat measures survive stronger
attacks in the same space (:mod:`snnlib.spike_case`)? One table row per model and eps, and the claim's evidence."""

from __future__ import annotations

import pandas as pd

from .. import results, stats
from ..spike_case import spike_case_configs, spike_case_result
from . import rules
from .sensitivity import paper_ratio
from .tables import configs

TITLE = "The authors'-threat robustness survives stronger spike-space attacks (Section 4.2 as run)"
CAPTION = (
    "The images that the authors' PGD-7 (spikes, BN in train mode, shuffled batches of 16) leaves, attacked again "
    "in spike space: PGD with more steps and restarts, APGD-CE and APGD-DLR, each crafted with BN in eval mode "
    "and in train mode (the authors' batches), as a cascade on what the earlier attacks left. Every prediction is "
    "in BN eval mode. The worst case is nested in the PGD-7 survivors, so the images broken beyond PGD-7 are a "
    "count with its exact 95% interval. PGD/clean is the share of clean-correct images left, beside the paper's."
)


def _label(row: dict, s: dict) -> str:
    name = {
        "pgd7": "PGD-7",
        "pgd-restarts": f"PGD-{s['steps']}x{s['restarts']}",
        "apgd-ce": "APGD-CE",
        "apgd-dlr": "APGD-DLR",
    }
    return f"{name.get(row['attack'], row['attack'])} ({row['bn']})"


def share(part: dict, clean: dict) -> dict:
    """Survivors as a share of the clean-correct images, with its exact interval."""
    k, n = part["k"], clean["k"]
    lo, hi = stats.clopper_pearson(k, n)
    return {"ratio": k / n if n else float("nan"), "lo": lo, "hi": hi}


def _fmt_share(r: dict) -> str:
    return f"{r['ratio']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]"


def _rows(cfg, r: dict) -> list[dict]:
    out = []
    for e in r["per_eps"]:
        b = e["beyond_pgd7"]
        row = {
            "model": cfg.name,
            "eps": f"{e['eps'] * 255:.0f}/255",
            "n": e["clean"]["n"],
            "clean": stats.fmt_acc(e["clean"]),
            "authors' PGD-7": stats.fmt_acc(e["authors_pgd7"]),
        }
        row.update({"broken by " + _label(a, r["settings"]): a["broken"] for a in e["rows"][1:]})
        row.update(
            {
                "worst case": stats.fmt_acc(e["worst"]),
                "broken beyond PGD-7": f"{b['k']} of {b['n']} [{100 * b['lo']:.1f}, {100 * b['hi']:.1f}]%",
                "PGD-7/clean": _fmt_share(share(e["authors_pgd7"], e["clean"])),
                "worst/clean": _fmt_share(share(e["worst"], e["clean"])),
                "paper PGD/clean": paper_ratio(cfg)[1],
            }
        )
        out.append(row)
    return out


def spike_case_models(profile: str) -> list:
    return [c for cfg in configs(profile).values() for c in spike_case_configs(cfg)]


def spike_case_table(profile: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per model and eps (read from saved results in a committed profile); and the models not yet computed."""
    rows, missing = [], []
    for cfg in spike_case_models(profile):
        try:
            with results.book_reading(cfg.profile):
                rows += _rows(cfg, spike_case_result(cfg))
        except results.ResultMissing:
            missing.append(cfg.name)
    return pd.DataFrame(rows), missing


def transposed(df: pd.DataFrame) -> pd.DataFrame:
    """The table with one column per model and eps (its rows are long): for the book."""
    cols = df["model"] + ", " + df["eps"]
    return df.drop(columns=["model", "eps"]).set_axis(cols).T.reset_index(names="")


def claim_row(sew) -> dict:
    """The claim's row for the main SEW-18 (max): judged at the authors' code's 6/255, 8/255 shown beside it."""
    with results.book_reading(sew.profile):
        r = spike_case_result(sew)
    value, label = paper_ratio(sew)
    by_eps = {round(e["eps"] * 255): e for e in r["per_eps"]}
    e6 = by_eps.get(6, r["per_eps"][0])
    ev = {"worst": share(e6["worst"], e6["clean"]), "paper": value}
    ours = "; ".join(
        f"{k}/255: authors' PGD-7 {stats.fmt_acc(e['authors_pgd7'])} -> spike-space worst case "
        f"{stats.fmt_acc(e['worst'])} ({e['beyond_pgd7']['k']} of {e['beyond_pgd7']['n']} survivors broken), "
        f"worst/clean {_fmt_share(share(e['worst'], e['clean']))}"
        for k, e in sorted(by_eps.items())
    )
    return {
        "paper": f"SEW-ResNet18 PGD/clean {label} (CIFAR-10, authors' code: 6/255)",
        "ours": ours,
        **rules.judge("spike_case", ev),
    }
