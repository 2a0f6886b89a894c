"""What the model dropdown and the About box list.

The live dropdown lists trained models only (shipped and the user's), grouped by paper, each
with its measured accuracy, the dataset and protocol it was measured on (``ferapp.scope``)
and ms per face; untrained architectures belong to the training wizard (and to ``--model
ARCH``, which adds that one entry, marked untrained). Qt-free helpers over ``ferapp.zoo.catalog``
and the registry (no torch: the window opens before torch is loaded).
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
    name: str = ""  # the model's name and its figures, the two parts of ``text`` (for eliding the name)
    detail: str = ""

    @property
    def is_header(self) -> bool:
        return self.ref is None


def paper_groups() -> dict[str, str]:
    """The dropdown's group headers by a model's ``paper``, in order: every registered paper
    ("P5 · binarized dense CNN", declared in its model's module), then ensembles, then the rest."""
    try:
        from ferapp.zoo import list_papers

        papers = {p.key: p.label for p in list_papers()}
    except Exception:  # a broken model module must not take the window down
        log.exception("listing the papers failed")
        papers = {}
    return {**papers, "ensemble": "Ensembles", "": "Other models"}


def trained_models() -> list:
    try:
        from ferapp.zoo.catalog import list_trained_models
    except ImportError:
        return []
    try:
        return list(list_trained_models())
    except Exception:  # a broken model folder must not take the window down
        log.exception("listing trained models failed")
        return []


def find_model(name: str):
    """The trained model entry named ``name`` (user models first), or None."""
    return next((e for e in trained_models() if e.name == name), None)


def default_model() -> str | None:
    try:
        from ferapp.zoo.catalog import default_model_name

        return default_model_name()
    except Exception:
        return None


def architecture_cfgs() -> list[tuple[str, object]]:
    try:
        from ferapp.zoo import get_model_cfg, list_models

        return [(n, get_model_cfg(n)) for n in list_models()]
    except Exception:
        log.exception("listing architectures failed")
        return []


def _score(entry) -> tuple[float | None, str]:
    from ferapp.scope import model_score

    return model_score(getattr(entry, "meta", None))


def weak_reason(entry) -> str:
    """Why ``entry`` should not be made the live model ("" when nothing speaks against it): the
    run that trained it did not beat the majority-class / chance baselines."""
    from ferapp.scope import beats_baselines

    meta = dict(getattr(entry, "meta", None) or {})
    if beats_baselines(meta) is not False:
        return ""
    base = meta.get("baselines") or {}
    acc, maj, chance = (base.get(k) for k in ("accuracy", "majority", "chance"))
    if all(isinstance(v, int | float) for v in (acc, maj, chance)):
        return (
            f"its accuracy ({100 * acc:.1f}%) is not above the majority-class ({100 * maj:.1f}%) and chance "
            f"({100 * chance:.1f}%) baselines of its test data"
        )
    return "it did not beat the majority-class and chance baselines of its test data"


def accuracy_text(entry) -> str:
    """ "accuracy 84.13% on CK+48 subject 5-fold, measured latency 1.5 ms" (tooltips, About box)."""
    acc, where = _score(entry)
    meta = dict(getattr(entry, "meta", None) or {})
    bits = []
    if acc is not None:
        bits.append(f"accuracy {acc * 100:.2f}% " + (f"on {where}" if where else "(test set not recorded)"))
    lat = meta.get("latency_ms")
    if isinstance(lat, int | float):
        bits.append(f"measured latency {lat:.1f} ms")
    return ", ".join(bits)


def short_metrics(entry) -> str:
    """'69.5% FER2013 PrivateTest · 5.8 ms' for the dropdown: the accuracy with the data and
    protocol it was measured on (different scales are never shown as one), CPU ms per face,
    and '· below baseline' for a model that did not beat guessing."""
    acc, where = _score(entry)
    meta = dict(getattr(entry, "meta", None) or {})
    bits = []
    if acc is not None:
        bits.append(f"{acc * 100:.1f}% {where}".strip())
    lat = meta.get("latency_ms")
    if isinstance(lat, int | float):
        bits.append(f"{lat:.1f} ms")
    if weak_reason(entry):
        bits.append("below baseline")
    return " · ".join(bits)


def model_choices() -> list[ModelChoice]:
    """Group headers and trained models, in paper order (P1, P2, ..., ensembles, others)."""
    headers = paper_groups()
    groups: dict[str, list[ModelChoice]] = {k: [] for k in headers}
    for e in trained_models():
        cfg = getattr(e, "cfg", None)
        paper = "ensemble" if e.arch == "ensemble" else (getattr(cfg, "paper", "") if cfg is not None else "")
        paper = paper if paper in groups else ""
        tip = [
            f"{e.name} — architecture {e.arch}"
            + (f" ({paper})" if paper not in ("", "ensemble") else "")
            + ("" if e.shipped else " — your model")
        ]
        acc = accuracy_text(e)
        tip.append(acc or "no measured accuracy in the model card")
        weak = weak_reason(e)
        if weak:
            tip.append(f"Not recommended for live use: {weak}.")
        tip.append(str(e.path))
        m = short_metrics(e)
        groups[paper].append(
            ModelChoice(
                e.name, f"{e.name}   {m}" if m else e.name, "\n".join(tip), True, name=e.name, detail=m
            )
        )
    out: list[ModelChoice] = []
    for key, items in groups.items():
        if items:
            out.append(ModelChoice(None, headers[key], "", False))
            out.extend(items)
    return out


def untrained_choice(name: str) -> ModelChoice:
    """The entry ``--model ARCH`` adds for an architecture without trained weights."""
    return ModelChoice(
        name,
        f"{name} (untrained)",
        f"Architecture {name} with random weights: predictions are meaningless until it is "
        "trained (Tools > Train a model…).",
        False,
    )
