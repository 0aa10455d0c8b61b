"""The book's tables, assembled from cached experiments (one function each).

Every number comes from a result file of the active profile (computed on first use, then
loaded) or, for the paper's own numbers, from :mod:`snnlib.paper`, labelled as such.
"""

from __future__ import annotations

import pandas as pd

from .. import config, experiments, paper, train
from ..errors import SnnlibError
from ..models import ARCHS, build_model, count_parameters
from ..stats import binomial_se, paired_delta

ARCH_LABEL = {"sew_resnet18": "SEW-ResNet18", "sew_resnet34": "SEW-ResNet34", "sew_resnet50": "SEW-ResNet50",
              "spiking_resnet18": "Spiking-ResNet18", "spiking_resnet34": "Spiking-ResNet34",
              "spiking_resnet50": "Spiking-ResNet50"}
THREAT_LABEL = {"standard": "pixel + BN eval (standard)", "authors": "spike + BN train (authors' code)"}


def configs(profile: str | None = None) -> dict[str, config.Config]:
    """The active profile's spiking-model configs (the ANN twin of the audit is left out)."""
    return {k: c for k, c in config.load_profile(profile).items() if c.model.neuron == "if"}


def label(cfg: config.Config) -> str:
    return ARCH_LABEL[cfg.model.arch]


def scale(cfg: config.Config) -> str:
    """One line saying at what scale a config ran."""
    d, m, t = cfg.data, cfg.model, cfg.train
    n = "all" if d.n_per_class is None else d.n_per_class
    ev = "full test set" if d.eval_per_class is None else f"{d.eval_per_class}/class"
    return f"width {m.width}, {n} train imgs/class, {t.epochs} epochs, attacks on {ev}"


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


def evaluation(cfg: config.Config, threat: str = "standard") -> dict:
    """The cached clean/FGSM/PGD evaluation of ``cfg`` under a named threat model.

    Standard-threat evaluations of SEW models include the eps sweep (Fig. 2).
    """
    sweep = threat == "standard" and cfg.model.arch.startswith("sew")
    return experiments.evaluate(experiments.eval_config(cfg, threat, sweep=sweep))


def evaluations(profile: str | None = None, threats=("standard", "authors")) -> pd.DataFrame:
    """One row per (config, threat model): accuracies in percent with binomial standard errors."""
    rows = []
    for name, cfg in configs(profile).items():
        tr = train.ensure_trained(cfg)
        for threat in threats:
            r = evaluation(cfg, threat)
            f, n = r["final"], r["data"]["n_eval"]
            rows.append({"config": name, "model": label(cfg), "dataset": cfg.data.dataset, "pool": cfg.model.pool,
                         "threat": threat, "clean": 100 * f["clean_acc"], "fgsm": 100 * f["fgsm_acc"],
                         "pgd": 100 * f["pgd_acc"], "se_clean": 100 * binomial_se(f["clean_acc"], n),
                         "se_pgd": 100 * binomial_se(f["pgd_acc"], n), "n_eval": n,
                         "test_acc": 100 * tr["final"]["test_acc_best"], "n_test": tr["data"]["n_test"],
                         "n_train": tr["data"]["n_train"], "scale": scale(cfg)})
    return pd.DataFrame(rows)


def _ours(ev: pd.DataFrame, threat: str) -> pd.DataFrame:
    d = ev[ev.threat == threat]
    return pd.DataFrame({"dataset": d.dataset, "model": d.model, "kind": "ours: " + THREAT_LABEL[threat],
                         "fgsm": d.fgsm, "pgd": d.pgd, "clean": d.clean, "pool": d.pool, "n_eval": d.n_eval})


def paper_vs_ours(which: str, profile: str | None = None) -> pd.DataFrame:
    """Table 1, 2 or 3 of the paper with our rows for the same models under both threat models."""
    ev = evaluations(profile)
    pool = "avg" if which == "3" else "max"
    ev = ev[ev.pool == pool]
    if which == "2":
        ev = ev[ev.model.str.startswith("SEW")]
    ref = paper.table(which)
    ours = pd.concat([_ours(ev, t) for t in ("standard", "authors")])
    if which == "1" and not (ev.dataset == "cifar100").any():
        ours["dataset"] = ours["dataset"] + " (CIFAR-100 not run)"
    out = pd.concat([ref.assign(n_eval=None), ours], ignore_index=True)
    out["n_eval"] = pd.Series([None if pd.isna(v) else int(v) for v in out.n_eval], dtype=object)  # blank: paper
    return out[["dataset", "model", "kind", "clean", "fgsm", "pgd", "n_eval"]]


def pooling_deltas(profile: str | None = None) -> pd.DataFrame:
    """Table 3's deltas (AvgPool minus MaxPool) in the paper and ours, with paired standard errors."""
    rows = []
    p2, p3 = paper.table("2"), paper.table("3")
    for _, r3 in p3.iterrows():
        r2 = p2[(p2.dataset == r3.dataset) & (p2.model == r3.model)].iloc[0]
        rows.append({"dataset": r3.dataset, "model": r3.model, "source": "paper",
                     **{f"Δ{k}": r3[k] - r2[k] for k in ("clean", "fgsm", "pgd")}})
    by = {(c.data.dataset, c.model.arch, c.model.pool): c for c in configs(profile).values()}
    for (ds, arch, pool), cfg in by.items():
        if pool != "avg" or (ds, arch, "max") not in by:
            continue
        for threat in ("standard", "authors"):
            a, m = evaluation(cfg, threat), evaluation(by[(ds, arch, "max")], threat)
            row = {"dataset": ds, "model": ARCH_LABEL[arch], "source": f"ours: {THREAT_LABEL[threat]}"}
            for k, key in (("clean", "clean"), ("fgsm", f"fgsm@{a['final']['eps']}"), ("pgd", f"pgd@{a['final']['eps']}")):
                d, se = paired_delta(a["per_sample"][key], m["per_sample"][key])
                row[f"Δ{k}"], row[f"se Δ{k}"] = 100 * d, 100 * se
            rows.append(row)
    return pd.DataFrame(rows)


def sweep(profile: str | None = None) -> pd.DataFrame:
    """Accuracy against eps for the SEW models (Fig. 2), tidy: model, threat, attack, eps, acc."""
    rows = []
    for cfg in configs(profile).values():
        if not cfg.model.arch.startswith("sew"):
            continue
        r = evaluation(cfg, "standard")
        for s in r["sweep"]:
            for atk in ("fgsm", "pgd"):
                rows.append({"model": f"{label(cfg)} ({cfg.model.pool})", "dataset": cfg.data.dataset,
                             "threat": "standard", "attack": atk.upper(),
                             "eps": s["eps"], "acc": s[f"{atk}_acc"], "clean": r["final"]["clean_acc"]})
    return pd.DataFrame(rows)


def parameter_table() -> pd.DataFrame:
    """Parameter counts of the six architectures at full width and at each quick-profile width."""
    widths = sorted({64, *[c.model.width for c in config.load_profile("quick").values()]}, reverse=True)
    rows = []
    for arch in ARCHS:
        row = {"architecture": ARCH_LABEL[arch]}
        for w in widths:
            row[f"params (width {w})"] = count_parameters(build_model(arch, 10, width=w))
        rows.append(row)
    return pd.DataFrame(rows)
