"""Experiment settings: one validated object, loaded from YAML and overridden by ``--set``.

The defaults are the paper's (Section 4.1 and 4.2): IF neurons with the ATan
surrogate (alpha=2), phase coding with T=10 and K=8, Adam (lr 1e-3, betas
0.9/0.999), batch 16, 100 epochs, random horizontal flips, seed 3407,
FGSM/PGD with eps=8/255, PGD step 0.01 and 7 steps. Where the authors' code
differs from the text, the field says which one the default follows:

- ``train.weight_decay = 1e-3``: the authors' code; the paper's text is silent.
- ``model.weighted = False``: the code ignores omega(t); the text applies it.
- ``attack.space = "pixel"``, ``attack.bn = "eval"``, ``attack.eps = 8/255``: the
  text and the standard threat model. The code attacks the encoded spikes
  (``space="spike"``), in BN train mode (``bn="train"``), with eps 6/255.

Modules: :mod:`.schema` (the dataclasses and their content keys), :mod:`.loading` (YAML, validation, overrides,
the typed :func:`replace`, replicates, profiles). Places and the active profile come from :mod:`snnlib.places` (the one module that
reads environment variables) and are re-exported here.
"""

from __future__ import annotations

from ..places import (
    PROFILES,
    cache_dir,
    data_root,
    device,
    figures_dir,
    output_root,
    profile,
    project_root,
    results_dir,
    runs_dir,
    set_output_root,
    zoo_dir,
)

from .loading import (
    apply_overrides,
    config_path,
    from_dict,
    load_config,
    load_profile,
    parse_override,
    replace,
    replicates,
    resolve,
    to_yaml,
    with_overrides,
)
from .schema import (
    LATE_FIELDS,
    AdversarialConfig,
    AttackConfig,
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
    content_hash,
)

__all__ = [
    "replace",
    "to_yaml",
    "parse_override",
    "apply_overrides",
    "LATE_FIELDS",
    "Config",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "AttackConfig",
    "from_dict",
    "load_config",
    "AdversarialConfig",
    "with_overrides",
    "replicates",
    "resolve",
    "config_path",
    "load_profile",
    "content_hash",
    "PROFILES",
    "cache_dir",
    "data_root",
    "device",
    "figures_dir",
    "output_root",
    "profile",
    "project_root",
    "results_dir",
    "runs_dir",
    "set_output_root",
    "zoo_dir",
]
