"""``reproduce --all`` beyond one machine: one submitit job per config, on this machine or on a Slurm cluster.

``python -m snnlib reproduce --all --executor local|slurm`` runs the same :func:`snnlib.reproduce.reproduce`
for each config of the profile as a job, in two waves as the process pool does (``--executor pool``, the
default): first ``train`` and ``publish`` for every config, then ``evaluate``, ``probes`` and ``audit``
(an audit attacks with transfers from other configs' models). On Slurm each wave is one job array; the
second is submitted at once with an ``afterok`` dependency on the first, and cancelled if the first fails.

- ``local``: submitit's LocalExecutor, at most ``parallel`` jobs at a time on this machine;
- ``slurm``: submitit's SlurmExecutor (``sbatch``/``srun`` must be on PATH), options from :class:`Cluster`;
- ``debug``: submitit's DebugExecutor, every job in this process, one after another (for tests).

Results land in the same content-keyed cache (``results/<profile>/<run_id>/``), so finished configs are
skipped. A preempted or timed-out Slurm job is requeued (:meth:`ConfigJob.checkpoint`), and its training
resumes from ``runs/<profile>/<run>/latest`` (:func:`snnlib.train.ensure_trained` resumes by itself).
Each job runs ``threads`` CPU threads (default one, like the pool's workers). Logs: one folder per job,
``runs/<profile>/jobs/<job id>/`` (``<job id>_0_log.out`` / ``.err``), unless ``folder`` says otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from . import config, places
from .errors import SnnlibError
from .reproduce import STAGES, _cost, reproduce

EXECUTORS = ("pool", "local", "slurm", "debug")
#: the default Slurm time limit per job, in minutes (a requeued job restarts from its latest epoch)
DEFAULT_TIME_MIN = 24 * 60
TIME_FORMAT = "minutes (90), HH:MM:SS (01:30:00) or D-HH:MM:SS (1-12:00:00)"


@dataclasses.dataclass
class Cluster:
    """Slurm options of every job (``--partition`` ... flags, or a ``--cluster-config`` YAML file)."""

    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    time: str | int | None = None
    array_parallelism: int | None = None
    sbatch_args: dict = dataclasses.field(default_factory=dict)

    @property
    def time_min(self) -> int:
        return DEFAULT_TIME_MIN if self.time is None else parse_time(self.time)


def parse_time(text) -> int:
    """A Slurm time limit in whole minutes (rounded up) from ``90``, ``01:30:00`` or ``1-12:00:00``."""
    s = str(text).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d\d):(\d\d)", s)
    if re.fullmatch(r"\d+", s) and int(s) > 0:
        return int(s)
    if m and int(m[3]) < 60 and int(m[4]) < 60 and (m[1] is None or int(m[2]) < 24):
        minutes = int(m[1] or 0) * 1440 + int(m[2]) * 60 + int(m[3]) + (int(m[4]) > 0)
        if minutes > 0:
            return minutes
    raise SnnlibError(f"--time takes {TIME_FORMAT}, got {s!r}")


def parse_pairs(pairs) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--sbatch-arg``) as a dict."""
    out = {}
    for p in pairs or ():
        key, sep, value = str(p).partition("=")
        if not sep or not key.strip():
            raise SnnlibError(f"--sbatch-arg takes KEY=VALUE (e.g. mem=16G or qos=high), got {p!r}")
        out[key.strip().lstrip("-")] = value.strip()
    return out


def options(cluster_config=None, sbatch_args=(), **flags) -> Cluster:
    """:class:`Cluster` from a YAML file (keys as the flags: ``partition``, ``gpus_per_job``, ``cpus_per_job``,
    ``time``, ``array_parallelism``, ``sbatch_args``) overridden by the flags that are not None."""
    import yaml

    fields = {f.name for f in dataclasses.fields(Cluster)}
    raw = {}
    if cluster_config:
        try:
            text = Path(cluster_config).read_text()
            raw = yaml.safe_load(text) or {}
        except (OSError, yaml.YAMLError) as e:
            raise SnnlibError(f"cannot read --cluster-config {cluster_config}: {e}".replace("\n", " ")) from None
        colon = re.search(r"^time\s*:\s*(\d[\d:-]*:[\d:-]*)\s*(#.*)?$", text, re.MULTILINE)
        if colon and isinstance(raw, dict):  # YAML reads an unquoted 8:00:00 as 28800 (base 60): keep the text
            raw["time"] = colon[1]
        if not isinstance(raw, dict) or set(raw) - fields:
            bad = sorted(set(raw) - fields) if isinstance(raw, dict) else raw
            raise SnnlibError(
                f"--cluster-config {cluster_config}: unknown key(s) {bad}; expected some of: "
                f"{', '.join(sorted(fields))}"
            )
    raw.update({k: v for k, v in flags.items() if v is not None})
    raw["sbatch_args"] = {
        **{str(k): str(v) for k, v in (raw.get("sbatch_args") or {}).items()},
        **parse_pairs(sbatch_args),
    }
    opts = Cluster(**raw)
    for key in ("gpus_per_job", "cpus_per_job", "array_parallelism"):
        v = getattr(opts, key)
        if v is not None and (not isinstance(v, int) or v < (0 if key == "gpus_per_job" else 1)):
            raise SnnlibError(
                f"{key.replace('_', '-')} must be a whole number of at least "
                f"{0 if key == 'gpus_per_job' else 1}, got {v!r}"
            )
    opts.time_min  # noqa: B018 (checks the format now, not at submission)
    return opts


def check_slurm() -> None:
    """Raise unless Slurm's ``sbatch`` and ``srun`` are on PATH."""
    missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
    if missing:
        raise SnnlibError(
            f"--executor slurm needs Slurm's {' and '.join(missing)} on PATH (not found); run on a "
            "cluster's login node, or try scripts/slurm-local.sh, or use --executor local"
        )


class ConfigJob:
    """One job: :func:`reproduce` of one config file for the wave's stages, in the submitter's places.
    Checkpointable: a preempted or timed-out job is requeued as is, and its training resumes from
    the run's ``latest`` checkpoint."""

    def __init__(self, name: str, path: str, stages, out_root: str, env: dict, threads: int = 1):
        self.name, self.path, self.stages = name, path, tuple(stages)
        self.out_root, self.env, self.threads = out_root, dict(env), threads

    def __call__(self) -> dict[str, list[str]]:
        import torch

        os.environ.update(self.env)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        places.set_output_root(self.out_root)
        try:
            cfg = config.load_config(self.path)
            return reproduce(cfg, self.stages, log=lambda m: print(m, flush=True))
        finally:
            torch.set_num_threads(before)  # matters only for the debug executor (this process)

    def checkpoint(self):
        """What submitit requeues after a preemption or a time-out: this same job (nothing to save here:
        every finished epoch is already in the run's ``latest`` checkpoint)."""
        from submitit.core.utils import DelayedSubmission

        return DelayedSubmission(self)

    def __repr__(self) -> str:
        return f"ConfigJob({self.name!r}, {','.join(self.stages)})"


def waves(stages) -> list[tuple[str, ...]]:
    """``train``/``publish`` first, then the other stages (each in :data:`STAGES` order); empty waves dropped."""
    first = tuple(s for s in STAGES if s in stages and s in ("train", "publish"))
    return [w for w in (first, tuple(s for s in STAGES if s in stages and s not in first)) if w]


def job_env(opts: Cluster) -> dict[str, str]:
    """What every job's environment needs: this process's places (absolute), threads, no progress bars."""
    env = {k: v for k, v in os.environ.items() if k.startswith("SNNLIB_")}
    threads = str(opts.cpus_per_job)
    env.update(
        SNNLIB_HOME=str(places.project_root()),
        SNNLIB_DATA=str(places.data_root()),
        SNNLIB_PROFILE=places.profile(),
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        TQDM_DISABLE="1",
    )
    if opts.gpus_per_job and "SNNLIB_DEVICE" not in env:
        env["SNNLIB_DEVICE"] = "cuda"
    return env


@contextlib.contextmanager
def _environ(env: dict):
    """``env`` in os.environ while jobs are submitted (local jobs and sbatch inherit it), then as before; and
    submitit's log lines kept off stdout, where the command's one line of JSON goes (warnings still on stderr)."""
    import logging

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    logger = logging.getLogger("submitit")
    handlers, propagate = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [h for h in handlers if h.name != "submitit_out"], False
    try:
        yield
    finally:
        logger.handlers, logger.propagate = handlers, propagate
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def jobs_folder(folder=None) -> Path:
    """Where the job logs go: ``folder``, else ``runs/<profile>/jobs/``."""
    return Path(folder).expanduser().resolve() if folder else places.runs_dir() / places.profile() / "jobs"


def _submitit():
    try:
        import submitit
    except ImportError:
        raise SnnlibError("--executor local|slurm needs submitit: pip install 'snnlib[cluster]'") from None
    return submitit


def executor(kind: str, folder: Path, opts: Cluster, wave_name: str = "reproduce"):
    """A submitit executor of ``kind`` (``local``, ``slurm`` or ``debug``) writing under ``folder/%j``."""
    if kind not in EXECUTORS[1:]:
        raise SnnlibError(f"unknown executor {kind!r}; expected one of: {', '.join(EXECUTORS)}")
    if kind == "slurm":
        check_slurm()
    submitit = _submitit()
    folder = Path(folder) / "%j"
    if kind == "debug":
        return submitit.DebugExecutor(folder)
    if kind == "local":
        ex = submitit.LocalExecutor(folder, max_num_timeout=10)
        ex.update_parameters(timeout_min=opts.time_min)
        return ex
    ex = submitit.SlurmExecutor(folder, max_num_timeout=10)
    params = {
        "job_name": f"snnlib-{wave_name}",
        "time": opts.time_min,
        "cpus_per_task": opts.cpus_per_job,
        "partition": opts.partition,
        "gpus_per_node": opts.gpus_per_job or None,
        "array_parallelism": opts.array_parallelism or 256,
        "additional_parameters": opts.sbatch_args or None,
    }
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _submit(ex, calls: list[ConfigJob], dependency: str | None = None):
    """Submit ``calls`` (one job array on Slurm); Slurm's own refusal becomes a one-line SnnlibError."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    try:
        if dependency:
            ex.update_parameters(dependency=dependency)
        with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's complaint: it goes in the error
            return ex.submit_array(calls) if len(calls) > 1 else [ex.submit(calls[0])]
    except (FailedJobError, FailedSubmissionError, subprocess.CalledProcessError, OSError, ValueError) as e:
        raise SnnlibError(f"the cluster refused the jobs: {_one_line(e) or type(e).__name__}") from None


def _reason(err) -> str:
    """One line on why a job failed: the last line of its traceback where submitit kept it."""
    text, kind = str(err), type(err).__name__
    parts = text.split("-" * 22)
    if kind == "FailedJobError" and len(parts) >= 3:
        lines = [ln.strip() for ln in parts[1].splitlines() if ln.strip()]
        return lines[-1] if lines else _one_line(text)
    if kind == "UncompletedJobError":
        return " ".join(text.splitlines()[:2])
    return f"{kind}: {_one_line(text)}"


def _queue(running: dict) -> set[str] | None:
    """The job ids Slurm still holds (one per array task), or None (not Slurm jobs, or squeue failed)."""
    if not any(type(j).__name__ == "SlurmJob" for _, j in running.values()):
        return None
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i"], check=False, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def _finished(job, queued: set[str] | None) -> bool:
    if type(job).__name__ == "DebugJob":
        return True  # it runs (here) when asked for its outcome
    return job.done() or (queued is not None and job.job_id not in queued)


def _outcome(name: str, job, grace_s: float = 30) -> tuple[dict | None, str | None]:
    """(files per stage, None) of a finished job, or (None, a one-line failure naming the config and its log)."""
    log_file = job.paths.stderr
    if type(job).__name__ != "DebugJob":
        t0 = time.time()  # a Slurm job that left the queue: its result may take a moment to appear
        while not job.paths.result_pickle.exists() and time.time() - t0 < grace_s:
            time.sleep(1)
        if not job.paths.result_pickle.exists():
            return None, (
                f"config {name!r} (job {job.job_id}) ended without a result (cancelled, killed, out of "
                f"memory or out of time?); log: {log_file}"
            )
    err = job.exception()
    if err is None:
        return job.result(), None
    if not log_file.exists():  # the debug executor writes no log of its own
        import traceback

        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text("".join(traceback.format_exception(err)))
    return None, f"config {name!r} (job {job.job_id}) failed: {_reason(err)}; log: {log_file}"


def _wave(ex, calls: list[ConfigJob], parallel: int, log, poll: float, running=None) -> dict:
    """Run one wave: submit ``calls`` keeping at most ``parallel`` jobs at a time (or wait for the jobs already
    ``running``, name -> (call, job)); every job is waited for, then any failures raise, one line each."""
    pending, running = list(calls), dict(running or {})
    out, failed = {}, []
    while pending or running:
        while pending and len(running) < max(1, parallel):
            c = pending.pop(0)
            running[c.name] = (c, _submit(ex, [c])[0])
        queued = _queue(running)
        finished = [n for n, (_, j) in running.items() if _finished(j, queued)]
        for n in finished:
            c, job = running.pop(n)
            files, err = _outcome(n, job)
            if err:
                failed.append(err)
                log(err)
            else:
                out[n] = files
                log(f"{n}: {','.join(c.stages)} done (job {job.job_id})")
        if running and not finished:
            time.sleep(poll)
    if failed:
        raise SnnlibError(f"{len(failed)} job(s) failed: " + "; ".join(failed))
    return out


def _slurm(folder: Path, opts: Cluster, calls: list[list[ConfigJob]], log, poll: float) -> list[dict]:
    """Submit every wave at once, each a job array that starts after the one before succeeded (``afterok``);
    wait for them in turn; if a wave fails, cancel the waves after it (they could never start)."""
    submitted, dep = [], None
    for wave in calls:
        name = f"{places.profile()}-{wave[0].stages[0]}"
        jobs = _submit(executor("slurm", folder, opts, name), wave, dep)
        array_id = jobs[0].job_id.split("_")[0]
        dep = f"afterok:{array_id}"
        log(f"submitted Slurm job {array_id} ({len(jobs)} task(s): {','.join(wave[0].stages)}); logs in {folder}")
        submitted.append({c.name: (c, j) for c, j in zip(wave, jobs)})
    out = []
    for i, running in enumerate(submitted):
        try:
            out.append(_wave(None, [], 0, log, poll, running=running))
        except SnnlibError:
            for _, j in (p for later in submitted[i + 1 :] for p in later.values()):
                j.cancel(check=False)
            raise
    return out


def run(
    names,
    stages=STAGES,
    kind: str = "local",
    opts: Cluster | None = None,
    parallel: int = 1,
    log=print,
    folder=None,
    poll: float | None = None,
) -> dict[str, dict[str, list[str]]]:
    """:func:`reproduce` of every config in ``names`` as submitit jobs of ``kind`` (``local``, ``slurm``,
    ``debug``), in two waves (:func:`waves`); ``parallel`` jobs at a time on this machine (``local``).
    Returns the files per stage of each config, as :func:`snnlib.reproduce.reproduce_parallel` does."""
    opts = opts or Cluster()
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SnnlibError(f"unknown stage(s) {sorted(unknown)}; expected some of: {', '.join(STAGES)}")
    if kind == "slurm":
        check_slurm()
    _submitit()  # its loggers set up before :func:`_environ` keeps them off stdout
    paths = {n: config.resolve(n).resolve() for n in names}
    cfgs = {n: config.load_config(p) for n, p in paths.items()}  # every name checked before anything is submitted
    folder = jobs_folder(folder)
    env, out_root = job_env(opts), str(places.output_root())
    calls = [
        [
            ConfigJob(n, str(paths[n]), w, out_root, env, opts.cpus_per_job)
            for n in sorted(names, key=lambda n: -_cost(cfgs[n], w))
        ]
        for w in waves(stages)
    ]
    log(f"{kind} executor: {len(names)} config(s), {len(calls)} wave(s); job logs in {folder}/<job id>/")
    poll = poll if poll is not None else (5.0 if kind == "slurm" else 1.0)
    with _environ(env):
        if kind == "slurm":
            outs = _slurm(folder, opts, calls, log, poll)
        else:
            parallel = opts.array_parallelism or parallel
            outs = [_wave(executor(kind, folder, opts), wave, parallel, log, poll) for wave in calls]
    done: dict[str, dict[str, list[str]]] = {n: {} for n in names}
    for o in outs:
        for n, files in o.items():
            done[n].update(files)
    return done
