"""Reusing a finished audit when only its transfer sources changed.

An audit's key covers its transfer sources (the ANN twin, another SNN of the profile), so retraining a source
changes the key of every audit that transfers from it. Only the ``transfer`` check reads the sources; every other
check starts from its own seed and attacks the same clean-correct images (:func:`.run.run_suite`), so it finds
the same thing whatever the sources are. :func:`state_of` turns a finished audit of the same model, images and
settings into the partial state of a run that has done every check but those (:data:`SOURCE_CHECKS`); the run then
resumes from it, as an interrupted audit does, and the result records which audit it reused and where that ran
(``reused``). Re-run on another CPU, a check can move an image that sits at a spiking threshold (other SIMD kernels
round differently), as any recomputation there can; the donor's machine is recorded for that reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import results
from . import records as R
from .checks import CHECKS
from .legacy import legacy_id, upgrade

#: the checks whose outcome depends on the transfer sources, and the records they write
SOURCE_CHECKS = ("transfer",)
SOURCE_IDS = frozenset(R.TRANSFER.values())
#: what a finished audit adds around the suite's own state (:meth:`.suite.Suite.result`)
_NOT_EXTRA = {
    "kind", "run_id", "name", "eval_key", "audit_key", "config", "settings", "env", "sources", "source_acc",
    "data", "n_eval", "n_attacked", "attacks", "per_sample", "timings", "attack_time_s", "final",
    "attribution", "estimator_tests", "flags", "verdict", "wall_time_s", "reused", "result_file",
}  # fmt: skip


def state_of(result: dict) -> dict:
    """The partial state (:meth:`.suite.Suite.state`) of a finished audit, less the checks that read the sources."""
    r = upgrade(dict(result, attacks=[dict(a) for a in result["attacks"]], per_sample=dict(result["per_sample"])))
    clean = r["per_sample"][R.CLEAN]
    extra = {k: v for k, v in r.items() if k not in _NOT_EXTRA}
    if "skipped" in extra:
        extra["skipped"] = [s for s in extra["skipped"] if _id(s) not in SOURCE_IDS]
    return {
        "at": {k: _first_source(r.get(k, [])) for k in ("attacks", "skipped")},
        "done": [name for name, _ in CHECKS if name not in SOURCE_CHECKS],
        "att": [i for i, c in enumerate(clean) if c],
        "deterministic": r["randomness"]["deterministic"],
        "attacks": [a for a in r["attacks"] if a["id"] not in SOURCE_IDS],
        "extra": extra,
        "timings": {k: v for k, v in r["timings"].items() if k not in SOURCE_CHECKS},
        "robust": {k: v for k, v in r["per_sample"].items() if k not in SOURCE_IDS and k != R.WORST},
    }


def _id(row: dict) -> str:
    """A row's id (a skipped row written before ids is named by its label)."""
    return row["id"] if "id" in row else legacy_id(row["attack"])[0]


def _first_source(rows: list) -> int | None:
    return next((i for i, a in enumerate(rows) if _id(a) in SOURCE_IDS), None)


def place(result: dict, reused: dict | None) -> dict:
    """Put the re-run checks' rows (attacks, skipped) where the donor had them: a resumed run appends them last,
    a fresh run writes them in the suite's order (:data:`.checks.CHECKS`)."""
    for k, at in (reused or {}).get("at", {}).items():
        rows = result.get(k, [])
        if at is not None and rows:
            mine = [a for a in rows if _id(a) in SOURCE_IDS]
            rest = [a for a in rows if _id(a) not in SOURCE_IDS]
            result[k] = rest[:at] + mine + rest[at:]
    return result


def find_donor(run_dir: Path, eval_key: str, settings: dict, key: str) -> Path | None:
    """A finished audit in ``run_dir`` of the same model and evaluation (``eval_key``) and the same suite
    ``settings`` under another key (other transfer sources); the newest if several, None if none."""
    settings, hits = json.loads(json.dumps(settings)), []  # as written: tuples become lists
    for f in Path(run_dir).glob("audit-*.json"):
        if f.name.endswith(".partial.json") or f.name.startswith(f"audit-{key[:10]}"):
            continue
        r = results.read_json(f)
        if r.get("eval_key") == eval_key and r.get("settings") == settings and r.get("audit_key") != key:
            hits.append((r.get("env", {}).get("time", ""), f))
    return max(hits)[1] if hits else None


def _note_path(partial: Path) -> Path:
    """Where a seeded partial run keeps what it reused, so that a run interrupted after seeding still records it."""
    return Path(partial).with_name(Path(partial).name.replace(".partial.json", ".reused.partial.json"))


def seed_partial(partial: Path, run_dir: Path, eval_key: str, settings: dict, key: str) -> dict | None:
    """Start ``partial`` from a donor audit (:func:`find_donor`) unless it exists already; return what was
    reused (the donor's file, key and sources, and the checks taken from it), or None. A partial seeded earlier
    returns its note (:func:`_note_path`)."""
    note = _note_path(partial)
    if Path(partial).exists():
        return results.read_json(note) if note.exists() else None
    donor = find_donor(run_dir, eval_key, settings, key)
    if donor is None:
        return None
    r = results.read_json(donor)
    st = state_of(r)
    at = st.pop("at")
    used = {
        "file": donor.name,
        "audit_key": r["audit_key"],
        "sources": r.get("sources"),
        "env": {k: r.get("env", {}).get(k) for k in ("cpu", "device", "threads", "time")},  # where they ran
        "checks": st["done"],
        "at": at,
    }
    results.write_json(note, used)
    results.write_json(partial, st)
    return used


def finish(partial: Path) -> None:
    """Remove a finished run's partial file and its reuse note."""
    Path(partial).unlink(missing_ok=True)
    _note_path(partial).unlink(missing_ok=True)
