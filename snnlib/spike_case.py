"""The spike-space worst case: is the robustness the authors' threat measures itself an artifact of a weak attack?

The paper's robust accuracies come from the authors' code (Section 4.2 as implemented): PGD-7 on the encoded
spikes, crafted with BatchNorm in train mode on shuffled batches of 16 (:mod:`snnlib.attacks.registry`). This
module takes the images that attack leaves (clean-correct and still correct) and attacks them again in the
same space with stronger attacks: PGD with many steps and restarts, APGD-CE and APGD-DLR (Croce & Hein 2020,
torchattacks), each crafted with BN in eval mode and in train mode (the authors' batches). Every prediction is
made in BN eval mode, image by image, so a perturbation found by any of them is a valid adversarial example
whatever batch it was crafted in; the attacks run as a cascade on what the earlier ones left, and the per-image
worst case is the images none of them breaks.

By construction the worst case is contained in the authors' PGD-7 survivors (nested): the images broken beyond
PGD-7 are reported as a count with its exact interval, never as a McNemar test.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from . import stats
from .attacks import AUTHORS_EPS, PAPER_EPS, PGD, FastThreatModel, batch_indices, check_eps, check_count
from .attacks.gradient import acc_at, pgd_track
from .attacks.interop import run_torchattack
from .errors import SnnlibError
from .kernels import flush_denormals

#: the cascade: (id, attack, BN mode while crafting); each attacks what the earlier ones left
CASCADE = (
    ("pgd7", "pgd7", "eval"),  # the authors' attack with BN in eval mode: what the BN mode alone changes
    ("pgd-restarts", "pgd", "eval"),
    ("apgd-ce", "apgd-ce", "eval"),
    ("apgd-dlr", "apgd-dlr", "eval"),
    ("pgd-restarts", "pgd", "train"),
    ("apgd-ce", "apgd-ce", "train"),
    ("apgd-dlr", "apgd-dlr", "train"),
)


@dataclass
class SpikeCaseSettings:
    """The budgets of the spike-space worst case; :meth:`for_profile` follows the audit's budgets."""

    eps: list = field(default_factory=lambda: [AUTHORS_EPS, PAPER_EPS])  # the authors' code, the paper's text
    steps: int = 200
    restarts: int = 2
    alpha: float = 0.01  # the paper's PGD step, as the audit's ladder
    apgd_steps: int = 100
    n_eval: int = 500  # the audit's images
    batch_size: int = 100  # BN eval crafting (images do not interact)
    authors_batch_size: int = 16  # BN train crafting: the authors' shuffled test loader
    seed: int = 0

    @classmethod
    def for_profile(cls, profile_name: str | None = None) -> "SpikeCaseSettings":
        """The audit's image count, PGD ladder (longest run, restarts), APGD steps and seed for a profile."""
        from .audit.settings import AuditSettings

        a = AuditSettings.for_profile(profile_name)
        return cls(
            steps=max(a.ladder_steps) if a.budget != "quick" else sorted(a.ladder_steps)[-2],  # quick: CI's time
            restarts=a.ladder_restarts,
            alpha=a.alpha,
            apgd_steps=a.apgd_steps,
            n_eval=a.n_eval,
            batch_size=a.batch_size,
            authors_batch_size=a.authors_batch_size,
            seed=a.seed,
        ).validated()

    def validated(self) -> "SpikeCaseSettings":
        for name in ("steps", "restarts", "apgd_steps", "n_eval", "batch_size", "authors_batch_size"):
            check_count(getattr(self, name), f"spike-case setting {name}")
        if not self.eps:
            raise SnnlibError("spike-case setting eps must name at least one budget, e.g. [6/255, 8/255]")
        for e in (*self.eps, self.alpha):
            check_eps(e, "spike-case eps/alpha")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def _robust_pgd(threat, x, y, eps, alpha, steps, restarts, gen) -> torch.Tensor:
    if threat.bn == "eval":  # the first misclassified iterate counts (samples do not interact)
        return acc_at(pgd_track(threat, x, y, eps, alpha, steps, restarts, generator=gen), steps)
    adv = PGD(threat, eps, alpha, steps, restarts=restarts, generator=gen)(x, y)
    return threat.predict(adv) == y


def _robust_apgd(name, threat, x, y, eps, s: SpikeCaseSettings, n_classes: int) -> torch.Tensor:
    adv = run_torchattack(name, threat, x, y, eps, n_classes=n_classes, seed=s.seed, steps=s.apgd_steps)
    return threat.predict(adv) == y


def attack_robust(model, x, y, attack: str, bn: str, eps: float, s: SpikeCaseSettings, n_classes: int = 10):
    """Per image, whether it stays correct (BN eval) under one spike-space attack crafted with BN in ``bn`` mode.
    BN eval crafts in consecutive batches; BN train in the authors' batches (a seeded shuffle of 16)."""
    from .audit.suite import batch_generator

    if bn == "train":
        batches = batch_indices(x, y, s.authors_batch_size, "shuffled", s.seed)
    else:
        batches = batch_indices(x, y, s.batch_size, "dataset")
    threat = FastThreatModel(model, "spike", bn)
    out = torch.zeros(len(y), dtype=torch.bool)
    for i, b in enumerate(batches):
        gen = batch_generator(s.seed, i)
        xb, yb = x[b.to(x.device)], y[b.to(y.device)]
        if attack in ("pgd", "pgd7"):
            steps, restarts = (7, 1) if attack == "pgd7" else (s.steps, s.restarts)
            out[b] = _robust_pgd(threat, xb, yb, eps, s.alpha, steps, restarts, gen).cpu()
        else:
            out[b] = _robust_apgd(attack, threat, xb, yb, eps, s, n_classes).cpu()
    return out


def _row(attack_id, bn, attacked, broken, left, n, seconds) -> dict:
    return {
        "attack": attack_id,
        "bn": bn,
        "attacked": attacked,
        "broken": broken,
        "robust_after": left,
        "robust_acc_after": left / n if n else float("nan"),
        "seconds": round(seconds, 1),
    }


def spike_worst_case(model, x, y, clean, authors_pgd, eps: float, s: SpikeCaseSettings, n_classes: int = 10) -> dict:
    """Attack the images that the authors' PGD-7 left at ``eps`` with :data:`CASCADE`; return the per-attack rows
    (images attacked, broken, left) and the per-image worst case (bool per image, over all ``len(y)`` images)."""
    clean, authors_pgd = torch.as_tensor(clean, dtype=torch.bool), torch.as_tensor(authors_pgd, dtype=torch.bool)
    if not len(clean) == len(authors_pgd) == len(y):
        raise SnnlibError(f"spike worst case: {len(y)} images but {len(clean)}/{len(authors_pgd)} outcomes")
    n, alive = len(y), clean & authors_pgd
    rows = [_row("authors-pgd7", "train", int(clean.sum()), int((clean & ~authors_pgd).sum()), int(alive.sum()), n, 0)]
    for attack_id, attack, bn in CASCADE:
        t0, idx = time.time(), torch.nonzero(alive).flatten()
        if len(idx):
            d = idx.to(x.device)
            with flush_denormals():
                robust = attack_robust(model, x[d], y[d], attack, bn, eps, s, n_classes)
            alive[idx[~robust]] = False
        rows.append(
            _row(attack_id, bn, len(idx), int(len(idx) - alive[idx].sum()), int(alive.sum()), n, time.time() - t0)
        )
    beyond = rows[0]["robust_after"] - int(alive.sum())
    lo, hi = stats.clopper_pearson(beyond, rows[0]["robust_after"]) if rows[0]["robust_after"] else (0.0, 1.0)
    return {
        "eps": float(eps),
        "rows": rows,
        "clean": stats.accuracy(clean),
        "authors_pgd7": stats.accuracy(clean & authors_pgd),
        "worst": stats.accuracy(alive),
        "beyond_pgd7": {"k": beyond, "n": rows[0]["robust_after"], "lo": lo, "hi": hi},
        "per_sample": {"worst": alive.int().tolist()},
    }


def authors_outcomes(cfg, eps: float) -> tuple[list, list]:
    """Per image of the config's attacked set, clean and authors'-threat PGD-7 outcomes at ``eps`` (the faithful
    batching of :mod:`snnlib.attacks.registry`), from the config's cached evaluation."""
    from .experiments import eval_config, evaluate_config, with_attack

    r = evaluate_config(with_attack(eval_config(cfg, "authors"), eps=float(eps)))
    e = r["final"]["eps"]
    return r["per_sample"]["clean"], r["per_sample"][f"pgd@{e}"]


def spike_case_key(cfg, s: SpikeCaseSettings) -> str:
    from .config import content_hash
    from .experiments import eval_config

    return content_hash(
        {
            "kind": "spike-case",
            "eval": eval_config(cfg, "authors").eval_key(),
            "settings": s.to_dict(),
            "cascade": [list(c) for c in CASCADE],
        }
    )


def _compute(cfg, s: SpikeCaseSettings, device: str) -> dict:
    from . import results
    from .build import load_data
    from .checkpoints import load_trained
    from .data import stratified_indices

    t0 = time.time()
    outcomes = {e: authors_outcomes(cfg, e) for e in s.eps}  # evaluates (and trains) what is missing
    model, ds = load_trained(cfg, "best", device), load_data(cfg, "eval")
    idx = stratified_indices(ds.targets, max(1, s.n_eval // ds.num_classes), cfg.split_seed)  # the audit's images
    x, y = ds.batch(idx)
    per_eps = []
    for e in s.eps:
        clean, pgd = (torch.as_tensor(v, dtype=torch.bool)[idx] for v in outcomes[e])
        per_eps.append(spike_worst_case(model, x.to(device), y.to(device), clean, pgd, e, s, ds.num_classes))
    return {
        "kind": "spike-case",
        "run_id": cfg.run_id,
        "name": cfg.name,
        "config": cfg.to_dict(),
        "settings": s.to_dict(),
        "cascade": [list(c) for c in CASCADE],
        "per_eps": per_eps,
        "data": {**ds.provenance(), "n_eval": len(y), "indices": idx.tolist()},
        "env": results.environment(device, cfg.seed),
        "wall_time_s": time.time() - t0,
    }


def spike_case_result(cfg, settings: SpikeCaseSettings | None = None, device: str | None = None, force=False) -> dict:
    """The spike-space worst case of a config's trained model on the audit's images, at the authors' 6/255 and the
    paper's 8/255; cached as ``results/<profile>/<run_id>/spikecase-<key>.json``."""
    from . import places, results

    if getattr(cfg.model, "encoder", None) != "phase":
        raise SnnlibError(f"config {cfg.name!r}: the spike-space worst case needs phase-coded input (model.encoder)")
    s = settings or SpikeCaseSettings.for_profile(cfg.profile if cfg.profile in places.PROFILES else None)
    out = results.run_dir(cfg) / f"spikecase-{spike_case_key(cfg, s)[:10]}.json"
    return results.cached(out, lambda: _compute(cfg, s, device or places.device()), force)


def spike_case_configs(cfg) -> list:
    """Which models get a spike-space worst case: the main seed of each model of the authors'-threat sensitivity
    table (:func:`snnlib.experiments.sensitivity_configs`) that is phase-coded."""
    from .experiments import sensitivity_configs

    return [c for c in sensitivity_configs(cfg)[:1] if c.model.encoder == "phase"]
