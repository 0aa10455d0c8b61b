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

import torch

from .errors import SnnlibError
from .worst_case import STRONG_EVAL, STRONG_TRAIN, CascadeSettings, attack_robust, cascade_worst_case

__all__ = ["CASCADE", "SpikeCaseSettings", "attack_robust", "spike_worst_case", "spike_case_result"]

#: the cascade: (id, attack, BN mode while crafting); each attacks what the earlier ones left
CASCADE = (
    ("pgd7", "pgd7", "eval"),  # the authors' attack with BN in eval mode: what the BN mode alone changes
    *STRONG_EVAL,
    *STRONG_TRAIN,  # crafted with BN in train mode in the authors' batches
)

#: kept under its first name: the spike case's budgets are the cascade's (:class:`snnlib.worst_case.CascadeSettings`)
SpikeCaseSettings = CascadeSettings


def spike_worst_case(model, x, y, clean, authors_pgd, eps: float, s: CascadeSettings, n_classes: int = 10) -> dict:
    """Attack the images that the authors' PGD-7 left at ``eps`` with :data:`CASCADE` in spike space; return the
    per-attack rows (images attacked, broken, left) and the per-image worst case (bool per image, over all
    ``len(y)`` images)."""
    how = {"space": "spike", "n_classes": n_classes, "first_id": "authors-pgd7", "first_bn": "train"}
    r = cascade_worst_case(model, x, y, clean, authors_pgd, eps, s, CASCADE, **how)
    r["authors_pgd7"] = r.pop("first")
    return r


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


def _compute(cfg, s: SpikeCaseSettings, device: str, partial) -> dict:
    """The spike case at every eps; each finished eps is kept in ``partial`` (a JSON file), so an interrupted run
    resumes after its last finished eps."""
    from . import results
    from .build import load_data
    from .checkpoints import load_trained
    from .data import stratified_indices

    t0 = time.time()
    outcomes = {e: authors_outcomes(cfg, e) for e in s.eps}  # evaluates (and trains) what is missing
    model, ds = load_trained(cfg, "best", device), load_data(cfg, "eval")
    idx = stratified_indices(ds.targets, max(1, s.n_eval // ds.num_classes), cfg.split_seed)  # the audit's images
    x, y = ds.batch(idx)
    per_eps = results.read_json(partial)["per_eps"] if partial.exists() else []
    for e in s.eps[len(per_eps) :]:
        clean, pgd = (torch.as_tensor(v, dtype=torch.bool)[idx] for v in outcomes[e])
        per_eps.append(spike_worst_case(model, x.to(device), y.to(device), clean, pgd, e, s, ds.num_classes))
        results.write_json(partial, {"per_eps": per_eps})
    partial.unlink(missing_ok=True)
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
    partial = out.with_suffix(".partial.json")
    return results.cached(out, lambda: _compute(cfg, s, device or places.device(), partial), force)


def spike_case_configs(cfg) -> list:
    """Which models get a spike-space worst case: the main seed of each model of the authors'-threat sensitivity
    table (:func:`snnlib.experiments.sensitivity_configs`) that is phase-coded."""
    from .experiments import sensitivity_configs

    return [c for c in sensitivity_configs(cfg)[:1] if c.model.encoder == "phase"]
