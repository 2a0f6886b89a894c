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
    live = np.concatenate([eng.classify(list(faces[i : i + 200])) for i in range(0, len(faces), 200)])
    loaded = resolve_model(str(entry.path))
    net, precision = inference_net(loaded, "cpu")
    assert eng.packed or precision == eng.precision  # (a P5 folder's engine runs its 1-bit packed path)
    ev = predict_probs(loaded.model, loaded.cfg, faces, device="cpu", net=net)
    assert tuple(loaded.cfg.labels) == LABELS
    agree = float((live.argmax(1) == ev.argmax(1)).mean())
    print(
        f"{name}: live vs eval agree on {agree:.2%} of {len(faces)}, max |dp| {np.abs(live - ev).max():.2e}"
    )
    assert agree >= 0.998 and np.abs(live - ev).max() < 0.02


_FLOAT_ACC: dict[str, float] = {}  # model -> float PublicTest accuracy (one evaluation per model)


def _within_0_2_points(int8_acc: float, float_acc: float) -> bool:
    """Issue 28.3's rule: within 0.2 points of the float network, either way."""
    return abs(int8_acc - float_acc) * 100 <= 0.2


def _int8_shipped() -> list[tuple[str, str]]:
    """(model, runtime) of each shipped int8 network: ``int8.json`` runs in torch, ``int8.onnx``
    in onnxruntime."""
    from ferapp.zoo import onnx_net, quantize

    out = []
    for n, e in sorted(_shipped().items()):
        out += [(n, "torch")] if (e.path / quantize.FILE).exists() else []
        out += [(n, "onnxruntime")] if onnx_net.int8_onnx_path(e.path) is not None else []
    return out


def test_the_default_model_runs_int8_on_the_cpu():
    """Issue 28.3: the default live path runs the int8 network on the CPU: onnxruntime's (no
    torch in the process), else torch's (where fbgemm exists)."""
    from ferapp.inference.engine import ExpressionEngine
    from ferapp.zoo import quantize

    assert (default_model_name(), "onnxruntime") in _int8_shipped()
    eng = ExpressionEngine(device="cpu", threads=1)
    assert (eng.precision, eng.runtime) == ("int8", "onnxruntime")
    if quantize.supported():
        assert ExpressionEngine(device="cpu", threads=1, runtime="torch").precision == "int8"


@pytest.mark.parametrize(("name", "runtime"), _int8_shipped())
def test_int8_network_is_within_0_2_points_of_float_on_publictest(name, runtime, fer2013_csv):
    """The rule for shipping an int8 network (issue 28.3): PublicTest accuracy within 0.2 points
    of the float network, classified directly (measured here, with the networks ``ferapp eval
    --precision float|int8`` runs) and through the live path (the figure the export measured:
    minutes of detection, so it is read from the file, after checking that its direct figure is
    the one measured here). ``int8.json``: ``training/quantize_model.py --eval --live``;
    ``int8.onnx``: ``training/export_onnx.py --eval --live``."""
    from ferapp.data import load_dataset
    from ferapp.inference.engine import inference_net
    from ferapp.train.evaluate import predict_probs
    from ferapp.zoo import onnx_net, quantize
    from ferapp.zoo.store import resolve_model

    if runtime == "torch" and not quantize.supported():
        pytest.skip("this torch build has no x86 int8 engine (fbgemm)")
    entry = _shipped()[name]
    ds = load_dataset(str(fer2013_csv))
    pub = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PublicTest")
    y = np.asarray(ds.labels)[pub]
    loaded = resolve_model(str(entry.path))
    acc = {}
    for precision in ("float", "int8"):
        if precision == "float" and name in _FLOAT_ACC:  # the same float network for both runtimes
            acc["float"] = _FLOAT_ACC[name]
            continue
        net, got = inference_net(loaded, "cpu", precision, runtime=runtime)
        assert got.startswith("float32" if precision == "float" else "int8")
        assert getattr(net, "runtime", "torch") == (runtime if precision == "int8" else "torch")
        probs = predict_probs(loaded.model, loaded.cfg, ds.images[pub], device="cpu", net=net)
        acc[precision] = float((probs.argmax(1) == y).mean())
    _FLOAT_ACC[name] = acc["float"]
    print(f"{name} ({runtime}): PublicTest float {100 * acc['float']:.2f}%, int8 {100 * acc['int8']:.2f}%")
    assert _within_0_2_points(acc["int8"], acc["float"])
    if runtime == "torch":
        measured = quantize.read_int8(entry.path / quantize.FILE)["measured"]
    else:
        measured = onnx_net.read_record(entry.path)["measured"]
    assert abs(measured["publictest_direct"]["int8_acc"] - acc["int8"]) < 1e-9  # the file is this network's
    live = measured["publictest_live"]
    assert live["faces"] == len(pub) and live["found"] > 0.7 * len(pub)
    assert _within_0_2_points(live["int8_acc"], live["float_acc"])
