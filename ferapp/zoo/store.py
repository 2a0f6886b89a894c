"""Loading trained models for the engine, training and evaluation (listing them, torch-free,
is ``ferapp.zoo.catalog``'s; its names are re-exported here).

Two folders hold model folders (``<name>/config.json`` + weights, see ``ferapp.zoo.io``):

- shipped: ``<repo>/models`` (``FERAPP_MODELS_DIR`` overrides);
- user: ``platformdirs.user_data_dir("ferapp")/models`` (``FERAPP_USER_MODELS_DIR`` overrides).

Shipped names are reserved (``ferapp.zoo.names``): a user folder named like a shipped model is
ignored, with a warning, and the shipped model is used. ``LoadedModel.source`` says which store
(or file) a model came from; timelines record it as ``model_source``.
``resolve_model(ref)`` accepts a trained model name, a model folder, a checkpoint file, or a
registered architecture name (random init, meta ``{"trained": False}``).

Ensembles: a model folder whose config.json is ``{"ensemble": [ref, ...], "name": ..., "meta": {...}}``
(optionally ``"weights": [..]``) loads an ``EnsembleModel``: each member keeps its own input spec,
``classify_probs(crops_uint8)`` runs every member on the uint8 crops and averages their softmax
probabilities. Member refs resolve like ``resolve_model`` (paths relative to the ensemble folder).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ferapp.zoo.catalog import (  # noqa: F401  (re-exported: the listing, torch-free, lives there)
    FALLBACK_ARCH,
    ModelEntry,
    default_model_name,
    known_names,
    list_trained_models,
)
from ferapp.zoo.errors import CheckpointError
from ferapp.zoo.io import LoadedModel, load_checkpoint, load_model_dir
from ferapp.zoo.registry import ModelCfg, create_model, list_models

log = logging.getLogger(__name__)

_MAX_DEPTH = 2  # an ensemble may hold ensembles, which hold single models; no deeper
MAX_MEMBERS = 32  # member models loaded for one ensemble, all levels together


from ferapp.paths import shipped_models_dir, user_models_dir  # noqa: E402  (re-exported)
from ferapp.zoo.catalog import store_of as _store_of  # noqa: E402


def resolve_model(
    ref: str | os.PathLike, _base: Path | None = None, _depth: int = 0, _budget: list[int] | None = None
) -> LoadedModel:
    """Trained model name | model folder | checkpoint file | architecture name -> LoadedModel (eval).

    A name is looked up among the user's models, then the shipped ones (a shipped model's name
    always means the shipped model). ``source`` of the result: shipped | user | file | architecture."""
    if _depth > _MAX_DEPTH:
        raise CheckpointError(f"ensemble nesting deeper than {_MAX_DEPTH} levels at {ref!r}")
    s = os.fspath(ref)
    candidates = [Path(s)]
    if _base is not None and not Path(s).is_absolute():
        candidates.insert(0, _base / s)
    for p in candidates:
        if p.is_dir():
            loaded = load_model_dir(p, _depth=_depth, _budget=_budget)
            loaded.source = _store_of(p)
            return loaded
        if p.is_file():
            model, cfg, extra = load_checkpoint(p)
            meta = {
                "name": p.stem,
                "trained": True,
                **{k: v for k, v in extra.items() if not isinstance(v, dict)},
            }
            return LoadedModel(model=model, cfg=cfg, meta=meta, path=p, source="file")
    entry = next(
        (e for e in list_trained_models() if e.name == s), None
    )  # one per name: shipped ones reserved
    if entry is not None:
        loaded = load_model_dir(entry.path, _depth=_depth, _budget=_budget)
        loaded.source = "shipped" if entry.shipped else "user"
        return loaded
    if s in list_models():
        model = create_model(s).eval()
        return LoadedModel(
            model=model, cfg=model.cfg, meta={"name": s, "trained": False}, path=None, source="architecture"
        )
    raise KeyError(
        f"unknown model {s!r}: not a folder, checkpoint, trained model or architecture. "
        f"Known: {', '.join(known_names())}"
    )


class EnsembleModel(nn.Module):
    """Averages member softmax probabilities; members may have different input specs.

    Use ``classify_probs(crops_uint8)`` (list of uint8 (H, W[, 3]) crops or an (N, H, W[, 3])
    array) -> (N, K) float32 probabilities in ``cfg.labels`` order. ``forward(x)`` works only
    when every member shares one input spec (then it returns log of the averaged probabilities).
    """

    def __init__(
        self,
        members: list[LoadedModel],
        weights: list[float] | None = None,
        name: str = "ensemble",
        temperature: float = 1.0,
    ):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        labels = members[0].cfg.labels
        for m in members[1:]:
            if tuple(m.cfg.labels) != tuple(labels):
                raise CheckpointError(
                    f"ensemble member {m.name!r} has labels {m.cfg.labels}, expected {labels}"
                )
        self.members = list(members)
        self.nets = nn.ModuleList(m.model for m in members)
        w = np.asarray(weights if weights is not None else [1.0] * len(members), dtype=np.float64)
        if w.shape != (len(members),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("ensemble weights must be one non-negative number per member")
        self.weights = (w / w.sum()).tolist()
        first = members[0].cfg
        self.cfg = ModelCfg(
            name="ensemble",
            input_size=first.input_size,
            channels=first.channels,
            mean=first.mean,
            std=first.std,
            labels=tuple(labels),
            five_crop=first.five_crop,
            description=f"{name}: ensemble of {', '.join(m.name for m in members)}",
            kwargs={"members": [m.name for m in members]},
            temperature=float(temperature),
        ).validate()

    @property
    def same_input_spec(self) -> bool:
        keys = {
            (m.cfg.input_size, m.cfg.channels, m.cfg.mean, m.cfg.std, m.cfg.five_crop) for m in self.members
        }
        return len(keys) == 1

    def classify_probs(self, crops, batch: int = 256) -> np.ndarray:
        from ferapp.zoo.predict import predict_probs

        total = None
        for w, m in zip(self.weights, self.members, strict=True):
            p = predict_probs(m.model, m.cfg, crops, batch=batch).astype(np.float64) * w
            total = p if total is None else total + p
        if self.cfg.temperature != 1.0 and total is not None:  # calibration of the averaged probabilities
            z = np.log(np.clip(total, 1e-12, None)) / self.cfg.temperature
            z = np.exp(z - z.max(1, keepdims=True))
            total = z / z.sum(1, keepdims=True)
        return total.astype(np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same_input_spec:
            raise RuntimeError(
                "ensemble members have different input specs: call classify_probs(crops_uint8)"
            )
        from ferapp.zoo.predict import logits_from_input

        probs = sum(
            w * torch.softmax(logits_from_input(m.model, x, m.cfg), dim=1)
            for w, m in zip(self.weights, self.members, strict=True)
        )
        return torch.log(probs.clamp_min(1e-12))


def load_ensemble(
    directory: Path,
    raw: dict[str, Any],
    meta: dict[str, Any],
    _depth: int = 0,
    _budget: list[int] | None = None,
) -> LoadedModel:
    where = f"{directory}/config.json"
    refs = raw.get("ensemble", meta.get("ensemble"))
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise CheckpointError(f"{where}: 'ensemble' must be a non-empty list of model names")
    weights = raw.get("weights")
    if weights is not None:
        if not (
            isinstance(weights, list)
            and len(weights) == len(refs)
            and all(
                isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
                for w in weights
            )
            and sum(weights) > 0
        ):
            raise CheckpointError(
                f"{where}: 'weights' must be {len(refs)} finite non-negative numbers "
                f"with a positive sum, not {weights!r}"
            )
    budget = _budget if _budget is not None else [0]
    budget[0] += len(refs)
    if budget[0] > MAX_MEMBERS:
        raise CheckpointError(
            f"{where}: more than {MAX_MEMBERS} member models in all (nested ensembles multiply): refused"
        )
    members = [resolve_model(r, _base=directory, _depth=_depth + 1, _budget=budget) for r in refs]
    if "labels" in raw and tuple(raw["labels"] or ()) != tuple(members[0].cfg.labels):
        raise CheckpointError(
            f"{where}: 'labels' {raw['labels']!r} differ from the members' {list(members[0].cfg.labels)}"
        )
    untrained = [m.name for m in members if not m.trained]
    if untrained:
        log.warning("ensemble %s has untrained members: %s", directory.name, untrained)
    try:
        ens = EnsembleModel(
            members, weights, name=directory.name, temperature=raw.get("temperature", 1.0)
        ).eval()
    except ValueError as e:
        raise CheckpointError(f"{where}: {e}") from None
    meta = dict(meta)
    meta.setdefault("name", directory.name)
    return LoadedModel(model=ens, cfg=ens.cfg, meta=meta, path=directory)


__all__ = [
    "ModelEntry",
    "EnsembleModel",
    "list_trained_models",
    "resolve_model",
    "default_model_name",
    "user_models_dir",
    "shipped_models_dir",
    "known_names",
    "load_ensemble",
]
