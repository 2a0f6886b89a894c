"""Protocol planning for a loaded dataset: can this protocol run on it, and what are its folds?

Qt-free (the training wizard's settings page shows the result). ``plan_protocol(ds, name,
seed)`` builds the protocol's folds once and returns a :class:`ProtocolPlan`: why the protocol
cannot run on the dataset, else a description of its folds. :class:`ProtocolPlanner` caches
the plans per (dataset, protocol name, seed), so validating an unchanged choice again (each
keystroke in an editable protocol box, each ``isComplete``) does not rebuild the folds.
``choose_protocol`` picks the default: the paper's own preset when the data allow it, else the
closest fallback that fits. ``without_empty_classes`` is what a run trains on: only the classes
that have images (a model never gets an output for a class it has never seen).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from ferapp.data.base import FaceDataset
from ferapp.data.protocols import get_protocol

# Offered for every model, in this order; the paper's presets are appended after them.
BASIC_PROTOCOLS = ("official", "kfold-5", "subject-5fold", "subject-3fold", "holdout-20")
# When no preset of the paper fits: the first of these that does, else LAST_RESORT.
FALLBACK_PROTOCOLS = ("subject-5fold", "subject-3fold", "kfold-5", "official")
LAST_RESORT = "kfold-5"


@dataclass(frozen=True)
class ProtocolPlan:
    """What ``name`` gives on one dataset. ``error`` is "" when it can run; ``n_folds`` is 0 when
    no folds were built (an error, or no dataset to build them on). Counts are of fold 1."""

    name: str
    error: str = ""
    description: str = ""  # Protocol.describe()
    n_folds: int = 0
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    warning: str = (
        ""  # it runs, but the figure it gives is not what one may think (e.g. not subject-independent)
    )

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def summary(self) -> str:
        """ "5 fold(s); fold 1: 40 train / 4 val / 12 test images" ("" without folds)."""
        if not self.n_folds:
            return ""
        return (
            f"{self.n_folds} fold(s); fold 1: {self.n_train} train / {self.n_val} val / "
            f"{self.n_test} test images"
        )


def plan_protocol(ds: FaceDataset | None, name: str, seed: int = 0) -> ProtocolPlan:
    """Validate ``name`` and, with a dataset, build its folds (uncached; see ProtocolPlanner)."""
    name = name.strip()
    try:
        proto = get_protocol(name)
    except ValueError as e:
        return ProtocolPlan(name, error=str(e))
    if ds is None:
        return ProtocolPlan(name)
    try:
        folds = proto.folds(ds, seed=seed)
    except Exception as e:  # the reason is shown to the user
        return ProtocolPlan(name, error=f"{proto.name} does not fit this dataset: {e}")
    if not folds:
        return ProtocolPlan(name, error=f"{proto.name} gives no folds on this dataset")
    f = folds[0]
    if len(f.train_idx) < 2 or len(f.test_idx) == 0:
        return ProtocolPlan(
            name,
            error=(
                f"{proto.name}: fold 1 has {len(f.train_idx)} training and "
                f"{len(f.test_idx)} test images; choose fewer folds or another protocol"
            ),
        )
    return ProtocolPlan(
        name,
        description=proto.describe(),
        n_folds=len(folds),
        n_train=len(f.train_idx),
        n_val=len(f.val_idx),
        n_test=len(f.test_idx),
        warning=subject_warning(ds, proto),
    )


def subject_warning(ds: FaceDataset, proto) -> str:
    """Why ``proto``'s figure on ``ds`` is optimistic: images are split without regard to who is
    in them although the dataset knows its subjects, so the same person can be in training and
    test ("" when the protocol is subject-independent or the dataset has no subject ids)."""
    if proto.subject_independent or proto.kind == "official" or not ds.report.num_subjects:
        return ""
    return (
        f"{proto.name} is not subject-independent: photos of the same person can be in both the training and "
        "the test part, so the accuracy is higher than on new people. Choose subject-<k>fold for a figure "
        "on unseen people."
    )


class ProtocolPlanner:
    """``plan_protocol`` with a cache per (dataset, stripped name, seed).

    It holds the dataset weakly and plans for one dataset at a time: another dataset (a reload,
    even of the same files) empties the cache. At most ``maxsize`` plans are kept (least
    recently used dropped). ``builds`` counts the plans actually computed.
    """

    def __init__(self, maxsize: int = 64):
        self.maxsize = max(1, int(maxsize))
        self.builds = 0
        self._ds_ref: weakref.ref | None = None
        self._cache: OrderedDict[tuple[str, int], ProtocolPlan] = OrderedDict()

    def clear(self) -> None:
        self._cache.clear()
        self._ds_ref = None

    def plan(self, ds: FaceDataset | None, name: str, seed: int = 0) -> ProtocolPlan:
        if ds is None:
            same = self._ds_ref is None
        else:
            same = self._ds_ref is not None and self._ds_ref() is ds
        if not same:
            self._cache.clear()
            self._ds_ref = weakref.ref(ds) if ds is not None else None
        key = (name.strip(), int(seed))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        plan = plan_protocol(ds, name, seed)
        self.builds += 1
        self._cache[key] = plan
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return plan

    def error(self, ds: FaceDataset | None, name: str, seed: int = 0) -> str:
        return self.plan(ds, name, seed).error


@dataclass(frozen=True)
class ProtocolChoice:
    """The protocol box of one model on one dataset: its items, the default and why."""

    items: tuple[str, ...]  # BASIC_PROTOCOLS + the paper's presets not among them
    paper_presets: tuple[str, ...]  # the paper's own protocols (may be empty)
    default: str
    paper_fits: bool  # the default is one of the paper's presets
    paper_error: str = ""  # why the paper's first preset does not fit ("" when it does, or none)


def paper_protocols(paper: str) -> tuple[str, ...]:
    """The preset(s) paper ``paper`` ("P1") measured its numbers with, as its model module
    declares them (``ferapp.zoo.Paper.protocols``); () for no paper or an unknown one."""
    from ferapp.zoo.registry import get_paper

    found = get_paper(paper) if paper else None
    return tuple(found.protocols) if found is not None else ()


def choose_protocol(
    ds: FaceDataset | None, paper: str, seed: int = 0, planner: ProtocolPlanner | None = None
) -> ProtocolChoice:
    """The paper's preset when it runs on ``ds``, else the first fallback that does."""
    planner = planner or ProtocolPlanner()
    presets = paper_protocols(paper)
    items = tuple(BASIC_PROTOCOLS) + tuple(p for p in presets if p not in BASIC_PROTOCOLS)
    default = next(
        (p for p in (*presets, *FALLBACK_PROTOCOLS) if not planner.error(ds, p, seed)), LAST_RESORT
    )
    fits = bool(presets) and default in presets
    paper_error = planner.error(ds, presets[0], seed) if presets and not fits else ""
    return ProtocolChoice(items, presets, default, fits, paper_error)


def without_empty_classes(ds: FaceDataset) -> tuple[FaceDataset, tuple[str, ...]]:
    """``ds`` relabelled to the classes that have at least one image, and the names dropped.

    A class without images must not become a model output: nothing ever trains its logit up or
    down, so an under-trained network predicts it wherever its random start put it (lenet5 on
    CK+48, which has no neutral images, predicted "neutral" for every test image after one
    epoch: 0.0 % on every fold). Label indices keep their order, so folds are unchanged."""
    counts = np.bincount(np.asarray(ds.labels), minlength=len(ds.label_names))
    keep = np.flatnonzero(counts > 0)
    if len(keep) == len(ds.label_names):
        return ds, ()
    new_index = np.full(len(ds.label_names), -1, np.int64)
    new_index[keep] = np.arange(len(keep))
    soft = None
    if ds.soft_labels is not None:  # votes for a dropped class are spread over the others (rows sum to 1)
        soft = np.asarray(ds.soft_labels[:, keep], np.float32)
        rows = soft.sum(1, keepdims=True)
        soft = np.divide(soft, rows, out=np.zeros_like(soft), where=rows > 0)
    out = replace(
        ds,
        labels=new_index[np.asarray(ds.labels)],
        label_names=tuple(ds.label_names[i] for i in keep),
        soft_labels=soft,
    )
    return out, tuple(n for n, c in zip(ds.label_names, counts, strict=True) if c == 0)
