"""Model registry (timm-style): ``@register_model`` entry points, ``create_model``, ``list_models``.

Every registered entry point is a function ``fn(**kwargs) -> nn.Module`` that builds the
network; the ``ModelCfg`` passed to ``register_model`` describes its input spec, test-time
behaviour, paper and training recipe, and travels with trained weights (``config.json``).
"""

from __future__ import annotations

import dataclasses
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
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"hsic_beta": 100, "center_weight": 0.01}


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCfg:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        rec = dict(d.pop("recipe", {}) or {})
        rknown = {f.name for f in dataclasses.fields(Recipe)}
        rec = {k: v for k, v in rec.items() if k in rknown}
        if "augment" in rec:
            rec["augment"] = tuple(rec["augment"])
        d["input_size"] = tuple(d.get("input_size", (48, 48)))
        d["labels"] = tuple(d.get("labels", LABELS))
        return cls(recipe=Recipe(**rec), **d)

    def replace(self, **changes: Any) -> ModelCfg:
        return dataclasses.replace(self, **changes)


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


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_ENTRYPOINTS)


def get_model_cfg(name: str) -> ModelCfg:
    _ensure_loaded()
    if name not in _CFGS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_CFGS))}")
    return _CFGS[name]


def create_model(name: str, **kwargs: Any):
    """Build a registered network. Unknown names fail with the list of known ones.

    The returned module carries ``.cfg`` (a ModelCfg with ``kwargs`` filled in).
    """
    cfg = get_model_cfg(name)
    model = _ENTRYPOINTS[name](**kwargs)
    model.cfg = cfg.replace(kwargs=dict(kwargs))
    return model
