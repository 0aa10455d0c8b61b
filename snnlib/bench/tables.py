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
    """Every snnlib variant and lever against its reference (the authors' pipeline from the same state, or for the
    flushed-denormal lever the same model with denormals kept)."""
    rows = []
    for key, c in res["checks"].items():
        kind, b, variant = key.split("|")
        ref = c.get("reference", "authors")
        if kind == "eval":
            rows.append(
                [
                    kind,
                    int(b),
                    variant,
                    ref,
                    max(c[f"{k}_logits_maxdiff"] for k in ("clean", "fgsm", "pgd")),
                    c["fgsm_adv_elements_differing"] + c["pgd_adv_elements_differing"],
                    c["fgsm_predictions_differing"] + c["pgd_predictions_differing"],
                    None,
                    c["passed"],
                ]
            )
        else:
            rows.append(
                [kind, int(b), variant, ref, c["logits_maxdiff"], None, None, c["grads_max_rel_diff"], c["passed"]]
            )
    df = pd.DataFrame(
        rows,
        columns=[
            "workload",
            "batch",
            "snnlib variant",
            "against",
            "max abs Δ logit",
            "adv. elements differing",
            "adv. predictions differing",
            "max rel. Δ weight grad",
            "equal",
        ],
    ).astype(object)
    return df.where(df.notna(), None)


def _spread(row, key, f=".2f") -> str:
    """``median [min-max]`` of a table row's ``key`` (runs without a spread: the median alone)."""
    lo, hi = row.get(f"{key}_min"), row.get(f"{key}_max")
    return f"{row[key]:{f}}" if lo is None or hi is None else f"{row[key]:{f}} [{lo:{f}}–{hi:{f}}]"


def headline(res: dict) -> pd.DataFrame:
    """Per workload and batch: the authors' and snnlib's time and memory per image, and the ratios; the speed-up
    as median [min–max] over the repetitions."""
    dev = "cuda" if str(res.get("device", "cpu")).startswith("cuda") else "cpu"
    by = {(r["workload"], r["batch"], r["variant"]): r for r in res["table"]}
    rows = []
    for kind, b in dict.fromkeys((r["workload"], r["batch"]) for r in res["table"]):
        a, s = by[(kind, b, "authors")], by[(kind, b, snnlib_variant(dev, kind))]
        rows.append(
            [
                kind,
                b,
                a["ms_per_image"],
                s["ms_per_image"],
                _spread(s, "speedup"),
                s["wall_speedup"],
                a["peak_mb"],
                s["peak_mb"],
                s["memory_ratio"],
            ]
        )
    return pd.DataFrame(
        rows,
        columns=[
            "workload",
            "batch",
            "authors ms/img",
            "snnlib ms/img",
            "speed-up [min–max]",
            "speed-up (wall)",
            "authors MB",
            "snnlib MB",
            "memory ratio",
        ],
    )


def ablation(res: dict) -> pd.DataFrame:
    """At the paper's batch, each variant of snnlib's path adds one change to the one above ('step gain': the previous
    row's time over this row's); each lever changes one thing of snnlib's path (or of the denormal model) and its
    'step gain' is over that row, median [min–max] of the repetitions' ratios. 'equal': within the tolerances."""
    b0 = res["sizes"]["batches"][0]
    rows, prev = [], {}
    for r in (r for r in res["table"] if r["batch"] == b0):
        role = r.get("role", "authors" if r["variant"] == "authors" else "path")
        if role == "lever":
            gain = _spread(r, "gain")
        elif role == "path":
            gain = f"{prev[r['workload']] / r['ms_per_image']:.2f}"
        else:
            gain = None
        if role in ("authors", "path"):
            prev[r["workload"]] = r["ms_per_image"]
        rows.append(
            [
                r["workload"],
                r["variant"],
                _spread(r, "ms_per_image", ".0f"),
                _spread(r, "speedup"),
                gain,
                r["peak_mb"],
                r.get("equal"),
            ]
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "workload",
            "variant",
            "ms/img [min–max]",
            "speed-up vs authors [min–max]",
            "step gain",
            "peak MB",
            "equal",
        ],
    ).astype(object)
    return df.where(df.notna(), None)


def levers(res: dict) -> pd.DataFrame:
    """Each lever of the full run: its gain over the row it changes (median [min–max]), how far its numbers are from
    that row's reference, and what became of it."""
    from .levers import DECISIONS

    rows = []
    for r in (r for r in res["table"] if r.get("role") == "lever"):
        c = res["checks"].get(f"{r['workload']}|{r['batch']}|{r['variant']}", {})
        if r["workload"] == "train":
            dev = c.get("logits_maxdiff"), c.get("grads_max_rel_diff"), None
        else:
            logit = max(c[f"{k}_logits_maxdiff"] for k in ("clean", "fgsm", "pgd")) if c else None
            dev = logit, None, (c["fgsm_predictions_differing"] + c["pgd_predictions_differing"]) if c else None
        rows.append(
            [
                r["workload"],
                r["variant"].removeprefix("lever: "),
                r["gain_over"],
                _spread(r, "gain"),
                *dev,
                r.get("equal"),
                DECISIONS.get(r["variant"], ""),
            ]
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "workload",
            "lever",
            "gain over",
            "gain [min–max]",
            "max abs Δ logit",
            "max rel. Δ weight grad",
            "adv. predictions differing",
            "equal",
            "verdict",
        ],
    )
    return df.astype(object).where(df.notna(), None)


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
        spread = {
            k: _spread(f, f"{k}_b{b0}_speedup") if f.get(f"{k}_b{b0}_speedup") is not None else None
            for k in ("train", "eval")
        }
        rows.append(
            {
                "file": p.name,
                "machine": m.get("gpu") or m["cpu_model"],
                "threads": m["torch_threads"],
                "clock": r["clock"],
                "repeats": r["sizes"].get("repeats"),
                "load at start / end": f"{_num(m.get('load_average_at_start'))} / {_num(m.get('load_average_at_end'))}",
                "quiet": r.get("quiet"),
                f"train b{b0} [min–max]": spread["train"],
                f"eval b{b0} [min–max]": spread["eval"],
                "equal": f["equal"],
                "commit": (r.get("environment", {}).get("git_commit") or "")[:8],
                "date": r.get("environment", {}).get("time", "")[:10],
            }
        )
    return pd.DataFrame(rows)


def claim(batch: int = 16) -> dict:
    """The claim the README makes: over every committed *quiet* CPU run (``quiet: true``) at the paper's ``batch``, the
    median of the runs' median speed-ups, the least and largest single repetition, and the runs with their machines."""
    found = []
    for p in sorted((places.project_root() / "results" / "bench").glob("*.json")):
        r = json.loads(p.read_text())
        f = r.get("final", {})
        if r.get("quiet") and r.get("device", "cpu") == "cpu" and f.get(f"train_b{batch}_speedup") is not None:
            m = r["machine"]
            found.append((p.name, f"{m['cpu_model']}, {m['cpu_cores']} cores, {m['torch_threads']} thread(s)", f))
    out = {"batch": batch, "runs": [(name, machine) for name, machine, _ in found]}
    for k in ("train", "eval"):
        key = f"{k}_b{batch}_speedup"
        meds = pd.Series([f[key] for _, _, f in found], dtype=float)
        out[k] = {
            "median": float(meds.median()) if len(meds) else float("nan"),
            "min": min((f[key + "_min"] for _, _, f in found), default=float("nan")),
            "max": max((f[key + "_max"] for _, _, f in found), default=float("nan")),
        }
    return out


def _num(v) -> str:
    return "?" if v is None else f"{v:.2f}"


def variants(device: str = "cpu") -> dict:
    return VARIANTS[device]


def _quiet_text(res: dict, missing: str, sep: str) -> str:
    q = res.get("quiet_check") or {}
    return "quiet" if res.get("quiet") else "not quiet" + sep + "; ".join(q.get("reasons", [missing]))


def build_facts(build: dict, target: float) -> dict:
    """The Benchmarks chapter's glued facts (``b_*``) of the build-time measurement (:func:`snnlib.bench.for_build`)."""
    m, sz, f = build["machine"], build["sizes"], build["final"]
    b0 = sz["batches"][0]
    quiet = _quiet_text(build, "no load check in this result", " (")
    return {
        "b_cpu": m["cpu_model"],
        "b_cores": m["cpu_cores"],
        "b_width": sz["width"],
        "b_T": sz["T"],
        "b_steps": sz["pgd_steps"],
        "b_B0": b0,
        "b_train": f[f"train_b{b0}_speedup"],
        "b_eval": f[f"eval_b{b0}_speedup"],
        "b_equal": "yes" if f["equal"] else "NO",
        "b_target": target,
        "b_minutes": build["wall_time_s"] / 60,
        "b_quiet": quiet if build.get("quiet") else quiet + "), so its ratio is less sure",
    }


def committed_facts(cpu: dict) -> dict:
    """The glued facts (``c_*``) of the committed full CPU run: speed-ups with their spread, the medium epoch, the
    attack loop's overhead and the top operators of the profile."""
    cf, cb0, nan = cpu["final"], cpu["sizes"]["batches"][0], float("nan")
    out = {
        "c_cpu": cpu["machine"]["cpu_model"],
        "c_threads": cpu["machine"]["torch_threads"],
        "c_commit": (cpu["environment"].get("git_commit") or "?")[:8],
        "c_repeats": cpu["sizes"]["repeats"],
        "c_clock": "process CPU time" if cpu["clock"] == "cpu" else "wall-clock time",
        "c_quiet": _quiet_text(cpu, "this result predates the load check", ": "),
    }
    for k in ("train", "eval"):
        v = [cf.get(f"{k}_b{cb0}_speedup{s}", nan) for s in ("", "_min", "_max")]
        out[f"c_{k}"] = f"{v[0]:.2f}× (from {v[1]:.2f}× to {v[2]:.2f}×)"
    mt, al = cpu.get("medium_throughput", {}), cpu.get("attack_loop", {})
    out.update(
        {
            "c_med_epoch": mt.get("epoch_s", nan),
            "c_med_step": 1e3 * mt.get("step_s", nan),
            "c_med_spread": f"{1e3 * mt.get('step_s_min', nan):.0f}–{1e3 * mt.get('step_s_max', nan):.0f}",
            "c_med_steps": mt.get("epoch_steps", 0),
            "c_med_width": mt.get("width", 0),
            "c_loop_share": 100 * al.get("loop_overhead_share", nan),
            "c_enc_share": 100 * al.get("encodings_s", nan) / al.get("eval_s", nan),
        }
    )
    prof = breakdown(cpu)
    for kind in ("train", "eval"):
        top = prof[prof.workload == kind].head(2) if len(prof) else None
        out[f"c_top_{kind}"] = (
            ", ".join(f"{r.op} ({100 * r.share:.0f} %)" for r in top.itertuples())
            if top is not None
            else "not profiled in this run"
        )
    conv = prof[(prof.workload == "train") & prof.op.str.contains("convolution")] if len(prof) else prof
    out["c_conv_share"] = float(100 * conv.share.sum()) if len(prof) else nan  # not np.float64: glue formats it
    return out


def claim_facts(batch: int = 16) -> dict:
    """The Benchmarks chapter's glued facts (``q_*``) of :func:`claim`."""
    c = claim(batch)
    out = {"q_n": len(c["runs"]), "q_runs": "; ".join(f"{n} ({m})" for n, m in c["runs"]) or "none yet"}
    for k in ("train", "eval"):
        v = c[k]
        out[f"q_{k}"] = f"{v['median']:.2f}× (single repetitions from {v['min']:.2f}× to {v['max']:.2f}×)"
    return out


def medium_epoch_facts() -> dict:
    """The medium epoch of the quiet runs of :func:`snnlib.bench.profile.medium_epoch_run` (``results/bench/
    medium-epoch/``): the median over runs of each path's epoch (s), their ratio, and how many runs."""
    found = [
        json.loads(p.read_text())
        for p in sorted((places.project_root() / "results" / "bench" / "medium-epoch").glob("*.json"))
    ]
    found = [r for r in found if r.get("quiet")]
    med = {  # plain floats: myst-nb's glue formats text/plain, and np.float64's repr is not a number
        k: float(pd.Series([r["variants"][k]["epoch_s"] for r in found], dtype=float).median())
        for k in ("snnlib", "spikingjelly")
    }
    return {
        "q_med_runs": len(found),
        "q_med_epoch": med["snnlib"],
        "q_med_sj_epoch": med["spikingjelly"],
        "q_med_speedup": med["spikingjelly"] / med["snnlib"] if found else float("nan"),
        "q_med_machine": found[0]["environment"]["cpu"] if found else "no quiet run",
    }
