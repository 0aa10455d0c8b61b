"""Which copy of CIFAR-10 each verdict's models were trained and attacked on: the lossless arrays or the lossy JPEG
copy (lossless-data issue, item 6). A verdict that compares models from both copies says so in its ``data`` cell."""

from __future__ import annotations

from .. import config, results

PIXEL_LABEL = {"lossless": "lossless", "jpeg": "JPEG"}
MIXED = "mixed"

#: the models (attributes of :class:`snnlib.report.verdicts._Models`) each claim's verdict rests on
CLAIM_MODELS = {
    "claim_natural_robustness": ("sew", "defended"),
    "claim_spiking_lacks": ("sew", "spk"),
    "claim_sparsity_if": ("sew",),
    "claim_sparsity_in_blocks": ("sew",),
    "claim_pool_sparsity": ("sew", "sew_avg"),
    "claim_pool_value": ("sew", "sew_avg"),
    "claim_tradeoff": ("sew", "sew_avg"),
    "claim_eps_shape": ("sew", "defended"),
    "claim_spike_case": ("sew",),
}


def recorded_data(cfg: config.Config, profile: str | None = None) -> dict | None:
    """What one run's training result records of its data (``source``, ``pixels``, ``sha256``; files from before
    that record say only the source), or None where it is not trained yet."""
    f = results.run_dir(cfg, profile) / "train.json"
    return results.read_json(f).get("data", {}) if f.exists() else None


def pixels_of(cfg: config.Config) -> str:
    """The copy ``cfg``'s results were computed on, over all its seeds: what each training result records
    (``data.pixels``), else the config's setting; :data:`MIXED` if its seeds differ."""
    seen = {(recorded_data(c, cfg.profile) or {}).get("pixels") or c.data.pixels for c in config.replicates(cfg)}
    return seen.pop() if len(seen) == 1 else MIXED


def data_note(cfgs) -> str:
    """One cell: the copy all of ``cfgs`` used, or ``mixed: <name> <copy>, ...`` when they differ."""
    per = {c.name: pixels_of(c) for c in cfgs if c is not None}
    kinds = set(per.values())
    if len(kinds) == 1 and MIXED not in kinds:
        return PIXEL_LABEL.get(kinds.pop(), "")
    return f"{MIXED}: " + ", ".join(f"{n} {PIXEL_LABEL.get(p, p)}" for n, p in per.items())


def claim_data(models, claim_name: str) -> str:
    """The ``data`` cell of one claim's row (:data:`CLAIM_MODELS`; a claim not listed there reads the headline model)."""
    return data_note([getattr(models, a) for a in CLAIM_MODELS.get(claim_name, ("sew",))])


def mark_mixed(verdict: str, data: str) -> str:
    """A verdict as the overview table shows it: flagged where its models come from both copies."""
    return f"{verdict} (mixed data)" if str(data).startswith(MIXED) else verdict
