"""What the model dropdown and the About box list.

The live dropdown lists trained models only (shipped and the user's), grouped by paper, each
with its measured accuracy and ms per face; untrained architectures belong to the training
wizard (and to ``--model ARCH``, which adds that one entry, marked untrained). Qt-free helpers
over ``ferapp.zoo.catalog`` (no torch: the window opens before torch is loaded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    ref: str | None  # what Pipeline.set_model receives (None: a group header, not selectable)
    text: str  # what the dropdown shows
    tooltip: str
    trained: bool

    @property
    def is_header(self) -> bool:
        return self.ref is None


PAPER_GROUPS = {
    "P1": "P1 · cross-connected LeNet-5", "P2": "P2 · deep residual networks",
    "P3": "P3 · dense CNN, HSIC bottleneck", "P4": "P4 · separable SE ResNet, center loss",
    "P5": "P5 · binarized dense CNN", "ensemble": "Ensembles", "": "Other models",
}


def trained_models() -> list:
    try:
        from ferapp.zoo.catalog import list_trained_models
    except ImportError:
        return []
    try:
        return list(list_trained_models())
    except Exception:  # noqa: BLE001 - a broken model folder must not take the window down
        log.exception("listing trained models failed")
        return []


def default_model() -> str | None:
    try:
        from ferapp.zoo.catalog import default_model_name

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


def short_metrics(entry) -> str:
    """'69.6% · 5.8 ms' for the dropdown (accuracy on the card's protocol, CPU ms per face)."""
    meta = dict(getattr(entry, "meta", None) or {})
    bits = []
    acc = meta.get("privatetest_acc")
    if not isinstance(acc, int | float):
        acc = getattr(entry, "accuracy", None)
    if isinstance(acc, int | float):
        bits.append(f"{acc * 100 if acc <= 1 else acc:.1f}%")
    lat = meta.get("latency_ms")
    if isinstance(lat, int | float):
        bits.append(f"{lat:.1f} ms")
    return " · ".join(bits)


def model_choices() -> list[ModelChoice]:
    """Group headers and trained models, in paper order (P1..P5, ensembles, others)."""
    groups: dict[str, list[ModelChoice]] = {k: [] for k in PAPER_GROUPS}
    for e in trained_models():
        cfg = getattr(e, "cfg", None)
        paper = "ensemble" if e.arch == "ensemble" else (getattr(cfg, "paper", "") if cfg is not None else "")
        paper = paper if paper in groups else ""
        tip = [f"{e.name} — architecture {e.arch}" + (f" ({paper})" if paper not in ("", "ensemble") else "")
               + ("" if e.shipped else " — your model")]
        acc = accuracy_text(e)
        tip.append(acc or "no measured accuracy in the model card")
        tip.append(str(e.path))
        m = short_metrics(e)
        groups[paper].append(ModelChoice(e.name, f"{e.name}   {m}" if m else e.name, "\n".join(tip), True))
    out: list[ModelChoice] = []
    for key, items in groups.items():
        if items:
            out.append(ModelChoice(None, PAPER_GROUPS[key], "", False))
            out.extend(items)
    return out


def untrained_choice(name: str) -> ModelChoice:
    """The entry ``--model ARCH`` adds for an architecture without trained weights."""
    return ModelChoice(name, f"{name} (untrained)",
                       f"Architecture {name} with random weights: predictions are meaningless until it is "
                       "trained (Tools > Train a model…).", False)
