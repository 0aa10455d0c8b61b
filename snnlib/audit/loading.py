"""What ``python -m snnlib audit`` audits: a model named on the command line, and seeded test images.

``MODEL`` is ``path/to/file.py:callable`` (a file anywhere on disk), ``package.module:callable``, or a
project config name (``sew18_max``: its trained model). The callable takes no arguments and returns an
``nn.Module``. ``--checkpoint`` is a ``state_dict`` file, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import torch

from .. import config, train
from ..build import load_data
from ..checkpoints import load_trained
from ..data import load_dataset, stratified_indices
from ..errors import CheckpointError, SnnlibError


def _callable_from(spec: str):
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise SnnlibError(
            f"--model takes path/to/file.py:callable, package.module:callable or a config name; got {spec!r}"
        )
    if where.endswith(".py") or "/" in where:
        path = Path(where).expanduser()
        if not path.is_file():
            raise SnnlibError(f"--model {spec!r}: no file {path}")
        mod_spec = importlib.util.spec_from_file_location(f"snnlib_user_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as e:
            raise SnnlibError(f"--model {spec!r}: importing {path} failed ({type(e).__name__}: {e})") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise SnnlibError(f"--model {spec!r}: cannot import module {where!r} ({e})") from None
    fn = getattr(module, name, None)
    if fn is None or not callable(fn):
        have = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))[:12]
        raise SnnlibError(f"--model {spec!r}: {where} has no callable {name!r}; it has: {', '.join(have)}")
    return fn


def load_checkpoint_into(model: torch.nn.Module, path) -> None:
    """Load a ``state_dict`` file into ``model`` (``weights_only=True``), with one-line errors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"--checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"--checkpoint {path} could not be read: corrupted, truncated or not a torch file ({type(e).__name__})"
        ) from None
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise CheckpointError(f"--checkpoint {path} holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"--checkpoint {path} does not fit the model: {str(e).splitlines()[0]}") from None


def load_model(spec: str, checkpoint=None, device: str = "cpu") -> tuple[torch.nn.Module, str, object]:
    """(model, label, config or None) for a ``--model`` spec."""
    if ":" not in spec:
        cfg = config.load_config(config.resolve(spec))
        train.ensure_trained(cfg, device)
        return load_trained(cfg, "best", device, checkpoint), cfg.name, cfg
    try:
        model = _callable_from(spec)()
    except SnnlibError:
        raise
    except Exception as e:
        raise SnnlibError(f"--model {spec!r}: calling it failed ({type(e).__name__}: {e})") from None
    if not isinstance(model, torch.nn.Module):
        raise SnnlibError(f"--model {spec!r} returned a {type(model).__name__}; it must return a torch.nn.Module")
    if checkpoint is not None:
        load_checkpoint_into(model, checkpoint)
    return model.to(device).eval(), spec.rpartition(":")[2], None


def load_images(dataset: str | None, n: int, seed: int, cfg=None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``n`` seeded, stratified test images (and labels, and the number of classes) of ``dataset`` (default:
    the config's attacked subset)."""
    if dataset is None and cfg is None:
        raise SnnlibError("--data is needed for a model that is not a project config (e.g. --data cifar10)")
    ds = load_data(cfg, "eval") if dataset is None else load_dataset(dataset, train=False)
    k = ds.num_classes
    if n > len(ds):
        raise SnnlibError(f"--n {n} is larger than the test set ({len(ds)} images)")
    if n < k:
        raise SnnlibError(f"--n {n}: at least one image per class is needed ({k} classes)")
    idx = stratified_indices(ds.targets, n // k, seed)
    x, y = ds.batch(idx)
    return x, y, k
