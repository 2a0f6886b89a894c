"""Model registry (timm-style): ``@register_model`` entry points, ``create_model``, ``list_models``.

Every registered entry point is a function ``fn(**kwargs) -> nn.Module`` that builds the
network; the ``ModelCfg`` passed to ``register_model`` describes its input spec, test-time
behaviour, paper and training recipe, and travels with trained weights (``config.json``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferapp.labels import LABELS


@dataclass(frozen=True)
class Recipe:
    """The paper's training recipe (defaults; training/ recipes override them)."""

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


@dataclass(frozen=True)
class ModelCfg:
    """Everything needed to feed a model and to describe it; saved as config.json."""

    name: str
    input_size: tuple[int, int] = (48, 48)  # (H, W)
    channels: int = 1  # 1 = grayscale, 3 = BGR->RGB
    mean: float = 0.5  # pixel in [0,1] -> (x - mean) / std
    std: float = 0.5
    labels: tuple[str, ...] = LABELS
    five_crop: int = 0  # 0 = off; else crop size (e.g. 42): average over 4 corners + centre
    flip_tta: bool = False  # also run the mirrored face and average the two outputs (test-time augmentation)
    temperature: float = 1.0  # softmax(outputs / T): calibration fitted on a validation split (1 = none)
    paper: str = ""  # P1..P5
    citation: str = ""
    description: str = ""
    reported: dict[str, Any] = field(default_factory=dict)  # paper's numbers, e.g. {"params": 25476, "CK+ 5-fold": 83.74}
    recipe: Recipe = field(default_factory=Recipe)
    kwargs: dict[str, Any] = field(default_factory=dict)  # constructor args used

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def net_input_size(self) -> tuple[int, int]:
        """Spatial size the network sees (the crop size when five-crop is used)."""
        return (self.five_crop, self.five_crop) if self.five_crop else self.input_size

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["labels"] = list(self.labels)
        d["recipe"]["augment"] = list(self.recipe.augment)
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
        if not (isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and 0.05 <= t <= 20):
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
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"unknown model config key(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        rec = dict(d.pop("recipe", {}) or {})
        if not isinstance(rec, dict):
            raise ValueError("recipe must be a JSON object")
        rknown = {f.name for f in dataclasses.fields(Recipe)}
        bad = sorted(set(rec) - rknown)
        if bad:
            raise ValueError(f"unknown recipe key(s) {', '.join(bad)}; known: {', '.join(sorted(rknown))}")
        rec["extra"] = _migrate_extra(rec.get("extra") or {})
        if "augment" in rec:
            rec["augment"] = tuple(rec["augment"])
        d["input_size"] = tuple(size)
        d["labels"] = tuple(labels)
        return cls(recipe=Recipe(**rec), **d).validate()

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


_ENTRYPOINTS: dict[str, Callable[..., Any]] = {}
_CFGS: dict[str, ModelCfg] = {}


def register_model(cfg: ModelCfg) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@register_model(ModelCfg(name=...))`` on a builder ``fn(**kwargs)``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if cfg.name in _ENTRYPOINTS:
            raise ValueError(f"model {cfg.name!r} registered twice")
        _ENTRYPOINTS[cfg.name] = fn
        _CFGS[cfg.name] = cfg
        return fn

    return deco


def _ensure_loaded() -> None:
    import ferapp.zoo.models  # noqa: F401  (fills the registry)


def _catalog() -> dict[str, ModelCfg]:
    """The shipped architectures' configs, read without importing the model modules (torch)."""
    from ferapp.zoo.catalog import architecture_cfgs

    return architecture_cfgs()


def list_models() -> list[str]:
    """Every architecture name; answered from ``architectures.json`` (no torch) while the model
    modules are not imported, else from the registry."""
    catalog = _catalog()
    if not catalog:
        _ensure_loaded()
    return sorted(set(_ENTRYPOINTS) | set(catalog))


def get_model_cfg(name: str) -> ModelCfg:
    if name in _CFGS:
        return _CFGS[name]
    cfg = _catalog().get(name)
    if cfg is not None:
        return cfg
    _ensure_loaded()
    if name not in _CFGS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _CFGS[name]


def create_model(name: str, **kwargs: Any):
    """Build a registered network. Unknown names fail with the list of known ones.

    The returned module carries ``.cfg`` (a ModelCfg with ``kwargs`` filled in).
    """
    _ensure_loaded()
    cfg = get_model_cfg(name)
    model = _ENTRYPOINTS[name](**kwargs)
    model.cfg = cfg.replace(kwargs=dict(kwargs))
    return model
