"""Seed-aware comparisons of two trained models (and Table 3's deltas, built from them), and the between-seed variance
they use: the profile's own, pooled over its models with seed replicates (two seeds per SEW pool at quick and
medium; quick had three until CI's time asked for one less), or, for a profile without any, a variance borrowed
from another profile and committed as ``results/<profile>/seed-variance.json`` (``python -m snnlib seed-variance
--from quick``). The medium profile has its own seeds now; its committed borrowed variance serves only the
sensitivity check of the trade-off chapter.

A borrowed variance is a stated proxy, not a measurement at the borrowing profile's scale: the quick models are
trained on fewer images for fewer epochs, so their seed-to-seed spread is, if anything, larger; intervals that use
it are then conservative. Every comparison that uses it says so in its notes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config, paper, places, results, stats
from ..errors import SnnlibError
from .tables import ARCH_LABEL, THREAT_LABEL, configs, seed_outcomes

KEYS = ("clean", "fgsm", "pgd")
FILE = "seed-variance.json"


def shape(ps: dict) -> float:
    """Fig. 2's shape statistic of one seed: the share of the clean-to-8/255 PGD drop already lost at 2/255."""
    c, a2, a8 = (np.asarray(ps[k], float).mean() for k in ("clean", "pgd2", "pgd8"))
    return (c - a2) / max(c - a8, 1e-9)


def shape_outcomes(cfg: config.Config) -> list[dict]:
    """Per seed: per-image clean, PGD at 2/255 and PGD at the config's eps (standard threat)."""
    e2, e8 = 2 / 255, cfg.attack.eps
    return [
        {"clean": a["clean"], "pgd2": b["pgd"], "pgd8": a["pgd"]}
        for a, b in zip(seed_outcomes(cfg, eps=e8), seed_outcomes(cfg, eps=e2))
    ]


def own_df(profile: str) -> int:
    """Degrees of freedom of :func:`own`: seeds minus one, summed over the profile's multi-seed models."""
    return sum(len(c.replicates) for c in configs(profile).values() if c.replicates)


def own(profile: str, key: str, threat: str = "standard") -> float | None:
    """Pooled between-seed variance of one accuracy (``key``) or of ``"shape"`` over the profile's multi-seed models."""
    multi = [c for c in configs(profile).values() if c.replicates]
    if key == "shape":
        return stats.pooled_variance([[shape(ps) for ps in shape_outcomes(c)] for c in multi])
    return stats.seed_variance([[ps[key] for ps in seed_outcomes(c, threat)] for c in multi])


def borrowed(profile: str) -> dict | None:
    """The committed borrowed variances of ``profile`` (None if it has none)."""
    path = places.results_dir(profile) / FILE
    return results.read_json(path) if path.exists() else None


def seed_var(profile: str, key: str, threat: str = "standard") -> tuple[float | None, str | None, int | None]:
    """The between-seed variance for comparisons in ``profile``, where it came from (None: the profile's own) and
    its degrees of freedom: the profile's own pooled estimate, else the borrowed one, else ``(None, None, None)``."""
    v = own(profile, key, threat)
    if v is not None:
        return v, None, own_df(profile)
    b = borrowed_var(profile, key) if threat == "standard" else None
    return b if b is not None else (None, None, None)


def own_and_borrowed(profile: str) -> bool:
    """Whether ``profile`` has its own seed replicates and a borrowed variance too (then a sensitivity check exists)."""
    return bool(own_df(profile)) and borrowed(profile) is not None


def write_borrowed(source: str, target: str | None = None) -> dict:
    """Compute ``source``'s pooled seed variances (clean, FGSM, PGD, Fig. 2's shape) from its cached results and
    commit them for ``target`` (default: the active profile)."""
    target = target or config.profile()
    if source == target:
        raise SnnlibError(f"borrow seed variance from another profile, not from {target!r} itself")
    multi = [c for c in configs(source).values() if c.replicates]
    if not multi:
        raise SnnlibError(f"profile {source!r} has no config with seed replicates to borrow a variance from")
    with results.only_cached():
        var = {k: own(source, k) for k in (*KEYS, "shape")}
    out = {
        "kind": "seed-variance",
        "source_profile": source,
        "target_profile": target,
        "threat": "standard",
        "models": [c.name for c in multi],
        "n_seeds": sorted({1 + len(c.replicates) for c in multi}),
        "variance": var,
        "sd_points": {k: (100 * v**0.5 if k in KEYS and v is not None else None) for k, v in var.items()},
        "env": results.environment(),
    }
    results.write_json(places.results_dir(target) / FILE, out)
    return out


# ------------------------------------------------------------ comparisons that use it


def borrowed_var(profile: str, key: str) -> tuple[float, str, int] | None:
    """The committed borrowed variance of one accuracy, its source text and degrees of freedom (None: no file)."""
    b = borrowed(profile)
    if b is None or b["variance"].get(key) is None:
        return None
    return (
        b["variance"][key],
        f"borrowed from the {b['source_profile']} profile ({'/'.join(map(str, b['n_seeds']))} "
        f"seeds each of {', '.join(b['models'])}; see {FILE})",
        len(b["models"]) * (min(b["n_seeds"]) - 1),
    )


def compare_models(
    cfg_a, cfg_b, key: str, expected: int, threat: str = "standard", profile=None, variance: tuple | None = None
) -> dict:
    """:func:`snnlib.stats.model_comparison` of one accuracy of two configs (all their seeds), a minus b, with the
    profile's pooled seed variance, or a borrowed one (:mod:`.seeds`); ``variance=(var, source, df)`` overrides it."""
    a = [ps[key] for ps in seed_outcomes(cfg_a, threat)]
    b = [ps[key] for ps in seed_outcomes(cfg_b, threat)]
    var, source, df = variance or seed_var(profile or cfg_a.profile, key, threat)
    return stats.model_comparison(a, b, expected, pooled_var=var, pooled_source=source, pooled_df=df)


def seed_note(c: dict) -> str:
    """Where a comparison's training-randomness term came from: the seeds themselves, or the notes' source."""
    told = sorted({n.split(": ", 1)[1] for n in c.get("notes", [])})
    df = c.get("df")
    t = f"; t with {df:.0f} df" if df is not None and df == df and df < 1e6 else ""
    return ("; ".join(told) if told else "between the seeds of both models") + t


def pooling_deltas(
    profile: str | None = None, borrowed_variance: bool = False, threat: str = "standard"
) -> pd.DataFrame:
    """Table 3's deltas (AvgPool minus MaxPool) in the paper and ours under ``threat``, with seed-aware 95 %
    intervals. ``borrowed_variance``: ours with the committed borrowed seed variance instead of the profile's own (a
    sensitivity check when the profile's own rests on few seeds); raises if the profile has no such file."""
    if borrowed_variance and borrowed(profile or config.profile()) is None:
        raise SnnlibError(f"profile {profile or config.profile()!r} has no {FILE} to borrow a seed variance from")
    rows = []
    p2, p3 = paper.table("2"), paper.table("3")
    for _, r3 in p3.iterrows():
        r2 = p2[(p2.dataset == r3.dataset) & (p2.model == r3.model)].iloc[0]
        rows.append(
            {
                "dataset": r3.dataset,
                "model": r3.model,
                "source": "paper",
                "seeds": "1 (unstated)",
                "seed variance": "not reported",
                **{f"Δ{k}": r3[k] - r2[k] for k in ("clean", "fgsm", "pgd")},
            }
        )
    by = {(c.data.dataset, c.model.arch, c.model.pool): c for c in configs(profile).values()}
    for (ds, arch, pool), cfg in by.items():
        if pool != "avg" or (ds, arch, "max") not in by:
            continue
        mx = by[(ds, arch, "max")]
        row = {
            "dataset": ds,
            "model": ARCH_LABEL[arch],
            "source": f"ours: {THREAT_LABEL[threat]}",
            "seeds": f"{1 + len(cfg.replicates)} vs {1 + len(mx.replicates)}",
        }
        for k, sign in (("clean", +1), ("fgsm", -1), ("pgd", -1)):
            c = compare_models(
                cfg,
                mx,
                k,
                sign,
                threat,
                profile=profile,
                variance=borrowed_var(profile or config.profile(), k) if borrowed_variance else None,
            )
            row.update(
                {
                    f"Δ{k}": 100 * c["diff"],
                    f"Δ{k} lo": 100 * c["lo"],
                    f"Δ{k} hi": 100 * c["hi"],
                    f"Δ{k} verdict": c["verdict"],
                    f"Δ{k} mde": 100 * c["mde"],
                }
            )
        rows.append({**row, "seed variance": seed_note(c)})
    return pd.DataFrame(rows)


def sensitivity_text(profile: str, own_row, alt_row) -> str:
    """One paragraph (Markdown): Table 3's deltas with the profile's own seed variance against the borrowed one."""
    b, name = borrowed(profile), {"clean": "clean", "fgsm": "FGSM", "pgd": "PGD"}

    def sd(v):
        return 100 * v**0.5

    own_sd = " / ".join(f"{sd(own(profile, k)):.1f}" for k in KEYS)
    lent_sd = " / ".join(f"{sd(b['variance'][k]):.1f}" for k in KEYS)
    parts = [
        f"{name[k]} {alt_row[f'Δ{k}']:+.1f} [{alt_row[f'Δ{k} lo']:+.1f}, {alt_row[f'Δ{k} hi']:+.1f}] "
        f"({alt_row[f'Δ{k} verdict']}; with its own: {own_row[f'Δ{k} verdict']})"
        for k in KEYS
    ]
    changed = [name[k] for k in KEYS if alt_row[f"Δ{k} verdict"] != own_row[f"Δ{k} verdict"]]
    return (
        "**Sensitivity to the seed variance.** This profile's own between-seed variance rests on "
        f"{own_row.seeds} seeds (SD {own_sd} points for clean / "
        f"FGSM / PGD), so it is itself a rough estimate. With the {b['source_profile']} profile's instead (SD "
        f"{lent_sd}; `{FILE}`) the deltas read: "
        + "; ".join(parts)
        + ". "
        + (
            f"The verdict on {', '.join(changed)} therefore depends on which seed variance is right; more seeds "
            "would settle it."
            if changed
            else "No verdict depends on that choice."
        )
    )
