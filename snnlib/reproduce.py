"""Every result the book reads for one config, computed or found cached, in one call: what
``python -m snnlib reproduce`` runs, and how the medium profile's results were produced in the background.

Stages, in order (each cached, so a stopped run resumes where it stopped):

- ``train``: the config and its seed replicates;
- ``publish``: their best weights into the zoo (``models/<profile>/``, checksummed);
- ``evaluate``: clean / FGSM / PGD (Tables 1-3, Fig. 2's eps sweep for SEW models) under every threat
  model for the paper's rows, the standard one for the replicates (at the paper's eps and the sweep's smallest), controls and defended baseline;
- ``probes``: gradient sparsity (Figs. 3/5), the authors' probe and weight-gradient sparsity;
- ``audit``: the gradient-obfuscation audit at the profile's budget (hours for the medium profile), and the
  spike-space worst case of the authors' threat (:mod:`snnlib.spike_case`).

:func:`reproduce_parallel` runs many configs in ``jobs`` processes of one thread each (``reproduce --all
--jobs 2``): on a small CPU two single-threaded processes do more work than one process on two threads.
It trains every config first, because an audit attacks with transfers from other configs' models.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from . import checkpoints, config, places, results, train
from .config import Config
from .errors import SnnlibError

STAGES = ("train", "publish", "evaluate", "probes", "audit")


def _evaluate(cfg: Config) -> list[str]:
    from .attacks import THREATS
    from .experiments import authors_draws, authors_sensitivity, draw_configs, eval_config, evaluate_config
    from .experiments import sensitivity_configs

    threats = tuple(THREATS) if cfg.role == "paper" and cfg.model.neuron == "if" else ("standard",)
    out = [evaluate_config(eval_config(cfg, t))["result_file"] for t in threats]
    out += [
        evaluate_config(eval_config(c, "standard", sweep="short"))["result_file"] for c in config.replicates(cfg)[1:]
    ]
    for c in sensitivity_configs(cfg):
        authors_sensitivity(c)
    for c in draw_configs(cfg):
        authors_draws(c)
    return out


def _probes(cfg: Config) -> list[str]:
    from .probe_runs import authors_probe_result, probe_result, weight_sparsity_result

    if cfg.role != "paper" or not cfg.model.arch.startswith("sew"):
        return []
    out = [probe_result(cfg, 200, True)["result_file"]]
    if cfg.model.arch == "sew_resnet18":
        out += [authors_probe_result(cfg)["result_file"], weight_sparsity_result(cfg)["result_file"]]
    return out


def _audit(cfg: Config) -> list[str]:
    from . import audit
    from .spike_case import spike_case_configs, spike_case_result

    out = [audit.run_config(cfg)["result_file"]] if cfg.name in audit.audited_configs(cfg.profile) else []
    return out + [spike_case_result(c)["result_file"] for c in spike_case_configs(cfg)]


def _train(cfg: Config) -> list[str]:
    return [train.ensure_trained(c)["result_file"] for c in config.replicates(cfg)]


def _publish(cfg: Config) -> list[str]:
    return [str(checkpoints.publish(c)) for c in config.replicates(cfg)]


RUN = {"train": _train, "publish": _publish, "evaluate": _evaluate, "probes": _probes, "audit": _audit}


def reproduce(cfg: Config, stages=STAGES, log=print) -> dict[str, list[str]]:
    """Run ``stages`` (a subset of :data:`STAGES`, kept in their order) for ``cfg``; return the files per stage."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SnnlibError(f"unknown stage(s) {sorted(unknown)}; expected some of: {', '.join(STAGES)}")
    done = {}
    for st in (s for s in STAGES if s in stages):
        t0 = time.time()
        done[st] = [results.portable(str(f)) for f in RUN[st](cfg)]
        log(f"{cfg.name}: {st} done in {time.time() - t0:.0f}s ({len(done[st])} file(s))")
    return done


def _cost(cfg: Config, phase: tuple[str, ...]) -> float:
    """A rough relative cost, to start the longest work first (adversarial training costs a few epochs each)."""
    reps = len(config.replicates(cfg))
    if "train" in phase:
        return reps * (3 if cfg.train.adversarial.method != "none" else 1) * cfg.train.epochs
    return 3 * ("audit" in phase) + (2 if cfg.role == "paper" else 1) + 0.3 * reps


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _work(name: str, phase: tuple[str, ...], profile_name: str, out_root: str) -> dict[str, list[str]]:
    places.set_output_root(out_root)  # the parent's (``--out``, or the project)
    return reproduce(config.load_config(config.resolve(name, profile_name)), phase, log=lambda m: None)


def reproduce_parallel(names, stages=STAGES, jobs: int = 2, log=print) -> dict[str, dict[str, list[str]]]:
    """:func:`reproduce` for every config in ``names``, in ``jobs`` worker processes of ``cpus // jobs`` threads:
    first the ``train`` and ``publish`` stages of all, then the others, longest first. Cached as
    :func:`reproduce` is, so a stopped run resumes; the first failure stops it with its message."""
    cfgs = {n: config.load_config(config.resolve(n)) for n in names}
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    first = tuple(s for s in STAGES if s in stages and s in ("train", "publish"))
    phases = [p for p in (first, tuple(s for s in STAGES if s in stages and s not in first)) if p]
    env = dict(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TQDM_DISABLE="1")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the workers inherit it
    try:
        ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch thread pools
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
            return _phases(pool, cfgs, phases, log)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _phases(pool, cfgs: dict[str, Config], phases, log) -> dict[str, dict[str, list[str]]]:
    from tqdm.auto import tqdm

    done: dict[str, dict[str, list[str]]] = {n: {} for n in cfgs}
    for phase in phases:
        order = sorted(cfgs, key=lambda n: -_cost(cfgs[n], phase))
        futures = {n: pool.submit(_work, n, phase, places.profile(), str(places.output_root())) for n in order}
        try:
            for n, f in tqdm(futures.items(), total=len(order), desc=",".join(phase)):
                done[n].update(f.result())
                log(f"{n}: {','.join(phase)} done")
        except BaseException:
            for f in futures.values():
                f.cancel()
            raise
    return done
