"""Every result the book reads for one config, computed or found cached, in one call: what
``python -m snnlib reproduce`` runs, and how the medium profile's results were produced in the background.

Stages, in order (each cached, so a stopped run resumes where it stopped):

- ``train``: the config and its seed replicates;
- ``publish``: their best weights into the zoo (``models/<profile>/``, checksummed);
- ``evaluate``: clean / FGSM / PGD (Tables 1-3, Fig. 2's eps sweep for SEW models) under every threat
  model for the paper's rows, the standard one for the replicates, controls and defended baseline;
- ``probes``: gradient sparsity (Figs. 3/5), the authors' probe and weight-gradient sparsity;
- ``audit``: the gradient-obfuscation audit at the profile's budget (hours for the medium profile).
"""

from __future__ import annotations

import time

from . import checkpoints, config, results, train
from .config import Config

STAGES = ("train", "publish", "evaluate", "probes", "audit")


def _evaluate(cfg: Config) -> list[str]:
    from .report import THREATS, evaluation

    threats = THREATS if cfg.role == "paper" and cfg.model.neuron == "if" else ("standard",)
    out = [evaluation(cfg, t)["result_file"] for t in threats]
    return out + [evaluation(c, "standard", sweep=False)["result_file"] for c in config.replicates(cfg)[1:]]


def _probes(cfg: Config) -> list[str]:
    from .report.figures import authors_probe_result, probe_result, weight_sparsity_result

    if cfg.role != "paper" or not cfg.model.arch.startswith("sew"):
        return []
    out = [probe_result(cfg, 200, True)["result_file"]]
    if cfg.model.arch == "sew_resnet18":
        out += [authors_probe_result(cfg)["result_file"], weight_sparsity_result(cfg)["result_file"]]
    return out


def _audit(cfg: Config) -> list[str]:
    from . import audit

    return [audit.run_config(cfg)["result_file"]] if cfg.name in audit.audited_configs(cfg.profile) else []


def _train(cfg: Config) -> list[str]:
    return [train.ensure_trained(c)["result_file"] for c in config.replicates(cfg)]


def _publish(cfg: Config) -> list[str]:
    return [str(checkpoints.publish(c)) for c in config.replicates(cfg)]


RUN = {"train": _train, "publish": _publish, "evaluate": _evaluate, "probes": _probes, "audit": _audit}


def reproduce(cfg: Config, stages=STAGES, log=print) -> dict[str, list[str]]:
    """Run ``stages`` (a subset of :data:`STAGES`, kept in their order) for ``cfg``; return the files per stage."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        from .errors import SnnlibError

        raise SnnlibError(f"unknown stage(s) {sorted(unknown)}; expected some of: {', '.join(STAGES)}")
    done = {}
    for st in (s for s in STAGES if s in stages):
        t0 = time.time()
        done[st] = [results.portable(str(f)) for f in RUN[st](cfg)]
        log(f"{cfg.name}: {st} done in {time.time() - t0:.0f}s ({len(done[st])} file(s))")
    return done
