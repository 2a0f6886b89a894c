"""Evaluation protocols: folds partition the data, subjects never cross sides, stratification
holds, and the same seed gives the same folds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferapp.data import get_protocol, list_protocols
from ferapp.data.assemble import make_dataset
from ferapp.labels import LABELS


def _ds(labels, subjects=None, splits=None):
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    subjects = np.asarray(subjects if subjects is not None else [""] * n, dtype=str)
    splits = np.asarray(splits if splits is not None else [""] * n, dtype=str)
    images = np.zeros((n, 4, 4), np.uint8)
    return make_dataset(
        "test", "mem", images, labels, LABELS, splits, subjects, [f"row:{i}" for i in range(n)], [], []
    )


def _check_partition(folds, n, k_expected):
    assert len(folds) == k_expected
    test_cover = np.concatenate([f.test_idx for f in folds])
    assert sorted(test_cover.tolist()) == list(range(n))  # every sample tested exactly once
    for f in folds:
        parts = [set(f.train_idx.tolist()), set(f.val_idx.tolist()), set(f.test_idx.tolist())]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert len(parts[0]) + len(parts[1]) + len(parts[2]) == n
        assert len(f.train_idx) > 0


def test_kfold_partition_stratified_deterministic():
    rng = np.random.default_rng(1)
    labels = rng.choice(7, size=700, p=[0.3, 0.05, 0.1, 0.25, 0.1, 0.1, 0.1])
    ds = _ds(labels)
    folds = get_protocol("kfold-5").folds(ds, seed=3)
    _check_partition(folds, len(ds), 5)
    for f in folds:
        for c in range(7):
            total = int((labels == c).sum())
            assert abs(int((labels[f.test_idx] == c).sum()) - total / 5) <= 1
            # val carved from train, stratified: about 10 % of the class's training part
            train_part = total - int((labels[f.test_idx] == c).sum())
            assert abs(int((labels[f.val_idx] == c).sum()) - 0.1 * train_part) <= 1
    again = get_protocol("kfold-5").folds(ds, seed=3)
    other = get_protocol("kfold-5").folds(ds, seed=4)
    assert all(
        np.array_equal(a.test_idx, b.test_idx) and np.array_equal(a.val_idx, b.val_idx)
        for a, b in zip(folds, again, strict=True)
    )
    assert not all(np.array_equal(a.test_idx, b.test_idx) for a, b in zip(folds, other, strict=True))
    assert [f.name for f in folds] == [f"kfold-5/fold{i}" for i in range(1, 6)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 14)), min_size=30, max_size=200),
    st.integers(2, 6),
    st.integers(0, 1000),
)
def test_subject_folds_never_share_a_subject(pairs, k, seed):
    labels = [p[0] for p in pairs]
    subjects = [f"S{p[1]:03d}" for p in pairs]
    ds = _ds(labels, subjects)
    n_subj = len(set(subjects))
    proto = get_protocol(f"subject-{k}fold")
    if n_subj < k:
        with pytest.raises(ValueError, match="subjects"):
            proto.folds(ds, seed)
        return
    folds = proto.folds(ds, seed)
    _check_partition(folds, len(ds), k)
    subj = np.asarray(subjects)
    for f in folds:
        tr, va, te = set(subj[f.train_idx]), set(subj[f.val_idx]), set(subj[f.test_idx])
        assert not tr & te and not tr & va and not va & te
    # deterministic with the seed
    again = proto.folds(ds, seed)
    assert all(
        np.array_equal(a.test_idx, b.test_idx) and np.array_equal(a.val_idx, b.val_idx)
        for a, b in zip(folds, again, strict=True)
    )


def test_subject_folds_are_balanced():
    subjects = np.repeat([f"S{i:03d}" for i in range(50)], np.arange(50) % 7 + 3)
    labels = np.arange(len(subjects)) % 7
    folds = get_protocol("subject-5fold").folds(_ds(labels, subjects))
    sizes = [len(f.test_idx) for f in folds]
    assert max(sizes) - min(sizes) <= 9  # greedy largest-first: within one subject's size


def test_official_fer2013_and_folders():
    splits = ["Training"] * 20 + ["PublicTest"] * 5 + ["PrivateTest"] * 6
    ds = _ds(np.arange(31) % 7, splits=splits)
    (fold,) = get_protocol("official").folds(ds)
    assert fold.train_idx.tolist() == list(range(20))
    assert fold.val_idx.tolist() == list(range(20, 25)) and fold.test_idx.tolist() == list(range(25, 31))
    p5 = get_protocol("p5")
    assert "five-crop" in p5.describe()
    (f5,) = p5.folds(ds)
    assert np.array_equal(f5.test_idx, fold.test_idx)

    labels = np.arange(80) % 7
    ds2 = _ds(labels, splits=["train"] * 60 + ["test"] * 20)
    (f2,) = get_protocol("official").folds(ds2, seed=0)
    assert f2.test_idx.tolist() == list(range(60, 80))
    assert len(f2.val_idx) == 6 and set(f2.val_idx) < set(range(60))
    assert sorted(np.r_[f2.train_idx, f2.val_idx].tolist()) == list(range(60))
    with pytest.raises(ValueError, match="no official split"):
        get_protocol("official").folds(_ds(labels))


def test_presets_names_and_errors():
    assert get_protocol("p1-jaffe").k == 3 and get_protocol("p1-jaffe").kind == "kfold"
    assert get_protocol("p1-ck").subject_independent and get_protocol("p1-ck").k == 5
    assert get_protocol("p2").k == 10 and not get_protocol("p2").subject_independent
    assert get_protocol("p4").subject_independent and get_protocol("p4").k == 10
    for name in ("official", "p1-jaffe", "p1-ck", "p2", "p4", "p5", "kfold-<k>", "subject-<k>fold"):
        assert name in list_protocols()
    assert "subject-independent" in get_protocol("subject-7fold").describe()
    assert get_protocol("subject-7fold").describe().startswith("subject-7fold:")
    for bad in ("kfold-1", "subject-0fold", "holdout-0", "bogus"):
        with pytest.raises(ValueError):
            get_protocol(bad)
    with pytest.raises(ValueError, match="subject id"):
        get_protocol("p4").folds(_ds(np.arange(40) % 7))


def test_holdout():
    labels = np.arange(200) % 4
    (f,) = get_protocol("holdout-20").folds(_ds(labels), seed=5)
    assert sorted(np.r_[f.train_idx, f.val_idx, f.test_idx].tolist()) == list(
        range(200)
    )  # disjoint, complete
    assert len(f.test_idx) == 40 and len(f.val_idx) == 16
    assert np.bincount(labels[f.test_idx]).tolist() == [10, 10, 10, 10]
