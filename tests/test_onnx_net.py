"""The int8 ONNX network (``ferapp.zoo.onnx_net``): what the live CPU path runs without torch.

A model folder's ``int8.onnx`` (made by ``training/export_onnx.py``) must compute what the float
network computes (within int8 error), through the same preprocessing and test-time views; a
changed or damaged file is never run; ``precision="int8"`` never silently becomes float; and the
shipped default model's network agrees with its float one on real-looking faces.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_quantize import _faces, _trained_looking_resnet

from ferapp.inference.engine import ExpressionEngine
from ferapp.zoo import onnx_net
from training import export_onnx  # needs the dev extra's onnx


@pytest.fixture(scope="module")
def _onnx_folder_once(tmp_path_factory):
    """A resnet20 folder (random but trained-looking weights, float and int8.json for torch)
    with an int8.onnx made by the export script's own steps, calibrated on blob faces."""
    from ferapp.zoo import quantize
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.store import resolve_model

    net = _trained_looking_resnet()
    d = save_model_dir(
        tmp_path_factory.mktemp("models") / "r20x", net, net.cfg, meta={"name": "r20x"}, half=False
    )
    loaded = resolve_model(str(d))
    acts = quantize.calibrate(loaded.model, loaded.cfg, _faces(48), observer="minmax")
    quantize.write_int8(d, quantize.int8_record(loaded.model, loaded.cfg, acts))
    export_onnx.quantize(loaded.model, loaded.cfg, _faces(128, seed=3), d / onnx_net.FILE, "minmax")
    rec = export_onnx.record_for(d, loaded.cfg, {"calibration": {"faces": 128}})
    (d / onnx_net.RECORD).write_text(json.dumps(rec))
    return d


@pytest.fixture
def onnx_folder(_onnx_folder_once, tmp_path):
    return shutil.copytree(_onnx_folder_once, tmp_path / "r20x")


def test_view_batch_and_merge_views_are_the_same_for_arrays_and_tensors():
    from ferapp.preprocess import merge_views, view_batch
    from ferapp.zoo.registry import get_model_cfg as get_cfg

    x = np.random.default_rng(0).standard_normal((3, 1, 48, 48)).astype(np.float32)
    cfgs = [replace(get_cfg("resnet20"), flip_tta=True), replace(get_cfg("bdnn3"), flip_tta=True)]
    for cfg in cfgs:
        a, va, ca = view_batch(x, cfg)
        t, vt, ct = view_batch(torch.from_numpy(x.copy()), cfg)
        assert (va, ca) == (vt, ct) and np.array_equal(a, t.numpy())
        out = np.random.default_rng(1).standard_normal((len(a), 7)).astype(np.float32)
        m = merge_views(out, 3, va, ca)
        assert m.shape == (3, 7) and np.allclose(m, merge_views(torch.from_numpy(out), 3, vt, ct).numpy())
    assert [view_batch(x, c)[1:] for c in cfgs] == [(2, 1), (2, 5)]  # mirror, five crops: tested


def test_engine_runs_the_onnx_network_and_it_follows_the_float_one(onnx_folder):
    crops = list(_faces(24, seed=11))
    eo = ExpressionEngine(str(onnx_folder), device="cpu", threads=1)
    et = ExpressionEngine(str(onnx_folder), device="cpu", threads=1, runtime="torch")
    ef = ExpressionEngine(str(onnx_folder), device="cpu", threads=1, precision="float", optimize=True)
    assert (eo.runtime, eo.precision, eo.model) == ("onnxruntime", "int8", None)
    assert (et.runtime, et.precision) == ("torch", "int8") and ef.runtime == "torch"
    po, pt, pf = eo.classify(crops), et.classify(crops), ef.classify(crops)
    assert po.shape == (24, 7) and np.allclose(po.sum(1), 1.0, atol=1e-5)
    assert not np.array_equal(po, pf)  # really another network
    assert np.abs(po - pf).max() < 0.1 and (po.argmax(1) == pf.argmax(1)).mean() >= 0.9
    assert np.abs(pt - pf).max() < 0.1
    one_by_one = np.concatenate([eo.classify([c]) for c in crops[:4]])
    assert np.allclose(one_by_one, po[:4], atol=1e-5)  # batch-independent
    assert eo.classify([]).shape == (0, 7)


def test_a_changed_onnx_file_is_never_run(onnx_folder, caplog):
    (onnx_folder / onnx_net.FILE).write_bytes((onnx_folder / onnx_net.FILE).read_bytes() + b"\0")
    eng = ExpressionEngine(str(onnx_folder), device="cpu", threads=1)
    assert (eng.runtime, eng.precision) == ("torch", "int8")  # int8.json through torch instead
    assert "int8 ONNX network of" in caplog.text and "SHA-256" in caplog.text
    # without int8.json, int8 asked for explicitly fails; auto runs the float network
    (onnx_folder / "int8.json").unlink()
    with pytest.raises(ValueError, match="no int8 network"):
        ExpressionEngine(str(onnx_folder), device="cpu", threads=1, precision="int8")
    assert ExpressionEngine(str(onnx_folder), device="cpu", threads=1).precision.startswith("float32")


def test_wrong_check_logits_are_refused(onnx_folder):
    rec = json.loads((onnx_folder / onnx_net.RECORD).read_text())
    rec["check"] = [[v + 1.0 for v in row] for row in rec["check"]]
    (onnx_folder / onnx_net.RECORD).write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="probe logits differ"):
        onnx_net.load(onnx_folder, ExpressionEngine(str(onnx_folder), device="cpu", runtime="torch").cfg)


def test_runtime_setting_is_checked_and_torch_can_be_asked_for(onnx_folder, monkeypatch):
    with pytest.raises(ValueError, match="runtime must be one of"):
        ExpressionEngine(str(onnx_folder), device="cpu", runtime="tensorrt")
    monkeypatch.setenv("FERAPP_RUNTIME", "torch")
    assert ExpressionEngine(str(onnx_folder), device="cpu", threads=1).runtime == "torch"


def test_shipped_default_model_runs_onnx_and_agrees_with_its_float_network():
    """The default model ships int8.onnx: the engine runs it, and on the demo's face and blob
    faces it picks the float network's label (its PublicTest figures are on the model card)."""
    from ferapp.zoo.catalog import default_model_name, find_model_folder

    folder, _ = find_model_folder(default_model_name())
    assert onnx_net.int8_onnx_path(folder) is not None, f"{folder} ships no int8.onnx"
    eo = ExpressionEngine(None, device="cpu", threads=1)
    ef = ExpressionEngine(None, device="cpu", threads=1, precision="float", optimize=False)
    assert eo.runtime == "onnxruntime" and eo.name == ef.name
    crops = list(_faces(32, seed=4))
    po, pf = eo.classify(crops), ef.classify(crops)
    assert (po.argmax(1) == pf.argmax(1)).mean() >= 0.9 and np.abs(po - pf).max() < 0.15


@pytest.mark.parametrize(
    ("text", "cpu_only"),
    [
        ("cuda: Optional[str] = None\nhip: Optional[str] = None\nxpu: Optional[str] = None\n", True),
        ("cuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n", False),
        ("cuda = None\nhip = '6.2.41133'\n", False),
        ("__version__ = '2.13.0'\n", False),  # names no build: not trusted
    ],
)
def test_cpu_only_torch_build_is_read_from_its_version_file(text, cpu_only):
    from ferapp.inference.device import version_text_is_cpu_only

    assert version_text_is_cpu_only(text) is cpu_only
