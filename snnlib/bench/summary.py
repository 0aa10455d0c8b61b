"""The bench's summary: one row per measured variant, the headline figures, and the human table (stderr)."""

from __future__ import annotations

import sys

import pandas as pd

from . import checks, roofline
from .measure import IMAGE, timing
from .variants import LEVERS, VARIANTS, snnlib_variant


def role(kind, v, dev):
    """``authors``, ``path`` (snnlib's own), ``lever`` (a switchable change) or ``extra`` (bf16, compile)."""
    if v == "authors":
        return "authors"
    return "path" if v in VARIANTS[dev.type][kind] else "lever" if v in LEVERS.get(kind, {}) else "extra"


def rows(plan, times, memory, checks_, wk, pk, sizes, clock, dev):
    """One row per (workload, batch, variant): timings on ``clock``, speed-ups, a lever's gain, memory, roofline."""
    rows = []
    for kind, b, v in plan:
        row = {"workload": kind, "batch": b, "variant": v, "role": role(kind, v, dev)}
        for name in ("wall", "cpu"):
            timing(row, name, times[(kind, b, v)][name], times[(kind, b, "authors")][name], b)
        for k in (
            "ms_per_image",
            "ms_per_image_min",
            "ms_per_image_max",
            "speedup",
            "speedup_paired",
            "speedup_min",
            "speedup_max",
        ):
            row[k] = row[f"{clock}_{k}"]
        if row["role"] == "lever":  # its gain over the row it changes: snnlib's path, or the denormal model
            over = LEVERS[kind][v] if LEVERS[kind][v] not in (None, "authors") else snnlib_variant(dev.type, kind)
            g = {}
            timing(g, clock, times[(kind, b, v)][clock], times[(kind, b, over)][clock], b)
            row.update(
                {
                    "gain_over": over,
                    "gain": g[f"{clock}_speedup"],
                    "gain_min": g[f"{clock}_speedup_min"],
                    "gain_max": g[f"{clock}_speedup_max"],
                }
            )
        roof = roofline.roofline(wk, pk, sizes["batches"][0], bf16=v == "+ bf16 autocast", steps=sizes["pgd_steps"])
        c = checks_.get((kind, b, v), {})
        row.update(
            {
                "peak_mb": memory[(kind, b, v)],
                "memory_ratio": checks.ratio(memory[(kind, b, "authors")], memory[(kind, b, v)]),
                "roofline_ms_per_image": roof[kind],
                "roofline_fraction": roof[kind] / row["ms_per_image"],
                "equal": c.get("passed"),
                "wall_s": times[(kind, b, v)]["wall"],
                "cpu_s": times[(kind, b, v)]["cpu"],
            }
        )
        rows.append(row)
    return rows


def final(table, dev, clock, spikes_equal, checks_, quiet):
    """The headline: snnlib's path against the authors' per workload and batch, the clock, equality, quietness."""
    final = {}
    for r in table:
        if r["variant"] == snnlib_variant(dev.type, r["workload"]):
            k = f"{r['workload']}_b{r['batch']}"
            final.update(
                {
                    f"{k}_speedup": r["speedup"],
                    f"{k}_speedup_min": r["speedup_min"],
                    f"{k}_speedup_max": r["speedup_max"],
                    f"{k}_memory_ratio": r["memory_ratio"],
                }
            )
    final["clock"] = clock
    final["equal"] = bool(spikes_equal and all(c["passed"] for c in checks_.values() if c["in_path"]))
    final["spikes_equal"] = spikes_equal
    final["quiet"] = quiet["quiet"]
    return final


def _fmt_range(r, k, f):
    return f"{r[k]:{f}} [{r[k + '_min']:{f}}-{r[k + '_max']:{f}}]"


def show(table, machine, sizes, source, clock, final, quiet):
    """The human table, to stderr."""
    rows, t = table, pd.DataFrame(table)
    show = pd.DataFrame(
        {
            "workload": t.workload,
            "batch": t.batch,
            "variant": t.variant,
            "ms/img [min-max]": [_fmt_range(r, "ms_per_image", ".3g") for r in rows],
            "speed-up [min-max]": [_fmt_range(r, "speedup", ".2f") for r in rows],
            "lever gain [min-max]": [_fmt_range(r, "gain", ".2f") if "gain" in r else "" for r in rows],
            "peak_mb": t.peak_mb,
            "memory_ratio": t.memory_ratio,
            "equal": t.equal,
        }
    )
    pd.set_option("display.width", 250)
    print(
        f"\nsnnlib bench on {machine.get('gpu') or machine['cpu_model']} ({machine['torch_threads']} threads), "
        f"SEW-ResNet-18 width {sizes['width']}, T={sizes['T']}, {IMAGE}x{IMAGE}, {source}; "
        f"median [min-max] of {sizes['repeats']} interleaved repetitions, {clock} clock",
        file=sys.stderr,
    )
    print(show.to_string(index=False, float_format=lambda v: f"{v:.3g}"), file=sys.stderr)
    print(f"equal results: {final['equal']}", file=sys.stderr)
    if not quiet["quiet"]:
        print("WARNING: the machine was not quiet: " + "; ".join(quiet["reasons"]), file=sys.stderr)
