"""Command line: ``python -m snnlib train | evaluate | audit | publish | park | reproduce | figures | bench | gpu-check | seed-variance``.

Every command ends by printing one line of JSON with its final metrics and the
path of its result file. Bad input gets one line of explanation, no stack trace.
"""

from __future__ import annotations

import json
import logging
import sys

from . import config
from .cli_args import parser
from .errors import SnnlibError


def _load(args) -> config.Config:
    if args.out:
        config.set_output_root(args.out)
    return config.load_config(config.resolve(args.config), args.set)


def cmd_train(args) -> dict:
    from . import train

    cfg = _load(args)
    r = train.train(cfg, device=args.device or config.device(), resume=args.resume, force=args.force)
    return {"command": "train", "run_id": cfg.run_id, "metrics": r["final"], "result_file": r.get("result_file")}


def cmd_evaluate(args) -> dict:
    from . import experiments

    cfg = _load(args)
    if args.threat:
        cfg = experiments.eval_config(cfg, args.threat)
    if args.suite == "audit":
        from . import audit

        r = audit.run_config(cfg, device=args.device or config.device(), force=args.force)
    else:
        r = experiments.evaluate_config(cfg, device=args.device, force=args.force, checkpoint=args.checkpoint)
    return {
        "command": "evaluate",
        "suite": args.suite,
        "run_id": cfg.run_id,
        "metrics": r["final"],
        "result_file": r.get("result_file"),
    }


def cmd_bench(args) -> dict:
    from . import bench

    batches = None
    if args.batches:
        try:
            batches = [int(v) for v in args.batches.split(",")]
        except ValueError:
            raise SnnlibError(f"--batches takes integers like 16,32, got {args.batches!r}") from None
    if args.form == "build" and not (args.out or args.repeats or args.threads or batches or args.extra):
        r = bench.for_build()  # the measurement the book shows, once per commit and machine
        return {k: r[k] for k in ("command", "final", "result_file") if k in r}
    return bench.run(
        device=args.device,
        repeats=args.repeats,
        out=args.out,
        threads=args.threads,
        batches=batches,
        extras=args.extra,
        form=args.form,
    )


def cmd_audit(args) -> dict:
    """The audit of ``--model``; with ``--fail-on``, prints the result line and exits with status 1 where a rule
    breaks (2 stays bad input)."""
    from .audit import audit
    from .audit.conventions import failures, parse_fail_on
    from .audit.loading import load_images, load_model

    rules = parse_fail_on(args.fail_on)  # before the long run
    if ":" not in args.model and (args.normalize or args.time_major is not None):
        raise SnnlibError(
            "--normalize and --time-major are for --model file.py:callable; a project config's model "
            "already takes images in [0,1] and returns logits"
        )
    device = args.device or config.device()
    if args.verify:
        return _verify_audit(args, device)
    model, label, cfg = load_model(args.model, args.checkpoint, device)
    x, y, k = load_images(args.data, args.n, args.seed, cfg)
    rep = audit(
        model,
        x,
        y,
        budget=args.budget,
        eps=args.eps,
        seed=args.seed,
        device=device,
        n_classes=k,
        label=label,
        progress=False if args.quiet else None,
        normalize=args.normalize,
        time_major=args.time_major,
        norm=args.norm,
        dataset=args.data or (cfg.data.dataset if cfg is not None else None),
    )
    files = rep.save(args.out)
    c = rep.card
    out = {
        "command": "audit",
        "model": label,
        "metrics": {k: c[k] for k in ("clean_acc", "pgd7_acc", "worst_case_acc", "worst_case_interval", "cause")},
        "result_file": files["json"],
        "card": files["markdown"],
        "examples": files.get("examples"),
        "model_info": files.get("model_info"),
    }
    failed = failures(c, rules)
    if failed:
        print(json.dumps({**out, "failed": failed}, default=str))
        print(f"audit failed (--fail-on): {'; '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)
    return out


def _verify_audit(args, device) -> dict:
    """``--verify DIR``: the stored examples against the model; exit status 1 where one is classified correctly."""
    from .audit import verify
    from .audit.loading import load_model

    model = load_model(args.model, args.checkpoint, device)[0]
    v = verify.verify(args.verify, model, normalize=args.normalize, time_major=args.time_major, device=device)
    out = {"command": "audit --verify", "folder": args.verify, **v}
    if not v["verified"]:
        print(json.dumps(out, default=str))
        print(
            f"verify failed: {v['not_confirmed']} of {v['examples']} stored examples are classified correctly "
            f"(positions {v['not_confirmed_index'][:10]})",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(verify.line(v), file=sys.stderr)
    return out


def cmd_gpu_check(args) -> dict:
    from .bench import gpu

    return gpu.run(device=args.device, dry_run=args.dry_run, out=args.out, budget_s=args.seconds)


def cmd_figures(args) -> dict:
    from . import report

    return report.export_all(out=args.out)


def cmd_publish(args) -> dict:
    from . import checkpoints, train

    cfg = _load(args)
    r = train.ensure_trained(cfg, args.device or config.device())
    path = checkpoints.publish(cfg)
    return {
        "command": "publish",
        "run_id": cfg.run_id,
        "metrics": r["final"],
        "result_file": str(path),
        "sha256": checkpoints.sha256(path),
    }


def cmd_park(args) -> dict:
    from . import parking

    return {"command": "park", **parking.park(_load(args))}


def cmd_reproduce(args) -> dict:
    from .reproduce import reproduce, reproduce_parallel

    if args.out:
        config.set_output_root(args.out)
    names = list(config.load_profile()) if args.all else args.configs
    if not names or args.jobs < 1:
        raise SnnlibError("reproduce needs config names or --all, and --jobs of at least 1")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    flags = {
        "partition": args.partition,
        "gpus_per_job": args.gpus_per_job,
        "cpus_per_job": args.cpus_per_job,
        "time": args.time,
        "array_parallelism": args.array_parallelism,
    }
    if args.executor != "pool":
        from . import executors

        opts = executors.options(args.cluster_config, args.sbatch_arg, **flags)
        files = executors.run(names, stages, args.executor, opts, args.jobs, log, args.jobs_dir)
        return {"command": "reproduce", "executor": args.executor, "files": files}
    given = {
        **flags,
        "sbatch_arg": args.sbatch_arg or None,
        "cluster_config": args.cluster_config,
        "jobs_dir": args.jobs_dir,
    }
    given = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
    if given:
        raise SnnlibError(f"{', '.join(given)} apply to --executor local or slurm, not to the default process pool")
    if args.jobs > 1:
        return {"command": "reproduce", "files": reproduce_parallel(names, stages, args.jobs, log)}
    cfgs = [config.load_config(config.resolve(n)) for n in names]
    return {"command": "reproduce", "files": {c.name: reproduce(c, stages, log) for c in cfgs}}


def cmd_seed_variance(args) -> dict:
    from .report.seeds import write_borrowed

    out = write_borrowed(args.source)
    return {
        "command": "seed-variance",
        "source": out["source_profile"],
        "target": out["target_profile"],
        "sd_points": out["sd_points"],
        "variance": out["variance"],
    }


COMMANDS = {
    "seed-variance": cmd_seed_variance,
    "reproduce": cmd_reproduce,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "bench": cmd_bench,
    "figures": cmd_figures,
    "publish": cmd_publish,
    "park": cmd_park,
    "audit": cmd_audit,
    "gpu-check": cmd_gpu_check,
}


def final_line(out: dict) -> dict:
    """Every command's last line of JSON has the same fields first: command, status, result files, key figures
    (``metrics``); whatever else the command returns follows them."""
    files = out.get("result_files", out.get("result_file", out.get("files")))
    head = {
        "command": out.get("command"),
        "status": out.get("status", "ok"),
        "result_files": files if isinstance(files, (list, dict)) or files is None else [files],
        "metrics": out.get("metrics", out.get("final", {})),
    }
    return {**head, **{k: v for k, v in out.items() if k not in head}}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "quiet", False):
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        out = COMMANDS[args.command](args)
    except SnnlibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished epochs are saved in the run's latest checkpoint (use --resume)", file=sys.stderr)
        return 130
    print(json.dumps(final_line(out), default=str))
    return 0
