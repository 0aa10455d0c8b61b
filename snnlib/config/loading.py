"""Reading, validating and changing settings: a YAML file or a dict to a :class:`~.schema.Config` (every field
type-checked, one-line errors), ``--set`` overrides (the CLI's), the typed :func:`replace` (the library's), seed
replicates, and a profile's configs."""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from fractions import Fraction
from pathlib import Path

import yaml

from ..data import dataset_kind
from ..errors import SnnlibError, check_choice
from ..places import PROFILES, profile, project_root
from .schema import AdversarialConfig, AttackConfig, Config, DataConfig, TrainConfig


def _number(value, path):
    if isinstance(value, str):
        try:
            return float(Fraction(value.replace(" ", "")))
        except (ValueError, ZeroDivisionError):
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SnnlibError(f"{path} must be a number (or a fraction such as '8/255'), got {value!r}")
    return float(value)


def _coerce(value, tp, path, meta):
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(value, inner, path, meta)
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise SnnlibError(f"{path} must be a list, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_coerce(v, inner, f"{path}[{i}]", {}) for i, v in enumerate(value)]
    if tp is float:
        return _number(value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise SnnlibError(f"{path} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SnnlibError(f"{path} must be an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise SnnlibError(f"{path} must be a string, got {value!r}")
        if "choices" in meta:
            check_choice(path, value, meta["choices"])
        return value
    raise TypeError(tp)  # pragma: no cover


def _build(cls, raw, path):
    if not isinstance(raw, dict):
        raise SnnlibError(f"{path or 'config'} must be a mapping of settings, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        k = unknown[0]
        where = f"{path}.{k}" if path else k
        close = difflib.get_close_matches(str(k), list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SnnlibError(f"unknown config key {where!r}{hint}; valid keys here: {', '.join(fields)}")
    kwargs = {}
    for k, v in raw.items():
        sub = f"{path}.{k}" if path else k
        tp = hints[k]
        if dataclasses.is_dataclass(tp):
            kwargs[k] = _build(tp, v, sub)
        else:
            kwargs[k] = _coerce(v, tp, sub, fields[k].metadata)
    cfg = cls(**kwargs)
    _check_values(cfg, path)
    return cfg


def _check_values(cfg, path):
    positive = {
        "width",
        "T",
        "K",
        "epochs",
        "batch_size",
        "eval_batch_size",
        "n_per_class",
        "test_per_class",
        "eval_per_class",
        "pgd_steps",
        "steps",
        "threads",
    }
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if f.name in positive and v is not None and not isinstance(v, dict) and v < 1:
            raise SnnlibError(f"{path}.{f.name} must be >= 1, got {v}")
    if isinstance(cfg, AttackConfig):
        if not 0 <= cfg.eps <= 1 or any(not 0 <= e <= 1 for e in cfg.eps_sweep):
            raise SnnlibError(
                f"{path}.eps and eps_sweep must lie in [0, 1] (pixel units), got {cfg.eps}, {cfg.eps_sweep}"
            )
    if isinstance(cfg, AdversarialConfig):
        if not 0 <= cfg.eps <= 1:
            raise SnnlibError(f"{path}.eps must lie in [0, 1] (pixel units), got {cfg.eps}")
        if cfg.alpha is not None and cfg.alpha <= 0:
            raise SnnlibError(f"{path}.alpha (the step size) must be > 0, got {cfg.alpha}")
    if isinstance(cfg, TrainConfig):
        if cfg.robust_val < 0:
            raise SnnlibError(f"{path}.robust_val must be >= 0 validation images, got {cfg.robust_val}")
        if cfg.select == "robust_val_acc" and cfg.robust_val < 1:
            raise SnnlibError(f"{path}.select=robust_val_acc needs {path}.robust_val >= 1 (images attacked each epoch)")
    if isinstance(cfg, TrainConfig) and len(cfg.betas) != 2:
        raise SnnlibError(f"{path}.betas must have two numbers, got {cfg.betas}")
    if isinstance(cfg, DataConfig):
        dataset_kind(cfg.dataset)


def from_dict(raw: dict) -> Config:
    """Validate a nested dict (unknown keys and wrong types are errors) into a Config."""
    return _build(Config, raw or {}, "")


def parse_override(text: str) -> tuple[list[str], object]:
    """``"model.width=32"`` -> (["model", "width"], 32). Values are read as YAML."""
    if "=" not in text:
        raise SnnlibError(f"--set takes key.sub=value, got {text!r}")
    key, value = text.split("=", 1)
    if not key.strip():
        raise SnnlibError(f"--set takes key.sub=value, got {text!r}")
    return key.strip().split("."), yaml.safe_load(value) if value.strip() else None


def apply_overrides(raw: dict, overrides) -> dict:
    raw = json.loads(json.dumps(raw or {}))
    for text in overrides or []:
        keys, value = parse_override(text)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise SnnlibError(f"--set {text!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return raw


def load_config(path, overrides=()) -> Config:
    """Load a YAML config file, apply ``--set`` overrides, validate strictly."""
    path = Path(path)
    if not path.is_file():
        here = sorted(p.stem for p in (project_root() / "configs" / profile()).glob("*.yaml"))
        raise SnnlibError(
            f"config file {path} not found; configs of the profile {profile()!r} (SNNLIB_PROFILE): "
            f"{', '.join(here) or 'none'}"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SnnlibError(f"{path} is not valid YAML: {e}") from None
    try:
        return from_dict(apply_overrides(raw, overrides))
    except SnnlibError as e:
        raise SnnlibError(f"{path}: {e}") from None


def with_overrides(cfg: Config, overrides) -> Config:
    """A copy of ``cfg`` with ``key.sub=value`` overrides (the CLI's ``--set`` strings) applied and validated; inside
    the library use the typed :func:`replace`."""
    return from_dict(apply_overrides(cfg.to_dict(), overrides))


def _replaced(obj, changes: dict):
    fields = {}
    for k, v in changes.items():
        if not hasattr(obj, k):
            raise SnnlibError(f"unknown config field {k!r} of {type(obj).__name__}")
        cur = getattr(obj, k)
        fields[k] = _replaced(cur, v) if dataclasses.is_dataclass(cur) and isinstance(v, dict) else v
    return dataclasses.replace(obj, **fields)


def replace(cfg: Config, **changes) -> Config:
    """A copy of ``cfg`` with fields changed, typed (``dataclasses.replace``): a top-level field by value, a section
    (``data``, ``model``, ``train``, ``attack``; ``train`` also ``adversarial``) by a dict of its fields, e.g.
    ``replace(cfg, name="x", model={"neuron": "relu", "T": 1})``. Validated like a file."""
    return from_dict(_replaced(cfg, changes).to_dict())


def resolve(name_or_path, profile_name: str | None = None) -> Path:
    """A config file path: an existing path, or a config name in ``configs/<profile>/``."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.suffix == "" and p.parent == Path("."):
        for prof in [profile_name] if profile_name else [profile(), *PROFILES]:
            cand = project_root() / "configs" / prof / f"{p}.yaml"
            if cand.is_file():
                return cand
    return p  # load_config reports it, listing what exists


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


# ------------------------------------------------------------ configs of a profile


def config_path(name: str, profile_name: str | None = None) -> Path:
    p = project_root() / "configs" / (profile_name or profile()) / f"{name}.yaml"
    if not p.is_file():
        have = sorted(f.stem for f in p.parent.glob("*.yaml"))
        raise SnnlibError(f"no config {name!r} in {p.parent}; available: {', '.join(have)}")
    return p


def load_profile(profile_name: str | None = None) -> dict[str, Config]:
    """All configs of a profile, by name."""
    folder = project_root() / "configs" / (profile_name or profile())
    return {p.stem: load_config(p) for p in sorted(folder.glob("*.yaml"))}


def replicates(cfg: Config) -> list[Config]:
    """``cfg`` and one copy per seed in ``cfg.replicates``: same data selection, other training seed."""
    out = [cfg]
    for s in cfg.replicates:
        out.append(replace(cfg, name=f"{cfg.name}-s{s}", seed=s, data={"split_seed": cfg.split_seed}, replicates=[]))
    return out
