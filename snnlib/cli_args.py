"""The command line's arguments: :func:`parser`, one builder per command (:mod:`snnlib.cli` runs them)."""

from __future__ import annotations

import argparse

DESCRIPTION = "Command line: python -m snnlib train | evaluate | audit | publish | park | reproduce | figures | bench | gpu-check | seed-variance."

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
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"snnlib {_version()}")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_evaluate, _add_bench, _add_audit, _add_small, _add_reproduce):
        add(sub)
    return ap


def _subcommand(sub, name: str, help: str, epilog: str = EPILOG):
    return sub.add_parser(name, help=help, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def _with_config(sub, name: str, help: str):
    """A subcommand that takes a CONFIG (and the common options)."""
    p = _subcommand(sub, name, help)
    _common(p)
    return p


def _add_train(sub):
    t = _with_config(sub, "train", "train a config (skipped if its finished result exists)")
    t.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")


def _add_evaluate(sub):
    from .attacks import THREATS

    e = _with_config(sub, "evaluate", "clean, FGSM and PGD accuracy of a trained config")
    e.add_argument("--checkpoint", metavar="PATH", help="evaluate this checkpoint instead of the run's best")
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


def _add_bench(sub):
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


def _add_audit(sub):
    a = _subcommand(sub, "audit", "audit any PyTorch model for gradient obfuscation: a report card", AUDIT_EPILOG)
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
    _add_audit_wrapping(a)


def _add_audit_wrapping(a):
    """How the audit wraps a user's model (normalisation, time-major models), its exit rules and its output."""
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


def _add_small(sub):
    """publish, gpu-check, figures and seed-variance."""
    _with_config(sub, "publish", "copy a trained config's best weights into models/<profile>/ (with SHA-256)")
    _with_config(
        sub, "park", "an unfinished run's checkpoints and audits into parked/<profile>/ (commit them; resumable)"
    )
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


def _add_reproduce(sub):
    from .executors import EXECUTORS, TIME_FORMAT
    from .reproduce import STAGES

    r = _subcommand(sub, "reproduce", "every result the book reads for the named configs (cached; resumable)")
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
