"""Running the audit: on a model and images (:func:`run_suite`), on a config's trained model (cached as
``results/<profile>/<run_id>/audit-<key>.json``, :func:`run_config`), and on a whole profile."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from tqdm import tqdm

from .. import parking, places, results, train
from ..build import load_data
from ..checkpoints import load_trained
from ..config import Config, config_path, content_hash, load_config, load_profile, replace
from ..data import stratified_indices
from ..errors import SnnlibError
from ..kernels import flush_denormals
from .checks import CHECKS, SEED_INDEX
from .reuse import finish, place, seed_partial
from .verdict import derive, verdict
from .settings import AuditSettings
from .suite import Suite


def run_suite(
    model,
    x,
    y,
    settings: AuditSettings | None = None,
    ann=None,
    snn_source=None,
    n_classes: int = 10,
    device="cpu",
    labels: dict | None = None,
    progress: bool | None = None,
    partial=None,
) -> dict:
    """Run the whole audit on images ``x`` (``[N,C,H,W]`` in [0,1]) and labels ``y``; return a result dict.

    ``ann`` and ``snn_source`` are the transfer sources (classifiers on the same images), skipped if
    None. The checks and their order are :data:`snnlib.audit.checks.CHECKS`; each starts from its own
    seed, so a run resumed from ``partial`` (a JSON file written after every finished check, for
    long audits that may be stopped) finds what an uninterrupted one finds. The checks run with denormals
    flushed (:func:`snnlib.kernels.flush_denormals`), except where they count a gradient's exact zeros.
    """
    suite = Suite(model, x, y, settings or AuditSettings(), device, ann, snn_source, n_classes, labels)
    done = suite.restore(results.read_json(partial)) if partial is not None and Path(partial).exists() else []
    bar = tqdm(CHECKS, desc="audit", disable=None if progress is None else not progress, leave=False)
    for name, check in bar:
        if name in done:
            continue
        bar.set_postfix_str(name)
        torch.manual_seed(
            suite.key(500 + SEED_INDEX[name])
        )  # attacks that draw from the global generator (torchattacks)
        with flush_denormals():  # twice as fast on decayed BN scales, same results
            check(suite)
        suite.clock(name)
        done.append(name)
        if partial is not None:
            results.write_json(partial, suite.state(done))
    return derive(suite.result())


def twin_config(cfg: Config, name: str | None = None) -> Config:
    """The ANN twin of a config: the same ResNet and training recipe, ReLU instead of IF, direct input, T=1."""
    return replace(
        cfg,
        name=name or cfg.name + "_ann",
        model={"neuron": "relu", "encoder": "direct", "T": 1},
        notes="ANN twin (ReLU, direct input, T=1) of " + cfg.name,
    )


def snn_transfer_source(cfg: Config, profile_name: str | None = None) -> Config | None:
    """Another SNN of the profile on the same data: the other pooling variant, else the SEW model with the same pool."""
    cands = [
        c
        for c in load_profile(profile_name or cfg.profile).values()
        if c.role == "paper" and c.model.neuron == "if" and c.data.dataset == cfg.data.dataset and c.name != cfg.name
    ]
    for pick in (
        lambda c: c.model.arch == cfg.model.arch and c.model.pool != cfg.model.pool,
        lambda c: (
            c.model.arch.startswith("sew")
            and c.model.pool == cfg.model.pool
            and c.model.arch[-2:] == cfg.model.arch[-2:]
        ),
    ):
        hit = sorted((c for c in cands if pick(c)), key=lambda c: c.name)
        if hit:
            return hit[0]
    return None


def ann_twin_config(cfg: Config, settings: AuditSettings) -> Config:
    if settings.ann_twin:
        prof = cfg.profile if cfg.profile in places.PROFILES else places.profile()
        return load_config(config_path(settings.ann_twin, prof))
    return twin_config(cfg)


def audit_key(cfg, settings, sources) -> str:
    d = {
        "eval": cfg.eval_key(),
        "settings": settings.to_dict(),
        "sources": {k: (c.train_key() if c is not None else None) for k, c in sources.items()},
    }
    return content_hash(d)


def _settings(cfg, settings):
    prof = cfg.profile if cfg.profile in places.PROFILES else None
    s = settings or AuditSettings.for_profile(prof)
    if settings is None and prof is None:  # a custom config: derive its own ANN twin
        s.ann_twin = None
    return s, prof


def _compute(cfg, s, sources, key, device):
    t0 = time.time()
    train.ensure_trained(cfg, device)
    model = load_trained(cfg, "best", device)
    loaded, source_acc = {}, {}
    for k, c in sources.items():
        if c is not None:
            source_acc[k] = train.ensure_trained(c, device)["final"]["test_acc_best"]
            loaded[k] = load_trained(c, "best", device)
    ds = load_data(cfg, "eval")
    per_class = max(1, s.n_eval // ds.num_classes)
    idx = stratified_indices(ds.targets, per_class, cfg.split_seed)
    x, y = ds.batch(idx)
    labels = {k: c.name for k, c in sources.items() if c is not None}
    partial = results.run_dir(cfg) / f"audit-{key[:10]}.partial.json"
    parking.unpark_audits(cfg)  # an audit parked on another machine resumes where it stopped
    reused = seed_partial(partial, results.run_dir(cfg), cfg.eval_key(), s.to_dict(), key)
    r = run_suite(
        model,
        x,
        y,
        s,
        ann=loaded.get("ann"),
        snn_source=loaded.get("snn"),
        n_classes=ds.num_classes,
        device=device,
        labels=labels,
        partial=partial,
    )
    finish(partial)
    parking.drop_audit(cfg, partial.name)
    r = place(r, reused)
    return {
        "kind": "audit",
        "run_id": cfg.run_id,
        "name": cfg.name,
        "eval_key": cfg.eval_key(),
        "audit_key": key,
        "config": cfg.to_dict(),
        "settings": s.to_dict(),
        "env": results.environment(device, cfg.seed),
        "sources": {k: (c.run_id if c is not None else None) for k, c in sources.items()},
        "source_acc": source_acc,
        **({"reused": reused} if reused else {}),
        "data": {**ds.provenance(), "n_eval": len(y), "per_class": per_class, "indices": idx.tolist()},
        **r,
        "verdict": verdict(r, cfg.name, _scale(cfg)),
        "wall_time_s": time.time() - t0,
    }


def _scale(cfg) -> str:
    return f"{cfg.profile} profile, width {cfg.model.width}, {cfg.train.epochs} epochs"


def _keyed(cfg: Config, settings: AuditSettings | None):
    """The settings, transfer sources and content key of ``cfg``'s audit."""
    s, prof = _settings(cfg, settings)
    sources = {"ann": ann_twin_config(cfg, s), "snn": snn_transfer_source(cfg, prof)}
    return s, sources, audit_key(cfg, s, sources)


def partial_progress(cfg: Config, settings: AuditSettings | None = None) -> tuple[int, int]:
    """How many of the suite's checks an interrupted audit of ``cfg`` has finished (its partial file), and how many
    there are."""
    key = _keyed(cfg, settings)[2]
    name = f"audit-{key[:10]}.partial.json"
    partial = results.run_dir(cfg) / name
    partial = partial if partial.exists() else parking.parked_dir(cfg) / name  # parked on another machine
    done = results.read_json(partial)["done"] if partial.exists() else []
    return len(done), len(CHECKS)


def progress_note(cfg: Config, profile_name: str) -> str:
    """How far ``cfg``'s unfinished audit got, and the command that finishes it."""
    k, total = partial_progress(cfg)
    return (
        f"{k} of {total} checks done; finish with `SNNLIB_PROFILE={profile_name} python -m snnlib reproduce "
        f"{cfg.name} --stages audit`"
    )


def run_config(
    cfg: Config, device: str | None = None, force: bool = False, settings: AuditSettings | None = None
) -> dict:
    """The audit of one config's trained model, cached as ``results/<profile>/<run_id>/audit-<key>.json``.

    The key covers the config's ``eval_key``, the suite settings and the transfer sources' training
    keys; a second call returns the file (re-derived: worst case, flags, verdict) without recomputing.
    """
    device = device or places.device()
    s, sources, key = _keyed(cfg, settings)
    r = results.cached(
        results.run_dir(cfg) / f"audit-{key[:10]}.json", lambda: _compute(cfg, s, sources, key, device), force
    )
    r = derive(r)
    r["verdict"] = verdict(r, r.get("name", cfg.name), _scale(cfg))
    return r


#: The configs the book audits in the paper profile (on a GPU runner): the 18-layer models.
PAPER_AUDITED = ("sew18_max_cifar10", "sew18_avg_cifar10", "spiking18_max_cifar100")


def audited_configs(profile_name: str | None = None) -> dict[str, Config]:
    """The configs a profile audits: every model of quick's and medium's (the paper's rows, the controls and the
    defended baseline; seed replicates are not audited); the 18-layer ones of paper's."""
    p = profile_name or places.profile()
    cfgs = load_profile(p)
    return {k: cfgs[k] for k in PAPER_AUDITED if k in cfgs} if p == "paper" else cfgs


def run_profile(
    names=None,
    device: str | None = None,
    force: bool = False,
    profile_name: str | None = None,
    settings: AuditSettings | None = None,
) -> dict[str, dict]:
    """:func:`run_config` for every (or the named) audited config of a profile."""
    device = device or places.device()
    cfgs = audited_configs(profile_name)
    if names is not None:
        missing = [n for n in names if n not in cfgs]
        if missing:
            raise SnnlibError(f"no SNN config {missing} in this profile; available: {', '.join(cfgs)}")
        cfgs = {n: cfgs[n] for n in names}
    return {n: run_config(c, device, force, settings) for n, c in cfgs.items()}


def available(profile_name: str | None = None) -> tuple[dict[str, dict], dict[str, str]]:
    """The audits of a profile that exist (computed where the book computes, :func:`snnlib.places.book_computes`),
    and for each one that does not, how far it got and the command that finishes it. A committed profile's
    audits take hours each on a CPU, so its book shows those that were committed."""
    p = profile_name or places.profile()
    res, missing = {}, {}
    for n, c in audited_configs(p).items():
        try:
            with results.book_reading(p):
                res[n] = run_config(c)
        except results.ResultMissing:
            missing[n] = progress_note(c, p)
    if not res:
        raise SnnlibError(
            f"no audit result in the {p} profile yet; compute one with `SNNLIB_PROFILE={p} python -m "
            f"snnlib reproduce {next(iter(missing), 'CONFIG')} --stages audit`"
        )
    return res, missing
