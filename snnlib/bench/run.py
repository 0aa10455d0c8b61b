"""``python -m snnlib bench``: the run, from arguments to the result file.

Timings are per image: minimum, median and maximum of ``repeats`` interleaved repetitions after a
warm-up (the variants run in a rotating order in every repetition; training steps, being cheap,
``train_mult`` times per repetition); a speed-up is the ratio of the medians, its spread the minimum and
maximum of the per-repetition ratios (each repetition's variants ran side by side). The warm-up run also
gives the peak memory and the outputs for the equality checks. Both wall-clock and process CPU time are
recorded; the headline uses CPU time when the run is single-threaded on CPU (other jobs on a shared
machine then steal wall time but not CPU time), wall-clock time otherwise. The load average before and
after, and the CPU time over the wall time of the timed runs, say whether the machine was quiet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .. import places, results
from ..errors import SnnlibError
from . import checks, profile, roofline, summary
from .measure import IMAGE, NUM_CLASSES, input_batch, load_average, peak_memory, quiet_check, sync
from .variants import EXTRAS, LEVERS, PGD_ALPHA, SEED, VARIANTS, Bench, snnlib_variant

log = logging.getLogger("snnlib")
#: train_mult: training steps are cheap next to evaluations, so each repetition times them this many times.
FULL = {
    "width": 64,
    "batches": (16, 32),
    "repeats": 5,
    "T": 10,
    "pgd_steps": 7,
    "threads": None,
    "memory": True,
    "train_mult": 3,
}
#: CI form: tiny sizes, single-threaded (thread hand-offs dominate ops this small), equality checked all the same.
QUICK = {
    "width": 4,
    "batches": (2, 4),
    "repeats": 1,
    "T": 4,
    "pgd_steps": 2,
    "threads": 1,
    "memory": True,
    "train_mult": 1,
}
#: the book's build form: the paper's setting (full width, batch 16, T=10, PGD-7), one repetition, one thread (CPU time)
BUILD = {
    "width": 64,
    "batches": (16,),
    "repeats": 1,
    "T": 10,
    "pgd_steps": 7,
    "threads": 1,
    "memory": False,
    "train_mult": 2,
}
FORMS = {"full": FULL, "quick": QUICK, "build": BUILD}
TARGET_SPEEDUP = 2.0  # snnlib >= 2x the authors' throughput, training step and PGD evaluation


def _positive(name, v):
    if v is not None and int(v) < 1:
        raise SnnlibError(f"{name} must be >= 1, got {v}")
    return v


def _sizes(form, batches, width, threads, repeats):
    if form not in FORMS:
        raise SnnlibError(f"unknown bench form {form!r}; expected one of: {', '.join(FORMS)}")
    sizes = dict(FORMS[form])
    if batches:
        sizes["batches"] = tuple(int(b) for b in batches)
        if not 1 <= len(sizes["batches"]) <= 3 or min(sizes["batches"]) < 1:
            raise SnnlibError(f"batches must be 1 to 3 positive integers, got {list(batches)}")
    for key, name, v in (
        ("width", "width", width),
        ("threads", "--threads", threads),
        ("repeats", "--repeats", repeats),
    ):
        if _positive(name, v) is not None:
            sizes[key] = int(v)
    return sizes


def _device(device):
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SnnlibError(f"device must be cpu or cuda[:N], got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SnnlibError(f"device {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise SnnlibError(f"device must be cpu or cuda[:N], got {device!r}")
    return dev


def run(
    device: str = "cpu",
    repeats: int | None = None,
    out: str | None = None,
    batches=None,
    width: int | None = None,
    ablation: bool = True,
    extras=(),
    threads: int | None = None,
    form: str | None = None,
    breakdown: bool | None = None,
) -> dict:
    """Time snnlib's training step and evaluation against the authors' pipeline; check equal results.

    Args:
        device: ``cpu`` or ``cuda[:N]``.
        repeats: timed repetitions per measurement (after one warm-up); default 5 (quick, build: 1).
        out: result JSON path (default ``results/bench/<device>[-quick].json``).
        batches: (paper batch, larger batch); default (16, 32).
        width: base width; default 64 (the paper's), quick 4.
        ablation: also time snnlib's intermediate variants and the levers (:mod:`.levers`) at the first batch size.
        extras: extra variants on top of snnlib's path at the first batch size, reported with their
            deviations: ``"bf16"`` (autocast) and/or ``"compile"`` (torch.compile). An extra that raises
            is left out and recorded.
        threads: CPU threads for the run (default: torch's; quick: 1), restored afterwards.
        form: ``full`` (default); ``quick``: reduced form for CI (width 4, batches 2 and 4, T=4, PGD-2, one
            repetition, one thread), checks equality in seconds, its timings mean little; ``build``: the paper's
            setting (full width, batch 16, T=10, PGD-7) once, single-threaded with CPU time: the form the book
            runs when it is built.
        breakdown: profile snnlib's path (``torch.profiler``), time the attack loop's own overhead and the
            medium profile's training epoch; default: on for the full form.

    Returns a dict with ``final`` (speed-up and memory ratios, the clock, and ``equal``), the
    equality checks, the machine and ``result_file``. A human table goes to stderr.
    """
    form = form or "full"
    quick = form == "quick"
    sizes = _sizes(form, batches, width, threads, repeats)
    sizes["breakdown"] = form == "full" if breakdown is None else bool(breakdown)
    sizes["form"] = form
    dev = _device(device)
    for e in extras or ():
        if e not in EXTRAS:
            raise SnnlibError(f"unknown extra variant {e!r} (choose {', '.join(EXTRAS)})")
    extra_names = [EXTRAS[e] for e in extras or ()]
    before = torch.get_num_threads()
    if sizes["threads"]:
        torch.set_num_threads(sizes["threads"])
    try:
        return _run(sizes, dev, quick, out, ablation and form != "build", extra_names)
    finally:
        torch.set_num_threads(before)


def _plan(sizes, dev, ablation, extra_names):
    """(workload, batch, variant) triples: every variant and lever at the paper's batch, the two ends at the others."""
    plan = []
    for kind in ("train", "eval"):
        names = list(VARIANTS[dev.type][kind])
        lever_rows = list(LEVERS[kind]) if ablation and dev.type == "cpu" else []
        for b in sizes["batches"]:
            first = b == sizes["batches"][0]
            vs = names + lever_rows if (ablation and first) else ["authors", names[-1]]
            plan += [(kind, b, v) for v in vs + (extra_names if first else [])]
    return plan


def _reference(kind, v, dev):
    """The row a variant's results are checked against: the authors', or a lever's own (None: not checked)."""
    return LEVERS[kind][v] if v in LEVERS.get(kind, {}) and v not in VARIANTS[dev.type][kind] else "authors"


def _check(kind, v, r, res, y, dev, base):
    c = checks.check_train(r, res) if kind == "train" else checks.check_eval(r, res, y)
    c["reference"], c["in_path"] = base, v in VARIANTS[dev.type][kind]
    c["passed"] = checks.passed(kind, c, dev) if c["in_path"] or v in LEVERS.get(kind, {}) else None
    return c


def _warmup_one(bench, kind, b, v, px, y, sizes, dev, ref, checks_, memory):
    mem = {"peak_mb": None}
    with peak_memory(dev, mem) if sizes["memory"] else contextlib.nullcontext():
        res = bench.run(kind, v, px, y)
    memory[(kind, b, v)] = mem["peak_mb"]
    if kind == "train":
        res["grads"], res["params"] = bench.grads(), bench.params()
    else:
        res = {k: t.detach() for k, t in res.items()}
        if v == "authors":
            res["drift_changed"] = bench.undrift(res)
    if v == "authors" or v in LEVERS[kind].values():  # a reference of other rows
        ref[(kind, b, v)] = res
    base = _reference(kind, v, dev)
    if v != "authors" and base is not None:
        checks_[(kind, b, v)] = _check(kind, v, ref[(kind, b, base)], res, y, dev, base)


def _warmup(bench, plan, data, sizes, dev, extra_names, bar):
    """One untimed run of every variant: peak memory, and the outputs for the equality checks."""
    ref, checks_, memory, failed = {}, {}, {}, {}
    for kind, b, v in list(plan):
        try:
            _warmup_one(bench, kind, b, v, data[0][:b], data[1][:b], sizes, dev, ref, checks_, memory)
        except Exception as e:  # an optional extra (bf16, torch.compile) must not sink the benchmark
            if v not in extra_names:
                raise
            log.warning("bench: %s %s failed (%s: %s); left out", kind, v, type(e).__name__, e)
            failed[f"{kind}|{b}|{v}"] = f"{type(e).__name__}: {e}"
            plan.remove((kind, b, v))
            bar.update(sizes["repeats"] * (sizes["train_mult"] if kind == "train" else 1))
        bar.update()
    return ref, checks_, memory, failed


def _timed(bench, plan, data, sizes, dev, bar):
    """Interleaved timed repetitions in a rotating order; wall and CPU seconds per (workload, batch, variant)."""
    times = {p: {"wall": [], "cpu": []} for p in plan}
    for rep in range(sizes["repeats"]):
        order = plan[rep % len(plan) :] + plan[: rep % len(plan)]
        order = [p for p in order if p[0] == "train"] * (sizes["train_mult"] - 1) + order
        for kind, b, v in order:
            sync(dev)
            t, c = time.perf_counter(), time.process_time()
            bench.run(kind, v, data[0][:b], data[1][:b])
            sync(dev)
            times[(kind, b, v)]["wall"].append(time.perf_counter() - t)
            times[(kind, b, v)]["cpu"].append(time.process_time() - c)
            bar.update()
    return times


def _machine(dev):
    env = results.environment(str(dev), SEED)
    m = {
        "cpu_model": env["cpu"],
        "cpu_cores": env["cpu_cores"],
        "torch_threads": env["threads"],
        "load_average_at_start": env.get("load_average"),
    }
    if dev.type == "cuda":
        m["gpu"] = torch.cuda.get_device_name(dev)
    return m


def _prepare(sizes, dev, quick, extra_names):
    """The shared model on the input batch, BN calibrated, and whether both encoders give the same spikes."""
    pixels, y, source = input_batch(max(sizes["batches"]), quick, SEED)
    bench = Bench(sizes["width"], sizes["T"], dev, extras=extra_names, steps=sizes["pgd_steps"])
    data = (pixels.to(dev), y.to(dev))
    bench.calibrate_bn(data[0])
    spikes_a = bench.authors_encoder(data[0].float())
    bench.authors_encoder.reset()
    spikes_equal = bool(torch.equal(spikes_a, bench.clf.encode(data[0].float() / 255)))
    # one untimed training step first: one-time costs (oneDNN kernel generation, allocator arenas)
    # would otherwise land on whichever variant happens to run first
    b0 = sizes["batches"][0]
    bench.run("train", snnlib_variant(dev.type, "train"), data[0][:b0], data[1][:b0])
    bench.optimizers.clear()  # every variant's warm-up is then its optimiser's first step
    return bench, data, spikes_a, spikes_equal, source


def _measure(bench, plan, data, sizes, dev, extra_names):
    """Warm-up (memory, equality) and the timed repetitions, with the load average on either side."""
    n_train = sum(p[0] == "train" for p in plan)
    bar = tqdm(
        total=len(plan) * (1 + sizes["repeats"]) + n_train * (sizes["train_mult"] - 1) * sizes["repeats"],
        desc="bench",
        disable=None,
        leave=False,
    )
    load_start = load_average()
    ref, checks_, memory, failed = _warmup(bench, plan, data, sizes, dev, extra_names, bar)
    times = _timed(bench, plan, data, sizes, dev, bar)
    bar.close()
    bench.restore()
    return ref, checks_, memory, failed, times, quiet_check(load_start, load_average(), torch.get_num_threads(), times)


def _run(sizes, dev, quick, out, ablation, extra_names):
    t_start = time.time()
    machine = _machine(dev)
    bench, data, spikes_a, spikes_equal, source = _prepare(sizes, dev, quick, extra_names)
    plan = _plan(sizes, dev, ablation, extra_names)
    ref, checks_, memory, failed, times, quiet = _measure(bench, plan, data, sizes, dev, extra_names)
    machine.update(
        {"load_average_at_start": quiet["load_average_at_start"], "load_average_at_end": quiet["load_average_at_end"]}
    )
    pk, wk = roofline.peaks(dev, small=quick), roofline.work(bench.net, spikes_a[:, : sizes["batches"][0]])
    clock = "cpu" if dev.type == "cpu" and torch.get_num_threads() == 1 else "wall"
    rows = summary.rows(plan, times, memory, checks_, wk, pk, sizes, clock, dev)
    final = summary.final(rows, dev, clock, spikes_equal, checks_, quiet)
    summary.show(rows, machine, sizes, source, clock, final, quiet)
    result = {
        "command": "bench",
        "quick": quick,
        "device": str(dev),
        "machine": machine,
        "environment": results.environment(str(dev), SEED),
        "sizes": {
            **sizes,
            "batches": list(sizes["batches"]),
            "image": IMAGE,
            "arch": "sew_resnet18",
            "num_classes": NUM_CLASSES,
            "eps": bench.eps,
            "pgd_alpha": PGD_ALPHA,
        },
        "input": source,
        "clock": clock,
        "quiet": quiet["quiet"],
        "quiet_check": quiet,
        "final": final,
        "table": rows,
        "checks": {"|".join(str(x) for x in k): v for k, v in checks_.items()},
        "failed_extras": failed,
        "authors_bn_drift_changed_predictions": {
            f"{k[0]}|{k[1]}": r.get("drift_changed") for k, r in ref.items() if k[0] == "eval" and k[2] == "authors"
        },
        "roofline": {"peaks": pk, "conv_flops_forward": wk[0], "neuron_elements": wk[2], "batch": sizes["batches"][0]},
        "wall_time_s": time.time() - t_start,
    }
    if sizes["breakdown"]:
        _breakdown(result, bench, data, sizes)
    return _write(result, sizes, dev, out)


def _write(result: dict, sizes, dev, out) -> dict:
    """Write the result file (default ``results/bench/<device>[-<form>].json``); the command's final dict."""
    final, machine, quiet = result["final"], result["machine"], result["quiet_check"]
    suffix = "" if sizes["form"] == "full" else f"-{sizes['form']}"
    path = Path(out) if out else places.output_root() / "results" / "bench" / f"{dev.type}{suffix}.json"
    results.write_json(path, result)
    return {
        "command": "bench",
        "final": final,
        "result_file": str(path),
        "checks": result["checks"],
        "machine": machine,
        "quiet_check": quiet,
        "wall_time_s": result["wall_time_s"],
    }


def _breakdown(result, bench, data, sizes):
    """Where snnlib's time goes, the attack loop's own overhead, and the medium profile's epoch."""
    b0 = sizes["batches"][0]
    x, y = data[0][:b0], data[1][:b0]
    result["profile"] = {k: profile.breakdown(bench, k, x, y) for k in ("train", "eval")}
    result["attack_loop"] = profile.attack_loop_overhead(bench, x, y)
    result["medium_throughput"] = profile.medium_throughput(steps=sizes.get("medium_steps", 200), threads=1)
    result["final"]["medium_train_images_per_s"] = result["medium_throughput"]["images_per_s"]
    result["final"]["medium_epoch_s"] = result["medium_throughput"]["epoch_s"]


def _source_key() -> str:
    """Commit, machine and a hash of snnlib's sources: what decides whether a build measurement is still current."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        h.update(p.read_bytes())
    return f"{results.git_commit()}|{results.cpu_model()}|{os.cpu_count()}|{h.hexdigest()[:16]}"


def for_build() -> dict:
    """The build form (:func:`run` with ``form="build"``) as the book shows it, measured once per commit, machine
    and source tree: the notebook tests and the book build of one CI run share the measurement
    (``results/bench/cpu-build.json``, not committed)."""
    path = places.output_root() / "results" / "bench" / "cpu-build.json"
    key = _source_key()
    if path.exists():
        prev = results.read_json(path)
        if prev.get("source_key") == key:
            return {**prev, "result_file": str(path)}
    run(form="build", out=str(path))
    full = {**results.read_json(path), "source_key": key}
    results.write_json(path, full)
    return {**full, "result_file": str(path)}
