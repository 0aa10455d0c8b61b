"""Command line: ``python -m snnlib train | evaluate | audit | publish | reproduce | figures | bench | gpu-check | seed-variance``.

Every command ends by printing one line of JSON with its final metrics and the
path of its result file. Bad input gets one line of explanation, no stack trace.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import config
from .errors import SnnlibError

EPILOG = """examples:
  python -m snnlib train configs/quick/sew18_max.yaml
  python -m snnlib train sew18_max --set train.epochs=2 --set model.width=8
  python -m snnlib evaluate sew18_max --threat authors
  SNNLIB_PROFILE=paper python -m snnlib train sew18_max_cifar10 --device cuda

A CONFIG is a YAML file or the name of one in configs/<profile>/ (profile from
SNNLIB_PROFILE, default quick). Data are looked for in SNNLIB_DATA."""


AUDIT_EPILOG = """examples:
  python -m snnlib audit --model sew18_max
  python -m snnlib audit --model my_snn.py:build --checkpoint weights.pt --data cifar10 --n 200
  python -m snnlib audit --model mypkg.models:tiny_lif --data npz:../shared/data/cifar10-npz --budget standard
  python -m snnlib audit --model my_snn.py:build --data cifar10 --norm l2 --eps 0.5
  python -m snnlib audit --verify audit-out --model my_snn.py:build --checkpoint weights.pt

The callable takes no arguments and returns an nn.Module mapping images [B,C,H,W] in [0,1] to logits [B,K].
Writes report.json, report.md (a report card with one figure), model_info.json (RobustBench's fields) and
examples.pt (the worst case's adversarial examples, checked by --verify) into --out."""


def _common(p):
    p.add_argument("config", metavar="CONFIG", help="YAML file, or a config name in configs/<profile>/")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set train.epochs=2 (repeatable; validated like the file)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: SNNLIB_DEVICE, else cpu)")
    p.add_argument("--out", metavar="DIR", help="put checkpoints under DIR/runs and results under DIR/results")
    p.add_argument("--force", action="store_true", help="recompute even if a result for this config exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch log lines")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("snnlib")
    except PackageNotFoundError:
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m snnlib",
        description=__doc__.splitlines()[0].replace("``", ""),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"snnlib {_version()}")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train a config (skipped if its finished result exists)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(t)
    t.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    e = sub.add_parser(
        "evaluate",
        help="clean, FGSM and PGD accuracy of a trained config",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(e)
    e.add_argument("--checkpoint", metavar="PATH", help="evaluate this checkpoint instead of the run's best")
    from .attacks import THREATS

    e.add_argument(
        "--threat",
        choices=list(THREATS),
        help="a registered threat model: " + "; ".join(f"{k}: {t.label}" for k, t in THREATS.items()),
    )
    e.add_argument(
        "--suite",
        choices=["standard", "audit"],
        default="standard",
        help="standard: clean/FGSM/PGD (+ eps sweep); audit: the gradient-obfuscation audit",
    )
    b = sub.add_parser("bench", help="time snnlib against the authors' pipeline, same weights and batch")
    b.add_argument(
        "--form",
        choices=["full", "quick", "build"],
        default=None,
        help="full (default); quick: the CI form, small sizes, checks that the results are equal in seconds; build: "
        "the paper's setting once, single-threaded, as the "
        "book shows it (cached per commit and machine in results/bench/cpu-build.json)",
    )
    b.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    b.add_argument("--repeats", type=int, default=None, help="timed repetitions per measurement")
    b.add_argument("--out", metavar="FILE", help="write the result JSON here (default results/bench/<device>.json)")
    b.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default torch's; 1 on a shared machine: the headline then uses CPU time)",
    )
    b.add_argument("--batches", metavar="B0,B1", help="the paper's batch and a larger one (default 16,32)")
    b.add_argument(
        "--extra",
        action="append",
        default=[],
        choices=["bf16", "compile"],
        help="also time snnlib's path with bf16 autocast / torch.compile (for CUDA; repeatable)",
    )
    a = sub.add_parser(
        "audit",
        help="audit any PyTorch model for gradient obfuscation: a report card",
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument(
        "--model",
        required=True,
        metavar="MODEL",
        help="path/to/file.py:callable, package.module:callable, or a project config name (sew18_max)",
    )
    a.add_argument("--checkpoint", metavar="FILE", help="a state_dict file, loaded with weights_only=True")
    a.add_argument("--data", metavar="DATASET", help="cifar10, cifar100, imagefolder:PATH (default: the config's)")
    a.add_argument("--n", type=int, default=100, help="seeded, stratified test images (default 100)")
    a.add_argument(
        "--eps",
        type=float,
        default=None,
        help="budget in pixel units: l_inf (default 8/255) or, with --norm l2, the l2 radius (default 0.5)",
    )
    a.add_argument(
        "--norm",
        choices=["linf", "l2"],
        default="linf",
        help="threat model: linf (the full suite) or l2 (torchattacks' APGD-CE/DLR, PGD-L2, Square)",
    )
    a.add_argument(
        "--verify",
        metavar="DIR",
        help="check an audit's DIR/examples.pt against --model: in the eps-ball and [0,1], misclassified",
    )
    a.add_argument(
        "--budget",
        choices=["quick", "standard", "full"],
        default="quick",
        help="quick: minutes on a CPU; standard: the book's suite; full: + AutoAttack and full black-box",
    )
    a.add_argument("--out", metavar="DIR", default="audit-out", help="where report.json, report.md go (audit-out/)")
    a.add_argument("--device", default=None, help="cpu or cuda[:N] (default: SNNLIB_DEVICE, else cpu)")
    a.add_argument("--seed", type=int, default=0, help="seed of the image selection and of every attack")
    a.add_argument(
        "--normalize",
        nargs=2,
        metavar=("MEAN", "STD"),
        help="the model expects (x - MEAN) / STD, per channel, comma-separated (e.g. 0.49,0.48,0.45 "
        "0.25,0.24,0.26); attacks stay in pixel space [0,1]",
    )
    a.add_argument(
        "--time-major",
        type=int,
        metavar="T",
        help="repeat the image over T steps as [T,B,C,H,W] and average the model's [T,B,K] output over T "
        "(0: average only)",
    )
    a.add_argument(
        "--fail-on",
        action="append",
        metavar="RULE",
        help="exit with status 1 if 'flags' (any red flag fires) or 'worst-below:X' (worst-case accuracy "
        "below X, a fraction); repeatable",
    )
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    pub = sub.add_parser(
        "publish",
        help="copy a trained config's best weights into models/<profile>/ (with SHA-256)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(pub)
    gc = sub.add_parser("gpu-check", help="everything a lent GPU should measure, in one run (results/gpu/)")
    gc.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at tiny sizes")
    gc.add_argument("--device", default="cuda", help="cuda[:N] (default cuda)")
    gc.add_argument("--out", metavar="DIR", help="folder for the result files (default results/gpu/)")
    gc.add_argument("--seconds", type=float, default=540, help="seconds the training parts may take in all")
    f = sub.add_parser("figures", help="export every figure (PDF, PNG) and table (CSV, LaTeX) to figures/")
    f.add_argument("--out", metavar="DIR", help="folder to write to (default figures/)")
    sv = sub.add_parser(
        "seed-variance",
        help="borrow another profile's between-seed variance for this profile's "
        "one-seed models (results/<profile>/seed-variance.json)",
    )
    sv.add_argument(
        "--from", dest="source", default="quick", help="profile whose cached seed replicates to use (quick)"
    )
    _add_reproduce(sub)
    return ap


def _add_reproduce(sub):
    from .executors import EXECUTORS, TIME_FORMAT
    from .reproduce import STAGES

    r = sub.add_parser(
        "reproduce",
        help="every result the book reads for the named configs (cached; resumable)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("configs", nargs="*", metavar="CONFIG", help="config names of the profile (SNNLIB_PROFILE)")
    r.add_argument("--all", action="store_true", help="every config of the profile")
    r.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the configs in N processes of cpus/N threads each (train all first, then the rest)",
    )
    r.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    r.add_argument("-q", "--quiet", action="store_true", help="no per-epoch log lines")
    r.add_argument("--out", metavar="DIR", help="put checkpoints under DIR/runs and results under DIR/results")
    r.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="pool",
        help="pool: this machine's processes (--jobs); local: one submitit job per config on this machine "
        "(--jobs at a time); slurm: one Slurm job per config, a job array per wave; debug: in this "
        "process (tests). Job logs: runs/<profile>/jobs/<job id>/",
    )
    c = r.add_argument_group("cluster options (--executor local|slurm; flags win over --cluster-config)")
    c.add_argument("--partition", help="Slurm partition")
    c.add_argument("--gpus-per-job", type=int, metavar="N", help="GPUs per job (then SNNLIB_DEVICE defaults to cuda)")
    c.add_argument("--cpus-per-job", type=int, metavar="N", help="CPUs (and torch threads) per job (default 1)")
    c.add_argument(
        "--time",
        metavar="LIMIT",
        help=f"time limit per job: {TIME_FORMAT} (default 1-00:00:00; "
        "a job that runs out is requeued and resumes its training)",
    )
    c.add_argument("--array-parallelism", type=int, metavar="N", help="at most N jobs of a wave at once")
    c.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other sbatch option, e.g. --sbatch-arg mem=16G --sbatch-arg qos=high (repeatable)",
    )
    c.add_argument(
        "--cluster-config",
        metavar="FILE",
        help="YAML with partition, gpus_per_job, cpus_per_job, time, array_parallelism, sbatch_args (a mapping)",
    )
    c.add_argument("--jobs-dir", metavar="DIR", help="folder of the job logs (default runs/<profile>/jobs/)")


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
