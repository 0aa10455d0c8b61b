"""The book's tables, assembled from cached experiments (one function each).

Every number comes from a result file of the profile (computed on first use, then loaded) or, for the
paper's own numbers, from :mod:`snnlib.paper`, labelled as such. Every accuracy carries n and its exact
(Clopper-Pearson) interval; comparisons of two trained models go through
:func:`snnlib.stats.model_comparison` (seed variation and test-image sampling).
"""

from __future__ import annotations

import pandas as pd
import torch

from .. import attacks, config, experiments, paper, results, stats, train
from ..errors import SnnlibError
from ..models import ARCH_LABEL, ARCHS, build_model, count_parameters
from .provenance import recorded_data

THREAT_LABEL = {name: t.label for name, t in attacks.THREATS.items()}  # the one registry
THREATS = tuple(THREAT_LABEL)


def configs(profile: str | None = None) -> dict[str, config.Config]:
    """A profile's configs of the paper's own rows (controls and the defended baseline are left out)."""
    return {k: c for k, c in config.load_profile(profile).items() if c.model.neuron == "if" and c.role == "paper"}


def by_role(profile: str | None, role: str) -> dict[str, config.Config]:
    return {k: c for k, c in config.load_profile(profile).items() if c.role == role}


def defended_reference(profile: str | None = None) -> config.Config | None:
    """The defended model the claims compare against: a PGD-trained one (Madry et al. 2018) once it is trained,
    else the first defended config (FGSM-RS), else None."""
    cands = list(by_role(profile, "defended").values())
    pgd = [
        c
        for c in cands
        if c.train.adversarial.method == "pgd" and (results.run_dir(c, profile) / "train.json").exists()
    ]
    return (pgd or cands or [None])[0]


def label(cfg: config.Config) -> str:
    return ARCH_LABEL[cfg.model.arch]


def scale(cfg: config.Config) -> str:
    """One line saying at what scale a config ran."""
    d, m, t = cfg.data, cfg.model, cfg.train
    n = "all" if d.n_per_class is None else d.n_per_class
    ev = "the full test set" if d.eval_per_class is None else f"{d.eval_per_class}/class"
    seeds = f", {1 + len(cfg.replicates)} seeds" if cfg.replicates else ""
    return f"width {m.width}, {n} train imgs/class, {t.epochs} epochs{seeds}, attacks on {ev}"


def main_config(profile: str | None = None) -> config.Config:
    """The profile's headline model: SEW-ResNet-18 with the stem MaxPool (on CIFAR-10 where it exists)."""
    cands = [c for c in configs(profile).values() if c.model.arch == "sew_resnet18" and c.model.pool == "max"]
    if not cands:
        raise SnnlibError(f"profile {profile or config.profile()!r} has no SEW-ResNet-18 MaxPool config")
    return next((c for c in cands if c.data.dataset == "cifar10"), cands[0])


def profile_facts(profile: str | None = None) -> dict:
    """What the profile box of a results chapter says (book/_profile.md): the profile and its scale."""
    p = profile or config.profile()
    return {"profile": p, "scale": scale(main_config(p))}


def use_profile(profile: str | None = None) -> dict:
    """Open a chapter on ``profile``: :func:`profile_facts` for the profile box. It changes nothing: every report
    function reads its results through :func:`snnlib.results.book_reading` of its config's profile, so a committed
    profile's results are only read, never computed, unless ``SNNLIB_COMPUTE=1``."""
    return profile_facts(profile or config.profile())


def evaluation(cfg: config.Config, threat: str = "standard", sweep: bool | str | None = None) -> dict:
    """The cached clean/FGSM/PGD evaluation of ``cfg`` under a named threat model (``standard``, ``authors`` at
    8/255, ``authors-6`` at the 6/255 the authors' code uses). By default standard-threat evaluations of SEW
    models include the eps sweep (Fig. 2)."""
    with results.book_reading(cfg.profile):
        return experiments.evaluate_config(experiments.eval_config(cfg, threat, sweep=sweep))


def outcomes(
    cfg: config.Config, threat: str = "standard", eps: float | None = None, sweep: bool | str | None = None
) -> dict:
    """Per-image outcomes ``{clean, fgsm, pgd}`` of one evaluation (at ``eps``, default the config's)."""
    r = evaluation(cfg, threat, sweep)
    e = r["final"]["eps"] if eps is None else float(eps)
    return {"clean": r["per_sample"]["clean"], "fgsm": r["per_sample"][f"fgsm@{e}"], "pgd": r["per_sample"][f"pgd@{e}"]}


def seed_outcomes(cfg: config.Config, threat: str = "standard", eps: float | None = None) -> list[dict]:
    """:func:`outcomes` of ``cfg`` and of each of its seed replicates (same images; the replicates are evaluated
    at the paper's eps and the sweep's smallest, :func:`snnlib.experiments.short_sweep`, unless another eps is asked for)."""
    reps = config.replicates(cfg)
    short = eps is None or float(eps) in {float(cfg.attack.eps), *experiments.short_sweep(cfg)}
    return [outcomes(reps[0], threat, eps)] + [outcomes(c, threat, eps, "short" if short else None) for c in reps[1:]]


def _acc_cells(ps: dict) -> dict:
    out = {}
    for k in ("clean", "fgsm", "pgd"):
        a = stats.accuracy(ps[k])
        out.update({k: 100 * a["acc"], f"{k}_lo": 100 * a["lo"], f"{k}_hi": 100 * a["hi"]})
    out["n_eval"] = len(ps["clean"])
    return out


def evaluations(profile: str | None = None, threats=THREATS) -> pd.DataFrame:
    """One row per (config, threat model) of the paper's rows: accuracies (%) with exact 95 % intervals."""
    rows = []
    for name, cfg in configs(profile).items():
        with results.book_reading(cfg.profile):
            tr = train.ensure_trained(cfg)
        for threat in threats:
            rows.append(
                {
                    "config": name,
                    "model": label(cfg),
                    "dataset": cfg.data.dataset,
                    "pool": cfg.model.pool,
                    "threat": threat,
                    **_acc_cells(outcomes(cfg, threat)),
                    "test_acc": 100 * tr["final"]["test_acc_best"],
                    "n_test": tr["data"]["n_test"],
                    "n_train": tr["data"]["n_train"],
                    "scale": scale(cfg),
                }
            )
    return pd.DataFrame(rows)


def seeds_frame(profile: str | None = None) -> pd.DataFrame:
    """Per model with seed replicates and per seed: clean, FGSM and PGD accuracy (%, standard threat model)."""
    rows = []
    for name, cfg in configs(profile).items():
        for c, ps in zip(config.replicates(cfg), seed_outcomes(cfg)):
            rows.append({"config": name, "seed": c.seed, "model": f"{label(cfg)} ({cfg.model.pool})", **_acc_cells(ps)})
    return pd.DataFrame(rows)


def _ci_text(v, lo, hi, n=None):
    return f"{v:.1f} [{lo:.1f}, {hi:.1f}]" + (f" (n={n})" if n is not None else "")


def _ours(ev: pd.DataFrame, threat: str) -> pd.DataFrame:
    d = ev[ev.threat == threat]
    cell = {k: [_ci_text(*t) for t in zip(d[k], d[f"{k}_lo"], d[f"{k}_hi"])] for k in ("clean", "fgsm", "pgd")}
    return pd.DataFrame(
        {
            "dataset": d.dataset,
            "model": d.model,
            "kind": "ours: " + THREAT_LABEL[threat],
            **cell,
            "pool": d.pool,
            "n_eval": d.n_eval,
        }
    )


def paper_vs_ours(which: str, profile: str | None = None) -> pd.DataFrame:
    """Table 1, 2 or 3 of the paper with our rows for the same models under each threat model (% [95 % CI])."""
    ev = evaluations(profile)
    pool = "avg" if which == "3" else "max"
    ev = ev[ev.pool == pool]
    if which == "2":
        ev = ev[ev.model.str.startswith("SEW")]
    ref = paper.table(which)
    ref = ref.assign(**{k: ref[k].map(lambda v: f"{v:.2f}") for k in ("clean", "fgsm", "pgd")})
    ours = pd.concat([_ours(ev, t) for t in THREATS])
    if which == "1" and not (ev.dataset == "cifar100").any():
        ours["dataset"] = ours["dataset"] + " (CIFAR-100 not run)"
    out = pd.concat([ref.assign(n_eval=None), ours], ignore_index=True)
    out["n_eval"] = pd.Series([None if pd.isna(v) else int(v) for v in out.n_eval], dtype=object)  # blank: paper
    return out[["dataset", "model", "kind", "clean", "fgsm", "pgd", "n_eval"]]


def sweep(profile: str | None = None, roles=("paper",)) -> pd.DataFrame:
    """Accuracy against eps for the SEW models (Fig. 2), tidy: model, attack, eps, acc, clean, n."""
    rows = []
    for role in roles:
        for cfg in (configs(profile) if role == "paper" else by_role(profile, role)).values():
            if not cfg.model.arch.startswith("sew"):
                continue
            try:
                r = evaluation(cfg, "standard")
            except results.ResultMissing:  # a defended model of a committed profile still training
                if role == "paper":
                    raise
                continue
            for s in r["sweep"]:
                for atk in ("fgsm", "pgd"):
                    rows.append(
                        {
                            "model": f"{label(cfg)} ({cfg.model.pool})" + ("" if role == "paper" else f", {role}"),
                            "config": cfg.name,
                            "dataset": cfg.data.dataset,
                            "threat": "standard",
                            "attack": atk.upper(),
                            "eps": s["eps"],
                            "acc": s[f"{atk}_acc"],
                            "clean": r["final"]["clean_acc"],
                            "n": r["data"]["n_eval"],
                        }
                    )
    return pd.DataFrame(rows)


def parameter_table(profile: str | None = None) -> pd.DataFrame:
    """Parameter counts of the six architectures at full width and at the widths of a profile's configs."""
    widths = sorted({64, *[c.model.width for c in config.load_profile(profile).values()]}, reverse=True)
    rows = []
    for arch in ARCHS:
        row = {"architecture": ARCH_LABEL[arch]}
        for w in widths:
            row[f"params (width {w})"] = count_parameters(build_model(arch, 10, width=w))
        rows.append(row)
    return pd.DataFrame(rows)


def stem_output_size(image: int = 32, width: int = 4) -> int:
    """Side of the feature map after the stem (7x7/2 conv, 3x3/2 pool) for ``image`` x ``image`` inputs."""
    net = build_model("sew_resnet18", 10, width=width)
    with torch.no_grad():
        z = net.maxpool(net.conv1(torch.zeros(1, 1, 3, image, image)))
    return int(z.shape[-1])


def _fmt(ps_key) -> str:
    a = stats.accuracy(ps_key)
    return f"{100 * a['acc']:.1f} [{100 * a['lo']:.1f}, {100 * a['hi']:.1f}]"


def controls_table(profile: str | None = None) -> pd.DataFrame:
    """The headline SEW-ResNet-18 next to the defended baseline and the controls, under the identical attacks on the
    same images: the evaluation subset's clean / FGSM / PGD-7 (%, exact 95% intervals), and the audit subset's
    PGD-7 and worst case (the same PGD-7 on fewer images, cross-referenced)."""
    main = main_config(profile)
    cfgs = [main, *by_role(profile, "defended").values(), *by_role(profile, "control").values()]
    rows = []
    for cfg in cfgs:
        state = "not yet trained"
        try:
            with results.book_reading(cfg.profile):
                train.ensure_trained(cfg)
            state = "trained, not yet evaluated"
            ps = outcomes(cfg)
        except results.ResultMissing:  # a committed profile whose model is still training, or being evaluated
            rows.append({"model": cfg.name, "role": cfg.role, "n (evaluation)": "", "clean": state, "n (audit)": ""})
            continue
        rows.append(
            {
                "model": cfg.name,
                "role": cfg.role,
                "n (evaluation)": len(ps["clean"]),
                "clean": _fmt(ps["clean"]),
                "FGSM": _fmt(ps["fgsm"]),
                "PGD-7": _fmt(ps["pgd"]),
                **_audit_cells(cfg),
            }
        )
    return pd.DataFrame(rows)


def _audit_cells(cfg: config.Config) -> dict:
    """The audit's PGD-7 and worst case of ``cfg``, or "not yet audited" where a committed profile lacks it."""
    from .. import audit

    try:
        with results.book_reading(cfg.profile):
            a = audit.run_config(cfg)["final"]
    except results.ResultMissing:
        return {"n (audit)": "", "PGD-7 (audit subset)": "not yet audited", "worst case (audit)": "not yet audited"}
    return {
        "n (audit)": a["n_eval"],
        "PGD-7 (audit subset)": stats.fmt_acc(a["pgd7"]).split(" (n")[0],
        "worst case (audit)": stats.fmt_acc(a["worst"]).split(" (n")[0],
    }


def shape_table(profile: str | None = None) -> pd.DataFrame:
    """Fig. 2's shape: PGD accuracy at each eps of the sweep and the share of the clean-to-8/255 drop already lost
    at 2/255, for the SEW models and the defended baseline."""
    sw = sweep(profile, roles=("paper", "defended"))
    rows = []
    for name, g in sw[sw.attack == "PGD"].groupby("model", sort=False):
        acc = g.groupby("eps").acc.mean()
        clean = g.clean.iloc[0]
        e_lo, e_hi = acc.index.min(), acc.index.max()
        rows.append(
            {
                "model": name,
                "clean": 100 * clean,
                **{f"PGD @ {e * 255:.0f}/255": 100 * v for e, v in acc.items()},
                "share of the drop at the smallest eps": (clean - acc[e_lo]) / max(clean - acc[e_hi], 1e-9),
            }
        )
    return pd.DataFrame(rows)


def data_provenance(profile: str | None = None) -> pd.DataFrame:
    """Per trained model of a profile (seed replicates too): which data its results were computed on, from its
    training result (``data``: source, pixels, SHA-256; files from before that record say only the source, and
    their pixels come from the config)."""
    rows = []
    for cfg in config.load_profile(profile).values():
        for c in config.replicates(cfg):
            d = recorded_data(c, profile)
            rec = d or {}
            rows.append(
                {
                    "model": c.name,
                    "run": c.run_id,
                    "pixels": rec.get("pixels", c.data.pixels),
                    "source": "not trained yet" if d is None else rec.get("source", ""),
                    "sha256": (rec.get("sha256") or "")[:16] or "not recorded",
                }
            )
    return pd.DataFrame(rows)


def adversarial_runs(profile: str | None = None) -> dict:
    """The training histories (DataFrames) of a profile's models that monitored robust validation accuracy (PGD
    adversarial training: the defended reference and its direct-input control), by config name; only those whose
    training result exists."""
    out = {}
    for name, cfg in config.load_profile(profile).items():
        f = results.run_dir(cfg, profile) / "train.json"
        if cfg.train.robust_val and f.exists():
            out[name] = pd.DataFrame(results.read_json(f)["history"])
    return out
