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

Places and the active profile come from :mod:`snnlib.places` (the one module that
reads environment variables) and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import yaml

from .data import dataset_kind
from .errors import SnnlibError, check_choice
from .places import (
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

__all__ = [
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


def _choice(*options):
    return {"choices": options}


@dataclass
class DataConfig:
    dataset: str = "cifar10"  # cifar10 | cifar100 | cifar10-dvs | npz:<folder> | imagefolder:<path>
    #: the pixels the data must have: ``lossless`` (the original values: npz arrays or torchvision's files) or
    #: ``jpeg`` (a lossy re-encoding, such as the shared ImageFolder copy; only to read results computed on it).
    #: Loading fails when the data found are of the other kind.
    pixels: str = field(default="lossless", metadata=_choice("lossless", "jpeg"))
    n_per_class: typing.Optional[int] = None  # training images per class before the val split (None: all)
    val_fraction: float = 0.1  # carved, seeded and stratified, from the training images
    test_per_class: typing.Optional[int] = None  # clean test subset per class (None: whole test set)
    eval_per_class: typing.Optional[int] = None  # attacked test subset per class (None: whole test set)
    #: seed of every data selection (training subset, validation split, test subsets); None: the config's seed.
    #: Seed replicates keep it fixed, so they differ only in initialisation, shuffling and flips.
    split_seed: typing.Optional[int] = None


@dataclass
class ModelConfig:
    arch: str = field(
        default="sew_resnet18",
        metadata=_choice(
            "sew_resnet18", "sew_resnet34", "sew_resnet50", "spiking_resnet18", "spiking_resnet34", "spiking_resnet50"
        ),
    )
    pool: str = field(default="max", metadata=_choice("max", "avg"))
    width: int = 64
    detach_reset: typing.Optional[bool] = None  # None: the authors' (True for SEW, False for Spiking-ResNet)
    neuron: str = field(default="if", metadata=_choice("if", "relu"))
    encoder: str = field(default="phase", metadata=_choice("phase", "rate", "direct", "frames"))
    T: int = 10
    K: int = 8
    weighted: bool = False  # omega(t) of the paper's text; the authors' code does not apply it


@dataclass
class AdversarialConfig:
    """Adversarial training of a defended baseline (Madry et al. 2018); ``none`` trains on clean images."""

    method: str = field(default="none", metadata=_choice("none", "fgsm-rs", "pgd"))
    eps: float = 8 / 255
    alpha: typing.Optional[float] = None  # None: 1.25 eps (fgsm-rs, Wong et al. 2020) or 2.5 eps / steps (pgd)
    steps: int = 7  # pgd only
    #: the phase encoder's backward while crafting: ``ste`` (straight-through), ``omega`` or ``flip`` (the
    #: expected-flip backward, the strongest for phase coding in the audit); see snnlib.encoding
    encoder_grad: str = field(default="ste", metadata=_choice("ste", "omega", "flip"))


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    betas: typing.List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 1e-3  # the authors' code; the paper's text does not mention it
    flip: bool = True
    #: the checkpoint kept: best validation accuracy or loss, or best robust validation accuracy (PGD-10 on the
    #: first ``robust_val`` images of the validation split; early stopping after Rice et al. 2020)
    select: str = field(default="val_acc", metadata=_choice("val_acc", "val_loss", "robust_val_acc"))
    #: validation images attacked after every epoch (PGD-10, pixel space, BN eval, the adversarial eps); 0: none
    robust_val: int = 0
    #: treat denormal floats as zero while training (torch.set_flush_denormal): faster once BatchNorm scales decay
    #: into denormals; weights can differ from an unflushed run, so it is a setting of the run
    flush_denormals: bool = False
    amp: bool = False  # bf16 autocast on CUDA
    workers: int = 0
    pin_memory: bool = False
    eval_batch_size: int = 128
    #: snnlib.kernels: fused multi-step IF neurons (bit-identical) and GEMM weight gradients for convolutions
    #: on tiny maps (equal up to float rounding). False runs SpikingJelly's modules unchanged.
    fast: bool = True
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    #: CPU threads while training (None: torch's default). CPU results depend on the thread count (oneDNN),
    #: so a run that must be reproducible on any machine fixes it.
    threads: typing.Optional[int] = None


@dataclass
class AttackConfig:
    eps: float = 8 / 255
    pgd_alpha: float = 0.01
    pgd_steps: int = 7
    random_start: bool = True
    space: str = field(default="pixel", metadata=_choice("pixel", "spike"))
    bn: str = field(default="eval", metadata=_choice("eval", "train"))
    eps_sweep: typing.List[float] = field(default_factory=lambda: [2 / 255, 4 / 255, 6 / 255, 8 / 255])
    batch_size: int = 64
    #: which images share a crafting batch: the dataset's order, or a seeded shuffle that depends on the images
    #: only (snnlib.attacks.registry.batch_indices). Under ``bn="train"`` batch statistics depend on it, so there
    #: it and ``batch_size`` are part of the result's key; the authors' threat uses ``shuffled`` batches of 16.
    batch_order: str = field(default="dataset", metadata=_choice("dataset", "shuffled"))


@dataclass
class Config:
    name: str = "experiment"
    profile: str = field(default="custom", metadata=_choice("quick", "medium", "paper", "custom"))
    seed: int = 3407
    notes: str = ""
    #: extra training seeds of the same model (same data selection): see :func:`replicates`
    replicates: typing.List[int] = field(default_factory=list)
    #: what the model is for: a row of the paper's tables, a control of the audit, or a defended baseline
    role: str = field(default="paper", metadata=_choice("paper", "control", "defended"))
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def train_key(self) -> str:
        """Hash of everything that changes the trained weights (not the name, notes or attack)."""
        d = _strip_late(self.to_dict())
        for k in ("name", "notes", "attack", "profile", "replicates", "role"):
            d.pop(k, None)
        d["data"].pop("test_per_class"), d["data"].pop("eval_per_class")
        for k in ("workers", "pin_memory", "eval_batch_size"):
            d["train"].pop(k)
        return content_hash(d)

    def eval_key(self) -> str:
        """Hash of the trained model plus everything that changes the attack numbers."""
        d = _strip_late(self.to_dict())
        a = dict(d["attack"])
        if a["bn"] != "train":  # with BN in eval mode an image's result does not depend on its batch
            a.pop("batch_size"), a.pop("batch_order", None)
        return content_hash(
            {
                "train": self.train_key(),
                "attack": a,
                "test": d["data"]["test_per_class"],
                "eval": d["data"]["eval_per_class"],
            }
        )

    @property
    def run_id(self) -> str:
        return f"{self.name}-{self.train_key()[:8]}"

    @property
    def split_seed(self) -> int:
        """The seed of every data selection (``data.split_seed``, else ``seed``)."""
        return self.seed if self.data.split_seed is None else self.data.split_seed


def replicates(cfg: Config) -> list[Config]:
    """``cfg`` and one copy per seed in ``cfg.replicates``: same data selection, other training seed."""
    out = [cfg]
    for s in cfg.replicates:
        out.append(replace(cfg, name=f"{cfg.name}-s{s}", seed=s, data={"split_seed": cfg.split_seed}, replicates=[]))
    return out


#: Settings added after the first results were keyed: left out of ``train_key``/``eval_key`` while
#: they hold the value the old results were computed with, so a new setting never invalidates a finished
#: result. ``data.pixels`` is the exception that proves it: the results before it were computed on the
#: JPEG copy, so ``jpeg`` keeps their keys and the new default ``lossless`` gives new ones.
LATE_FIELDS = {
    ("data", "split_seed"): None,
    ("data", "pixels"): "jpeg",
    ("replicates",): [],
    ("role",): "paper",
    ("train", "adversarial", "encoder_grad"): "ste",
    ("train", "adversarial"): {"method": "none", "eps": 8 / 255, "alpha": None, "steps": 7},
    ("train", "threads"): None,
    ("train", "robust_val"): 0,
    ("train", "flush_denormals"): False,
    ("attack", "batch_order"): "dataset",
}


def _strip_late(d: dict) -> dict:
    for path, default in LATE_FIELDS.items():
        node = d
        for k in path[:-1]:
            node = node.get(k, {})
        if path[-1] in node and node[path[-1]] == default:
            node.pop(path[-1], None)
    return d


def content_hash(d) -> str:
    """SHA-1 of a JSON-able object with sorted keys: the key of cached results."""
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ validation


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
