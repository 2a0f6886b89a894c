"""Model registry (timm-style): ``@register_model`` entry points, ``create_model``, ``list_models``.

Every registered entry point is a function ``fn(**kwargs) -> nn.Module`` that builds the
network. What ferapp knows about it has three parts, each with one job:

- ``ModelCfg`` travels with trained weights (``config.json``): how to feed the network (input
  size - also the size faces are aligned to, ``crop_size`` -, channels, normalisation, five-crop /
  mirror TTA, temperature), its labels, its paper (key, citation, description, reported numbers),
  and the constructor arguments the weights were built with (``kwargs``, filled by
  ``create_model``: the architecture's, needed to rebuild it).
- ``Recipe`` is the paper's training recipe, used by training only (``get_recipe``,
  ``TrainConfig.from_recipe``); it is registered beside the architecture, not saved with weights
  (a run's own options are in its model's ``meta``).
- the builder's defaults stay in the architecture's code.

A model is one file: everything else ferapp needs to know about it is an argument of
``register_model`` in that file - its ``Paper`` (the GUI's dropdown group, the training
wizard's default protocols, the sections of ``ferapp models`` and of the reproduction
scripts), whether ``ferapp bench --quick`` measures it, and a ``WeightSidecar`` when part of
its weights are stored in a format of its own (P5's 1-bit packed file). Importing
``ferapp.zoo.models`` imports every module in that package, so a new ``pN_*.py`` there is
found without editing any list.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ferapp.labels import LABELS

Size = tuple[int, int]  # (height, width): the one size convention of ferapp (crops, inputs, datasets)


@dataclass(frozen=True)
class Recipe:
    """The paper's training recipe (defaults; training/ recipes override them). Every field but
    ``extra`` is an option of ``ferapp.train.options.TrainConfig`` of the same name."""

    optimizer: str = "sgd"  # sgd | adam
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"  # cosine | plateau10 (divide by 10 on plateau until min_lr) | step | constant
    min_lr: float = 0.0
    batch_size: int = 64
    epochs: int = 30
    loss: str = "ce"  # ce | ce+center | squared_hinge
    algorithm: str = "backprop"  # backprop | hsic | bnn
    augment: tuple[str, ...] = ("mirror",)  # mirror, crop, rotate
    # paper-specific training options, e.g. {"hsic_beta": 100, "center_weight": 0.01}; every key must be
    # an option of ferapp.train.options.TrainConfig (checked by TrainConfig.from_recipe and the tests)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["augment"] = list(self.augment)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """A recipe from JSON (unknown keys are a ValueError; legacy ``extra`` keys migrated)."""
        if not isinstance(d, dict):
            raise ValueError("recipe must be a JSON object")
        rec = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(rec) - known)
        if bad:
            raise ValueError(f"unknown recipe key(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        rec["extra"] = _migrate_extra(rec.get("extra") or {})
        if "augment" in rec:
            rec["augment"] = tuple(rec["augment"])
        return cls(**rec)


# keys of config.json files written by earlier versions that are no longer part of a ModelCfg:
# "recipe" (the paper's recipe, copied into every config.json before the recipe was split off;
# the recipe a run used is in its meta) - read and dropped
_LEGACY_CFG_KEYS = frozenset({"recipe"})


@dataclass(frozen=True)
class ModelCfg:
    """What travels with a model's weights (config.json): input spec, labels, paper, constructor
    arguments. The training recipe is not part of it (``get_recipe``)."""

    name: str
    input_size: Size = (48, 48)  # (H, W); faces are aligned to this size (``crop_size``)
    channels: int = 1  # 1 = grayscale, 3 = BGR->RGB
    mean: float = 0.5  # pixel in [0,1] -> (x - mean) / std
    std: float = 0.5
    labels: tuple[str, ...] = LABELS
    five_crop: int = 0  # 0 = off; else crop size (e.g. 42): average over 4 corners + centre
    flip_tta: bool = False  # also run the mirrored face and average the two outputs (test-time augmentation)
    temperature: float = 1.0  # softmax(outputs / T): calibration fitted on a validation split (1 = none)
    paper: str = ""  # the key of its registered Paper ("P1"); "" for none
    citation: str = ""
    description: str = ""
    reported: dict[str, Any] = field(
        default_factory=dict
    )  # paper's numbers, e.g. {"params": 25476, "CK+ 5-fold": 83.74}
    kwargs: dict[str, Any] = field(default_factory=dict)  # constructor args used

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def crop_size(self) -> Size:
        """(H, W) the face is aligned/cropped to for this model - live frames, ``ferapp analyze``
        and training data alike (the model's input size; five-crop models cut their crops from it)."""
        return (int(self.input_size[0]), int(self.input_size[1]))

    @property
    def net_input_size(self) -> Size:
        """Spatial size the network sees (the crop size when five-crop is used)."""
        return (self.five_crop, self.five_crop) if self.five_crop else self.input_size

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["labels"] = list(self.labels)
        return d

    def validate(self) -> ModelCfg:
        """Raise ValueError naming the field when a value cannot describe a usable model
        (checked when a config is loaded, before any frame is read)."""
        h, w = self.input_size
        for name, v in (("input_size[0]", h), ("input_size[1]", w)):
            if not (isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 1024):
                raise ValueError(f"{name} must be an integer from 8 to 1024, not {v!r}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (colour), not {self.channels!r}")
        for name, v in (("mean", self.mean), ("std", self.std)):
            if not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number, not {v!r}")
        if not 1e-3 <= self.std <= 1e3:
            raise ValueError(f"std must be between 0.001 and 1000, not {self.std!r}")
        if not (2 <= len(self.labels) <= 64 and all(isinstance(x, str) and x.strip() for x in self.labels)):
            raise ValueError(f"labels must be 2 to 64 non-empty names, not {list(self.labels)[:10]!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct, not {list(self.labels)!r}")
        fc = self.five_crop
        if not (isinstance(fc, int) and not isinstance(fc, bool) and (fc == 0 or 8 <= fc <= min(h, w))):
            raise ValueError(f"five_crop must be 0 or a crop size from 8 to {min(h, w)}, not {fc!r}")
        if not isinstance(self.flip_tta, bool):
            raise ValueError(f"flip_tta must be true or false, not {self.flip_tta!r}")
        t = self.temperature
        if not (
            isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and 0.05 <= t <= 20
        ):
            raise ValueError(f"temperature must be a number from 0.05 to 20, not {t!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCfg:
        if not isinstance(d, dict):
            raise ValueError("a model config must be a JSON object")
        d = dict(d)
        size = d.get("input_size", (48, 48))
        if not (isinstance(size, list | tuple) and len(size) == 2):
            raise ValueError(f"input_size must be [height, width], not {size!r}")
        labels = d.get("labels", LABELS)
        if not isinstance(labels, list | tuple):
            raise ValueError(f"labels must be a list of class names, not {labels!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - known - _LEGACY_CFG_KEYS)
        if bad:
            raise ValueError(
                f"unknown model config key(s) {', '.join(bad)}; known: {', '.join(sorted(known))}"
            )
        for k in _LEGACY_CFG_KEYS:
            d.pop(k, None)
        d["input_size"] = tuple(size)
        d["labels"] = tuple(labels)
        return cls(**d).validate()

    def replace(self, **changes: Any) -> ModelCfg:
        return dataclasses.replace(self, **changes)


# recipe "extra" keys written by configs of earlier versions: renamed, or descriptive only
# (never read by training); migrated explicitly when such a config is loaded
_LEGACY_EXTRA_RENAMED = {"sigma": "hsic_sigma"}
_LEGACY_EXTRA_DROPPED = {"steps", "kernel", "clip_latent"}


def _migrate_extra(extra: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(extra, dict):
        raise ValueError("recipe.extra must be a JSON object")
    out = {}
    for k, v in extra.items():
        if k in _LEGACY_EXTRA_DROPPED:
            continue
        out[_LEGACY_EXTRA_RENAMED.get(k, k)] = v
    return out


_PAPER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_RESERVED_KEYS = {"ensemble"}  # the dropdown's own group


@dataclass(frozen=True)
class Paper:
    """A paper the zoo implements, declared once in its model module and passed to
    ``@register_model(..., paper=PAPER)`` by each of its networks."""

    key: str  # "P5": what its models' configs (and config.json files) name as their ``paper``
    title: str  # "binarized dense CNN": the GUI group header is "P5 · binarized dense CNN"
    # ferapp.data.protocols names the paper measured its numbers with: the training wizard offers
    # them for its models and picks the first that fits the data
    protocols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _PAPER_KEY.match(self.key) or self.key in _RESERVED_KEYS:
            raise ValueError(
                f"paper key {self.key!r} must be 1-32 letters, digits, '_', '.' or '-' "
                f"(and not {', '.join(sorted(_RESERVED_KEYS))})"
            )
        if not self.title.strip():
            raise ValueError(f"paper {self.key}: give it a title")
        if isinstance(self.protocols, str):
            raise ValueError(
                f"paper {self.key}: protocols must be a tuple of names, not the string {self.protocols!r}"
            )

    @property
    def label(self) -> str:
        return f"{self.key} · {self.title}"


class WeightSidecar(Protocol):
    """Weights a model keeps in a file of its own beside ``model.pt`` (P5: 1-bit packed layers).

    ``ferapp.zoo.io`` stores the state-dict entries ``keys(model)`` names only in ``filename``
    (written by ``save``, read back by ``load``), and ``LoadedModel.packed_model()`` runs
    ``fast_model``, the inference path that reads the sidecar directly (the engine prefers it)."""

    filename: str  # a plain file name in the model folder, e.g. "model.packed.npz"

    def keys(self, model: Any) -> list[str]: ...  # state-dict keys stored only in the sidecar

    def save(self, model: Any, path: Path) -> dict[str, Any]: ...  # write it; -> entries for the model's meta

    def load(
        self, path: Path
    ) -> dict[str, Any]: ...  # -> {state-dict key: tensor}; CheckpointError if unreadable

    def fast_model(self, path: Path, cfg: ModelCfg) -> Any: ...  # an nn.Module computing the same outputs


@dataclass(frozen=True)
class _Registered:
    fn: Callable[..., Any]
    cfg: ModelCfg
    recipe: Recipe = Recipe()
    bench_quick: bool = False
    sidecar: WeightSidecar | None = None


_MODELS: dict[str, _Registered] = {}
_PAPERS: dict[str, Paper] = {}  # in order of registration (module order: P1, P2, ...)


def register_model(
    cfg: ModelCfg,
    *,
    recipe: Recipe | None = None,
    paper: Paper | None = None,
    bench_quick: bool = False,
    sidecar: WeightSidecar | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator on a builder ``fn(**kwargs)``:
    ``@register_model(ModelCfg(name=...), recipe=RECIPE, paper=PAPER)``.

    ``recipe``: the paper's training recipe (``get_recipe``; default ``Recipe()``). ``paper``: the
    model's ``Paper`` (``cfg.paper`` is set to its key; a model may instead name an already
    registered paper in ``cfg.paper``). ``bench_quick``: ``ferapp bench --quick`` measures
    it (one small model per paper). ``sidecar``: its own weight format (see ``WeightSidecar``).
    """
    if paper is not None:
        if cfg.paper not in ("", paper.key):
            raise ValueError(
                f"model {cfg.name!r}: cfg.paper {cfg.paper!r} disagrees with paper {paper.key!r}"
            )
        known = _PAPERS.get(paper.key)
        if known is not None and known != paper:
            raise ValueError(
                f"paper {paper.key!r} declared twice with different details: {known} and {paper}"
            )
        cfg = cfg.replace(paper=paper.key)
    elif cfg.paper:
        _ensure_loaded()  # (a no-op while ferapp.zoo.models itself is being imported)
        if cfg.paper not in _PAPERS:
            raise ValueError(
                f"model {cfg.name!r} names paper {cfg.paper!r}, which is not registered: "
                "pass register_model(..., paper=Paper(...))"
            )

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if cfg.name in _MODELS:
            raise ValueError(f"model {cfg.name!r} registered twice")
        if paper is not None:
            _PAPERS.setdefault(paper.key, paper)
        _MODELS[cfg.name] = _Registered(
            fn, cfg, recipe if recipe is not None else Recipe(), bench_quick, sidecar
        )
        return fn

    return deco


def unregister_model(name: str) -> None:
    """Remove a registered model (and its paper when no other model names it): for plugins and
    tests that register a model for a while. Unknown names are ignored."""
    entry = _MODELS.pop(name, None)
    key = entry.cfg.paper if entry is not None else ""
    if key and not any(e.cfg.paper == key for e in _MODELS.values()):
        _PAPERS.pop(key, None)


def _ensure_loaded() -> None:
    import ferapp.zoo.models  # noqa: F401  (fills the registry)


def _catalog():
    """``architectures.json`` (the shipped architectures' configs and papers, read without
    importing torch) while the model modules are not imported; None once they are (or when the
    file is missing): the registry, once filled, is the truth."""
    if "ferapp.zoo.models" in sys.modules:
        return None
    from ferapp.zoo.catalog import snapshot

    return snapshot()


def list_models() -> list[str]:
    """Every architecture name: the registry's once the model modules are imported; before that,
    ``architectures.json``'s (no torch) and any registered at run time."""
    catalog = _catalog()
    if catalog is None:
        _ensure_loaded()
        return sorted(_MODELS)
    return sorted(set(_MODELS) | set(catalog.cfgs))


def _lookup(name: str, part: str) -> Any:
    """``part`` ("cfg" or "recipe") of architecture ``name``: the registry's, else
    ``architectures.json``'s while the model modules are not imported; KeyError naming the known ones."""
    if name in _MODELS:
        return getattr(_MODELS[name], part)
    catalog = _catalog()
    if catalog is not None and name in catalog.cfgs:
        return {"cfg": catalog.cfgs, "recipe": catalog.recipes}[part][name]
    _ensure_loaded()
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_MODELS))}")
    return getattr(_MODELS[name], part)


def get_model_cfg(name: str) -> ModelCfg:
    return _lookup(name, "cfg")


def get_recipe(name: str) -> Recipe:
    """The training recipe architecture ``name`` registered (KeyError naming the known ones)."""
    return _lookup(name, "recipe")


def list_papers() -> list[Paper]:
    """The papers of the registered models, in registration order (P1, P2, ...); before the model
    modules are imported, ``architectures.json``'s, then any registered at run time."""
    catalog = _catalog()
    if catalog is None:
        _ensure_loaded()
        return list(_PAPERS.values())
    known = {p.key for p in catalog.papers}
    return [*catalog.papers, *(p for p in _PAPERS.values() if p.key not in known)]


def get_paper(key: str) -> Paper | None:
    """The registered paper ``key`` ("P5"), or None (no paper, or one no registered model names)."""
    return next((p for p in list_papers() if p.key == key), None)


def quick_bench_models() -> list[str]:
    """The models ``ferapp bench --quick`` measures (registered with ``bench_quick=True``)."""
    _ensure_loaded()
    return sorted(n for n, e in _MODELS.items() if e.bench_quick)


def weight_sidecar(name: str) -> WeightSidecar | None:
    """The sidecar weight format architecture ``name`` declares (None: none, or not registered)."""
    _ensure_loaded()
    entry = _MODELS.get(name)
    return entry.sidecar if entry is not None else None


# Bounds on what a config.json or `ferapp train --arg` may ask a constructor for. The largest
# registered network (bdnn2, 27.6 M numbers) fits; resnet20 with base_width 1024 (1.1 G numbers,
# 4.5 GB) does not, and is refused before anything is allocated.
MAX_PARAMS = 100_000_000
MAX_ARG_NUMBER = 4096  # any number among the constructor arguments (depth, widths, multipliers)
MAX_ARG_ITEMS = 256  # length of a string or list argument


def _check_arg(key: str, v: Any) -> None:
    if v is None or isinstance(v, bool):
        return
    if isinstance(v, int | float):
        if not (math.isfinite(v) and abs(v) <= MAX_ARG_NUMBER):
            raise ValueError(f"model argument {key} = {v!r} is out of range (numbers up to {MAX_ARG_NUMBER})")
        return
    if isinstance(v, str | list | tuple):
        if len(v) > MAX_ARG_ITEMS:
            raise ValueError(f"model argument {key} is too long ({len(v)} items; at most {MAX_ARG_ITEMS})")
        if not isinstance(v, str):
            for i, x in enumerate(v):
                _check_arg(f"{key}[{i}]", x)
        return
    raise ValueError(
        f"model argument {key} must be a number, true/false, text or a list, not {type(v).__name__}"
    )


_SHAPE_CHANGING_INPLACE = {
    "resize_",
    "resize_as_",
    "set_",
    "unsqueeze_",
    "squeeze_",
    "t_",
    "transpose_",
    "swapdims_",
    "swapaxes_",
    "as_strided_",
}


def _shape_only_mode():
    """A torch function mode under which, on meta tensors, in-place fills and initialisers
    (``normal_``, ``mul_``, ``x[i] = v``) are skipped: they never change a shape, and on meta
    tensors some would import sympy (3 s) to check the broadcast of a no-op."""
    import torch
    from torch.overrides import TorchFunctionMode

    class ShapeOnly(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            inplace = (
                name.endswith("_") and not name.endswith("__") and name not in _SHAPE_CHANGING_INPLACE
            ) or name == "__setitem__"
            if inplace and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                return args[0]
            return func(*args, **(kwargs or {}))

    return ShapeOnly()


def check_model_args(name: str, kwargs: dict[str, Any] | None = None) -> dict[str, tuple[int, ...]]:
    """The shapes of every tensor ``create_model(name, **kwargs)`` would hold, found without
    allocating them (a shape-only build on PyTorch's meta device, ~2x a real build of the
    layers' Python objects). ValueError naming the problem when an argument is out of range,
    the constructor refuses the arguments, or the network would hold more than ``MAX_PARAMS``
    numbers. Loading weights calls it before building, so a config asking for a 4.5 GB network
    is refused at once instead of after the allocation."""
    import torch

    _ensure_loaded()  # the builder itself (get_model_cfg alone may answer from architectures.json)
    get_model_cfg(name)
    kwargs = dict(kwargs or {})
    for k, v in kwargs.items():
        if not isinstance(k, str):
            raise ValueError(f"model argument names must be text, not {k!r}")
        _check_arg(k, v)
    try:
        with torch.device("meta"), _shape_only_mode():
            net = _MODELS[name].fn(**kwargs)
        shapes = {k: tuple(t.shape) for k, t in net.state_dict().items()}
    except (
        TypeError,
        ValueError,
        RuntimeError,
        OverflowError,
        KeyError,
        IndexError,
        ZeroDivisionError,
    ) as exc:
        raise ValueError(f"cannot build {name} with {kwargs}: {exc}") from None
    total = sum(math.prod(s) for s in shapes.values())
    if total > MAX_PARAMS:
        raise ValueError(
            f"{name} with {kwargs} would hold {total / 1e6:,.0f} M numbers "
            f"({total * 4 / 2**30:.1f} GB); the limit is {MAX_PARAMS / 1e6:.0f} M"
        )
    return shapes


def create_model(name: str, **kwargs: Any):
    """Build a registered network. Unknown names fail with the list of known ones.

    The returned module carries ``.cfg`` (a ModelCfg with ``kwargs`` filled in).
    """
    _ensure_loaded()
    cfg = get_model_cfg(name)
    model = _MODELS[name].fn(**kwargs)
    model.cfg = cfg.replace(kwargs=dict(kwargs))
    return model
