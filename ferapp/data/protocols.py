"""Named, reusable evaluation protocols: every reported number says which one it used.

* ``official``      the dataset's own split (FER2013 Training/PublicTest/PrivateTest ->
                    train/val/test; Kaggle folders train/test -> train (10 % stratified val
                    carved out) / test).
* ``kfold-<k>``     stratified k-fold over images; val carved (stratified) from the train part.
* ``subject-<k>fold`` subject-independent k-fold: each subject's images sit in exactly one
                    test fold; val subjects are carved from the train subjects, so no subject is
                    ever on two sides.
* ``holdout-<pct>`` one stratified split, pct % test, 10 % of the rest as val.
* presets: ``p1-jaffe`` (kfold-3), ``p1-ck`` (subject-5fold), ``p2`` (kfold-10), ``p4``
  (subject-10fold), ``p5`` (official, five-crop voting at test time).

Folds are deterministic for a given ``seed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ferapp.data.base import FaceDataset

VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Fold:
    name: str
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray


@dataclass(frozen=True)
class Protocol:
    name: str
    kind: str  # "official" | "kfold" | "subject" | "holdout"
    k: int = 1
    test_fraction: float = 0.0
    val_fraction: float = VAL_FRACTION
    note: str = ""

    @property
    def subject_independent(self) -> bool:
        return self.kind == "subject"

    def describe(self) -> str:
        if self.kind == "official":
            s = (
                "official split of the dataset (FER2013: Training/PublicTest/PrivateTest = train/val/test; "
                f"train/test folders: {self.val_fraction:.0%} stratified val carved from train)"
            )
        elif self.kind == "kfold":
            s = (
                f"stratified {self.k}-fold cross-validation over images (not subject-independent); "
                f"{self.val_fraction:.0%} of each training part held out as val"
            )
        elif self.kind == "subject":
            s = (
                f"subject-independent {self.k}-fold cross-validation (no subject in two parts); "
                f"~{self.val_fraction:.0%} of training subjects held out as val"
            )
        else:
            s = f"stratified hold-out: {self.test_fraction:.0%} test, {self.val_fraction:.0%} of the rest val"
        return f"{self.name}: {s}" + (f"; {self.note}" if self.note else "")

    def folds(self, dataset: FaceDataset, seed: int = 0) -> list[Fold]:
        rng = np.random.default_rng(seed)
        labels = np.asarray(dataset.labels)
        n = len(labels)
        if n == 0:
            raise ValueError("empty dataset")
        if self.kind == "official":
            return [_official(self.name, dataset, rng, self.val_fraction)]
        if self.kind == "holdout":
            test = _stratified_take(np.arange(n), labels, self.test_fraction, rng)
            rest = np.setdiff1d(np.arange(n), test)
            val = _stratified_take(rest, labels, self.val_fraction, rng)
            return [Fold(f"{self.name}", np.setdiff1d(rest, val), np.sort(val), np.sort(test))]
        if self.kind == "kfold":
            assign = _stratified_assign(labels, self.k, rng)
            out = []
            for f in range(self.k):
                test = np.flatnonzero(assign == f)
                rest = np.flatnonzero(assign != f)
                val = _stratified_take(rest, labels, self.val_fraction, rng)
                out.append(Fold(f"{self.name}/fold{f + 1}", np.setdiff1d(rest, val), np.sort(val), test))
            return out
        # subject-independent
        subjects = np.asarray(dataset.subjects, dtype=str)
        if n and (subjects == "").any():
            raise ValueError(
                f"protocol {self.name} needs a subject id for every sample; "
                f"{int((subjects == '').sum())} have none (this dataset has no subject ids)"
            )
        uniq, inv, counts = np.unique(subjects, return_inverse=True, return_counts=True)
        if len(uniq) < self.k:
            raise ValueError(
                f"protocol {self.name} needs at least {self.k} subjects, dataset has {len(uniq)}"
            )
        subj_fold = _balanced_groups(counts, self.k, rng)
        out = []
        for f in range(self.k):
            test_s = np.flatnonzero(subj_fold == f)
            train_s = np.flatnonzero(subj_fold != f)
            n_val = max(1, int(round(self.val_fraction * len(train_s)))) if len(train_s) >= 2 else 0
            val_s = rng.permutation(train_s)[:n_val]
            test = np.flatnonzero(np.isin(inv, test_s))
            val = np.flatnonzero(np.isin(inv, val_s))
            train = np.flatnonzero(~np.isin(inv, test_s) & ~np.isin(inv, val_s))
            out.append(Fold(f"{self.name}/fold{f + 1}", train, val, test))
        return out


def _stratified_assign(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id per sample: each class dealt round-robin over folds, continuing where the last class ended."""
    assign = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        assign[idx] = (np.arange(len(idx)) + offset) % k
        offset = (offset + len(idx)) % k
    return assign


def _stratified_take(
    pool: np.ndarray, labels: np.ndarray, frac: float, rng: np.random.Generator
) -> np.ndarray:
    """round(frac * len(pool)) samples, allocated to classes by largest remainder.

    A class never gives up its last sample, so every class present in the pool stays in it.
    """
    classes, counts = np.unique(labels[pool], return_counts=True)
    if len(pool) == 0 or frac <= 0:
        return np.zeros(0, np.int64)
    want = frac * counts
    m = np.floor(want).astype(np.int64)
    extra = int(round(frac * len(pool))) - int(m.sum())
    if extra > 0:
        tie = rng.random(len(classes))
        order = np.lexsort((tie, -(want - m)))
        m[order[:extra]] += 1
    m = np.minimum(m, counts - 1)
    take = []
    for c, k in zip(classes, m, strict=True):
        if k > 0:
            take.append(rng.permutation(pool[labels[pool] == c])[:k])
    return np.sort(np.concatenate(take)) if take else np.zeros(0, np.int64)


def _balanced_groups(counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Assign groups to k folds, largest first into the currently smallest fold (random tie order)."""
    order = rng.permutation(len(counts))
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(k, dtype=np.int64)
    fold = np.empty(len(counts), dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold[g] = f
        load[f] += counts[g]
    return fold


def _official(name: str, ds: FaceDataset, rng: np.random.Generator, val_fraction: float) -> Fold:
    sp = np.char.lower(np.asarray(ds.splits, dtype=str))
    if (sp == "").all():
        raise ValueError(
            f"protocol {name}: dataset {ds.report.format} has no official split; use kfold-<k> or subject-<k>fold"
        )
    train = np.flatnonzero(np.isin(sp, ["training", "train"]))
    val = np.flatnonzero(np.isin(sp, ["publictest", "val", "valid", "validation"]))
    test = np.flatnonzero(np.isin(sp, ["privatetest", "test"]))
    if len(train) == 0 or len(test) == 0:
        raise ValueError(
            f"protocol {name}: dataset has splits {sorted(set(sp.tolist()))}, need a train and a test split"
        )
    if len(val) == 0:
        val = _stratified_take(train, np.asarray(ds.labels), val_fraction, rng)
        train = np.setdiff1d(train, val)
    return Fold(f"{name}", train, val, test)


PRESETS: dict[str, Protocol] = {
    "official": Protocol("official", "official"),
    "p1-jaffe": Protocol("p1-jaffe", "kfold", k=3, note="P1 (cross-connected LeNet-5) JAFFE protocol"),
    "p1-ck": Protocol("p1-ck", "subject", k=5, note="P1 CK+ protocol, made subject-independent"),
    "p2": Protocol("p2", "kfold", k=10, note="P2 (ResNet) KDEF+CK+ 10-fold stratified by class"),
    "p4": Protocol("p4", "subject", k=10, note="P4 (SE-ResNet) protocol, made subject-independent"),
    "p5": Protocol(
        "p5", "official", note="P5 (BDNN): FER2013 PrivateTest with five-crop voting at test time"
    ),
}

_PATTERNS = [
    (re.compile(r"^kfold-(\d+)$"), lambda m, n: Protocol(n, "kfold", k=int(m.group(1)))),
    (re.compile(r"^subject-(\d+)fold$"), lambda m, n: Protocol(n, "subject", k=int(m.group(1)))),
    (
        re.compile(r"^holdout-(\d+)$"),
        lambda m, n: Protocol(n, "holdout", test_fraction=int(m.group(1)) / 100),
    ),
]


def get_protocol(name: str) -> Protocol:
    key = name.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    for pat, make in _PATTERNS:
        m = pat.match(key)
        if m:
            p = make(m, key)
            if p.kind in ("kfold", "subject") and p.k < 2:
                raise ValueError(f"protocol {name!r}: k must be at least 2")
            if p.kind == "holdout" and not 0 < p.test_fraction < 1:
                raise ValueError(f"protocol {name!r}: percentage must be between 1 and 99")
            return p
    raise ValueError(f"unknown protocol {name!r}; known: {', '.join(list_protocols())}")


def list_protocols() -> list[str]:
    return list(PRESETS) + ["kfold-<k>", "subject-<k>fold", "holdout-<pct>"]
