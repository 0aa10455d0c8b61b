"""The Benchmarks chapter's tables, from bench result files (``results/bench/*.json``)."""

from __future__ import annotations

import json

import pandas as pd

from .. import places
from .variants import VARIANTS, snnlib_variant


def load(name: str) -> dict | None:
    """A result file of ``results/bench`` by stem (``cpu``, ``cpu-1thread``, ``cuda``, ...), or None."""
    p = places.project_root() / "results" / "bench" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def equality(res: dict) -> pd.DataFrame:
    """Every snnlib variant against the authors' pipeline from the same state."""
    rows = []
    for key, c in res["checks"].items():
        kind, b, variant = key.split("|")
        if kind == "eval":
            rows.append([kind, int(b), variant, max(c[f"{k}_logits_maxdiff"] for k in ("clean", "fgsm", "pgd")),
                         c["fgsm_adv_elements_differing"] + c["pgd_adv_elements_differing"],
                         c["fgsm_predictions_differing"] + c["pgd_predictions_differing"], None, c["passed"]])
        else:
            rows.append([kind, int(b), variant, c["logits_maxdiff"], None, None, c["grads_max_rel_diff"], c["passed"]])
    df = pd.DataFrame(rows, columns=["workload", "batch", "snnlib variant", "max abs Δ logit", "adv. elements differing",
                                     "adv. predictions differing", "max rel. Δ weight grad", "equal"]).astype(object)
    return df.where(df.notna(), None)


def headline(res: dict) -> pd.DataFrame:
    """Per workload and batch: the authors' and snnlib's time and memory per image, and the ratios."""
    t = pd.DataFrame(res["table"])
    dev = "cuda" if str(res.get("device", "cpu")).startswith("cuda") else "cpu"
    rows = []
    for (kind, b), g in t.groupby(["workload", "batch"], sort=False):
        a, s = g.set_index("variant").loc["authors"], g.set_index("variant").loc[snnlib_variant(dev, kind)]
        rows.append([kind, b, a.ms_per_image, s.ms_per_image, s.speedup, s.wall_speedup, a.peak_mb, s.peak_mb,
                     s.memory_ratio])
    return pd.DataFrame(rows, columns=["workload", "batch", "authors ms/img", "snnlib ms/img", "speed-up",
                                       "speed-up (wall)", "authors MB", "snnlib MB", "memory ratio"])


def ablation(res: dict) -> pd.DataFrame:
    """At the paper's batch, each variant adds one change to the one above; 'step gain' is the previous row's time
    over this row's."""
    t = pd.DataFrame(res["table"])
    b0 = res["sizes"]["batches"][0]
    ab = t[t.batch == b0][["workload", "variant", "ms_per_image", "speedup", "peak_mb", "roofline_fraction"]].copy()
    ab["step gain"] = ab.groupby("workload").ms_per_image.transform(lambda s: s.shift(1) / s).astype(object)
    ab.loc[ab.variant == "authors", "step gain"] = None
    return ab.rename(columns={"ms_per_image": "ms/img", "speedup": "speed-up vs authors", "peak_mb": "peak MB",
                              "roofline_fraction": "roofline fraction"})


def breakdown(res: dict) -> pd.DataFrame:
    """Where snnlib's time goes (torch.profiler, self time), per workload."""
    rows = [{"workload": k, **r} for k, ops in res.get("profile", {}).items() for r in ops]
    return pd.DataFrame(rows)


def runs() -> pd.DataFrame:
    """Every committed benchmark run, each with its machine: the ratios at the paper's batch."""
    rows = []
    for p in sorted((places.project_root() / "results" / "bench").glob("*.json")):
        if p.stem.endswith(("-quick", "-build")):
            continue
        r = json.loads(p.read_text())
        f, m, b0 = r["final"], r["machine"], r["sizes"]["batches"][0]
        rows.append({"file": p.name, "machine": m.get("gpu") or m["cpu_model"], "threads": m["torch_threads"],
                     "clock": r["clock"], "load at start": m.get("load_average_at_start"),
                     f"train b{b0}": f.get(f"train_b{b0}_speedup"), f"eval b{b0}": f.get(f"eval_b{b0}_speedup"),
                     "equal": f["equal"], "commit": (r.get("environment", {}).get("git_commit") or "")[:8],
                     "date": r.get("environment", {}).get("time", "")[:10]})
    return pd.DataFrame(rows)


def variants(device: str = "cpu") -> dict:
    return VARIANTS[device]
