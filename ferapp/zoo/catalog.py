"""What models exist, answered without importing torch: ``ferapp models``, the window's model
dropdown and the CLI's argument checks list models this way, so they cost no ``import torch``
(~2.5-3 CPU-s on a 2-core laptop CPU); loading a model (``ferapp.zoo.store``) does import it.

- trained models: the model folders' ``config.json`` (``read_config``: a regular file, at most
  ``MAX_CONFIG_BYTES``, so a FIFO or a huge file cannot hang or blow up a listing;
  ``config_to_cfg``), user models first, then shipped ones; shipped names are reserved (a
  user folder named like one is left out, with a warning);
- architectures and papers: ``architectures.json``, the registered architectures' configs
  and their papers' declarations (key, title, protocols, in registration order) as
  ``ferapp.zoo.registry`` holds them once the model modules are imported. It is generated
  from the registry (``python -m ferapp.zoo.catalog``) and a test checks it still matches, so
  it is a cache of the registry, never a second source: the registry answers from it only
  while the model modules are not imported.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferapp.paths import shipped_models_dir, user_models_dir
from ferapp.safeio import read_bounded
from ferapp.scope import model_accuracy
from ferapp.zoo.errors import CheckpointError
from ferapp.zoo.registry import _LEGACY_CFG_KEYS, ModelCfg, Paper, Recipe, list_models

log = logging.getLogger("ferapp.zoo.store")  # the messages of listing models, as before the split

FALLBACK_ARCH = "cc_lenet5"
ARCHITECTURES_FILE = Path(__file__).with_name("architectures.json")
MAX_CONFIG_BYTES = 1024 * 1024  # a config.json ferapp writes is ~8 KB
_CFG_KEYS = set(ModelCfg.__dataclass_fields__)
_FORMAT_KEYS = {"format", "format_version", "arch", "meta", *_LEGACY_CFG_KEYS}


# ---------------------------------------------------------------------------- config.json
def store_of(path: Path) -> str:
    """ "shipped" / "user" for a folder inside a model store, else "file"."""
    parent = Path(path).resolve().parent
    for root, name in ((shipped_models_dir(), "shipped"), (user_models_dir(), "user")):
        try:
            if parent == root.resolve():
                return name
        except OSError:
            continue
    return "file"


def find_model_folder(ref: str) -> tuple[Path, str] | None:
    """(folder, source) of a trained model named or given by path, found without torch; None for a
    checkpoint file, an architecture name or an unknown name (``ferapp.zoo.store.resolve_model``
    answers those)."""
    p = Path(ref)
    if p.is_dir():
        return p, store_of(p)
    if p.exists():
        return None
    entry = next((e for e in list_trained_models() if e.name == ref), None)
    if entry is None:
        return None
    return entry.path, "shipped" if entry.shipped else "user"


def read_config(directory: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.json -> (raw dict, meta). meta = config["meta"] + unknown top-level keys (e.g.
    "ensemble", "default") + the entries of meta["metrics"] (if any) lifted to the top."""
    p = Path(directory) / "config.json"
    try:
        raw = json.loads(read_bounded(p, MAX_CONFIG_BYTES).decode("utf-8"))  # regular file, bounded
    except FileNotFoundError:
        raise CheckpointError(f"{directory}: no config.json (not a model folder)") from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise CheckpointError(f"{p}: unreadable config ({exc})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{p}: config must be a JSON object")
    meta = dict(raw.get("meta") or {})
    for k, v in raw.items():
        if k not in _CFG_KEYS and k not in _FORMAT_KEYS:
            meta.setdefault(k, v)
    metrics = meta.get("metrics")
    if isinstance(metrics, dict):
        for k, v in metrics.items():
            meta.setdefault(k, v)
    return raw, meta


def config_to_cfg(raw: dict[str, Any]) -> ModelCfg:
    """The ModelCfg of a config.json (format keys and ``meta`` aside; other top-level keys are
    metadata, kept in ``meta`` by ``read_config``); ``name`` defaults to ``arch``."""
    d = {k: v for k, v in raw.items() if k in _CFG_KEYS or k in _LEGACY_CFG_KEYS}
    if not d.get("name"):
        d["name"] = raw.get("arch") or ""
    return ModelCfg.from_dict(d)


# ---------------------------------------------------------------------------- trained models
@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    arch: str  # registered architecture, or "ensemble"
    cfg: ModelCfg
    meta: dict[str, Any] = field(default_factory=dict)
    shipped: bool = False

    @property
    def accuracy(self) -> float | None:
        """As a fraction, read as every model list shows it (``ferapp.scope.model_accuracy``)."""
        return model_accuracy(self.meta)


def _scan(root: Path, shipped: bool) -> list[ModelEntry]:
    out: list[ModelEntry] = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if not (d / "config.json").is_file():
            continue
        try:
            raw, meta = read_config(d)
            if "ensemble" in raw or "ensemble" in meta:
                members = raw.get("ensemble", meta.get("ensemble"))
                cfg = ModelCfg(
                    name="ensemble", description=f"ensemble of {', '.join(map(str, members or ()))}"
                )
                arch = "ensemble"
            else:
                cfg = config_to_cfg(raw)
                arch = cfg.name
        except Exception as exc:  # a broken folder must not hide the others
            log.warning("skipping model folder %s: %s", d, exc)
            continue
        out.append(ModelEntry(name=d.name, path=d, arch=arch, cfg=cfg, meta=meta, shipped=shipped))
    return out


_warned_shadowing: set[Path] = set()


def list_trained_models() -> list[ModelEntry]:
    """User models first, then shipped ones (each sorted by name). A user folder that has a
    shipped model's name (in any letter case; made by hand or by an older ferapp) is left out."""
    shipped = _scan(shipped_models_dir(), True)
    reserved = {e.name.lower() for e in shipped}
    user = []
    for e in _scan(user_models_dir(), False):
        if e.name.lower() in reserved:
            if e.path not in _warned_shadowing:
                _warned_shadowing.add(e.path)
                log.warning(
                    "ignoring user model %s: %s is the name of a shipped model (using the shipped model; "
                    "rename the folder to use yours)",
                    e.path,
                    e.name,
                )
            continue
        user.append(e)
    return user + shipped


def known_names() -> list[str]:
    return sorted({e.name for e in list_trained_models()}) + list_models()


def default_model_name() -> str:
    """Shipped model marked default -> best-accuracy trained model -> untrained cc_lenet5."""
    entries = list_trained_models()
    for e in entries:
        if e.shipped and e.meta.get("default") is True:
            return e.name
    scored = [(e.accuracy, e.name) for e in entries if e.accuracy is not None]
    if scored:
        return max(scored)[1]
    return FALLBACK_ARCH


# ---------------------------------------------------------------------------- architectures
@dataclass(frozen=True)
class Snapshot:
    """What ``architectures.json`` holds: the shipped architectures' configs and their papers."""

    cfgs: dict[str, ModelCfg]
    recipes: dict[str, Recipe]  # their training recipes (the training wizard shows them without torch)
    papers: tuple[Paper, ...]  # in registration order (P1, P2, ...)


@functools.cache
def snapshot() -> Snapshot | None:
    """``architectures.json`` read (None if it is missing: the registry then imports the model
    modules, as before)."""
    try:
        raw = json.loads(ARCHITECTURES_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Snapshot(
        cfgs={name: ModelCfg.from_dict(d) for name, d in raw["architectures"].items()},
        recipes={name: Recipe.from_dict(d) for name, d in raw["recipes"].items()},
        papers=tuple(Paper(p["key"], p["title"], tuple(p["protocols"])) for p in raw["papers"]),
    )


def registry_snapshot() -> dict[str, Any]:
    """The registry's shipped architectures and their papers as ``architectures.json`` holds
    them (imports the model modules)."""
    import ferapp.zoo.models  # noqa: F401  (fills the registry)
    from ferapp.zoo.registry import _MODELS, _PAPERS

    shipped = {
        name: e for name, e in sorted(_MODELS.items()) if e.fn.__module__.startswith("ferapp.zoo.models.")
    }
    keys = {e.cfg.paper for e in shipped.values()}
    return {
        "architectures": {name: e.cfg.to_dict() for name, e in shipped.items()},
        "recipes": {name: e.recipe.to_dict() for name, e in shipped.items()},
        "papers": [
            {"key": p.key, "title": p.title, "protocols": list(p.protocols)}
            for p in _PAPERS.values()
            if p.key in keys
        ],
    }


def write_architectures(path: Path = ARCHITECTURES_FILE) -> Path:
    path.write_text(json.dumps(registry_snapshot(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    snapshot.cache_clear()
    return path


if __name__ == "__main__":
    print(f"written: {write_architectures()}")
