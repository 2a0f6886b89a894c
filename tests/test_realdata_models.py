"""Shipped models: the card's PrivateTest figure is what the repo's evaluation code measures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferapp.zoo.store import default_model_name, list_trained_models

pytestmark = pytest.mark.realdata


def _shipped():
    return {e.name: e for e in list_trained_models() if e.shipped}


def test_default_model_is_a_shipped_trained_model():
    shipped = _shipped()
    assert shipped, "no trained models in models/"
    assert default_model_name() in shipped


def test_default_model_card_reproduces_on_privatetest(fer2013_csv):
    from ferapp.data import load_dataset
    from ferapp.train.evaluate import evaluate
    from ferapp.zoo.store import resolve_model

    name = default_model_name()
    entry = _shipped()[name]
    card = json.loads((entry.path / "config.json").read_text())["meta"]["metrics"]["privatetest_acc"]
    ds = load_dataset(str(fer2013_csv))
    keep = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PrivateTest")
    assert len(keep) == 3589
    loaded = resolve_model(str(entry.path))
    res = evaluate(loaded.model, loaded.cfg, ds.subset(keep), device="cpu")
    print(f"{name}: PrivateTest {100 * res.accuracy:.2f}% (card {100 * card:.2f}%)")
    assert abs(res.accuracy - card) * 100 <= 0.1
    assert res.accuracy > 0.5  # far above chance (1/7) and the majority class (24.5%)


def test_every_shipped_model_has_card_metrics_and_latency():
    for name, e in _shipped().items():
        meta = json.loads((e.path / "config.json").read_text()).get("meta", {})
        assert 0.0 < meta["metrics"]["privatetest_acc"] <= 1.0, name
        assert meta["latency_ms"] > 0, name
        assert (e.path / "README.md").exists(), name
        for f in e.path.iterdir():
            assert f.stat().st_size < 25_000_000, f


@pytest.mark.parametrize("name", sorted(_shipped()))
def test_live_engine_and_ferapp_eval_agree_on_publictest(name, fer2013_csv):
    """The one inference path: the live engine (traced or int8, batched crops) and evaluation
    (``ferapp eval``: the same network through ``inference_net``) give the same predictions, so
    dropping TTA or normalisation in either one fails here."""
    from ferapp.data import load_dataset
    from ferapp.inference.engine import ExpressionEngine, inference_net
    from ferapp.labels import LABELS
    from ferapp.train.evaluate import predict_probs
    from ferapp.zoo.store import resolve_model

    entry = _shipped()[name]
    ds = load_dataset(str(fer2013_csv))
    pub = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PublicTest")[:1000]
    faces = ds.images[pub]
    eng = ExpressionEngine(str(entry.path), device="cpu")
    live = np.concatenate([eng.classify(list(faces[i:i + 200])) for i in range(0, len(faces), 200)])
    loaded = resolve_model(str(entry.path))
    net, precision = inference_net(loaded, "cpu")
    assert precision == eng.precision
    ev = predict_probs(loaded.model, loaded.cfg, faces, device="cpu", net=net)
    assert tuple(loaded.cfg.labels) == LABELS
    agree = float((live.argmax(1) == ev.argmax(1)).mean())
    print(f"{name}: live vs eval agree on {agree:.2%} of {len(faces)}, max |dp| {np.abs(live - ev).max():.2e}")
    assert agree >= 0.998 and np.abs(live - ev).max() < 0.02
