"""What the model dropdown and the About box list: trained models first, then architectures.

Qt-free helpers over ``ferapp.zoo.store`` (trained weights with model cards) and
``ferapp.zoo.list_models`` (registered architectures, random weights when picked).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    ref: str  # what Pipeline.set_model receives
    text: str  # what the dropdown shows
    tooltip: str
    trained: bool


def trained_models() -> list:
    try:
        from ferapp.zoo.store import list_trained_models
    except ImportError:
        return []
    try:
        return list(list_trained_models())
    except Exception:  # noqa: BLE001 - a broken model folder must not take the window down
        log.exception("listing trained models failed")
        return []


def default_model() -> str | None:
    try:
        from ferapp.zoo.store import default_model_name

        return default_model_name()
    except Exception:  # noqa: BLE001
        return None


def architecture_cfgs() -> list[tuple[str, object]]:
    try:
        from ferapp.zoo import get_model_cfg, list_models

        return [(n, get_model_cfg(n)) for n in list_models()]
    except Exception:  # noqa: BLE001
        log.exception("listing architectures failed")
        return []


def accuracy_text(entry) -> str:
    meta = dict(getattr(entry, "meta", None) or {})
    bits = []
    acc = meta.get("privatetest_acc")
    what = "FER2013 PrivateTest accuracy"
    if not isinstance(acc, int | float):
        acc, what = getattr(entry, "accuracy", None), "accuracy"
    if isinstance(acc, int | float):
        bits.append(f"{what} {acc * 100 if acc <= 1 else acc:.2f}%")
    lat = meta.get("latency_ms")
    if isinstance(lat, int | float):
        bits.append(f"measured latency {lat:.1f} ms")
    return ", ".join(bits)


def model_choices() -> list[ModelChoice]:
    out: list[ModelChoice] = []
    for e in trained_models():
        cfg = getattr(e, "cfg", None)
        paper = getattr(cfg, "paper", "") if cfg is not None else ""
        tip = [f"{e.name} — architecture {e.arch}" + (f" ({paper})" if paper else "")]
        acc = accuracy_text(e)
        tip.append(acc or "no measured accuracy in the model card")
        tip.append(str(e.path))
        out.append(ModelChoice(e.name, e.name, "\n".join(tip), True))
    for name, cfg in architecture_cfgs():
        paper = getattr(cfg, "paper", "")
        out.append(ModelChoice(name, f"{name} (untrained)",
                               f"Architecture {name}{' (' + paper + ')' if paper else ''} with random weights:\n"
                               "predictions are meaningless until it is trained.", False))
    return out
