"""int8 CPU networks (``ferapp.zoo.quantize``): the direct P2 builder computes exactly what
torch.ao's converter computes, a model folder's int8.json is what the live engine and
``ferapp eval`` run, and a broken file never silently changes the results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ferapp.zoo import create_model, quantize

pytestmark = pytest.mark.skipif(not quantize.supported(), reason="no x86 int8 engine in this torch build")


def _trained_looking_resnet(seed: int = 0):
    """resnet20 with random (non-zero) FC and BatchNorm statistics, so every layer matters."""
    torch.manual_seed(seed)
    net = create_model("resnet20").eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        torch.nn.init.normal_(net.fc.weight, std=0.3)
        torch.nn.init.normal_(net.fc.bias, std=0.1)
    return net


def _faces(n: int, seed: int = 1) -> np.ndarray:
    """Smooth blob 'faces' (uint8 48x48): a calibration set with structure, not white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    out = []
    for _ in range(n):
        img = np.full((48, 48), rng.uniform(60, 160))
        for _ in range(4):
            cy, cx, r, a = rng.uniform(8, 40), rng.uniform(8, 40), rng.uniform(4, 12), rng.uniform(-80, 80)
            img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out.append(np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def calibrated():
    net = _trained_looking_resnet()
    acts = quantize.calibrate(net, net.cfg, _faces(48), observer="minmax")
    return net, acts


def test_direct_int8_resnet_is_bit_identical_to_torch_ao(calibrated):
    net, acts = calibrated
    direct = quantize.build_int8(net, net.cfg, acts)
    assert isinstance(direct, quantize.Int8ResNet)
    fx = quantize.fx_int8(net, net.cfg, acts)
    x = quantize.check_input(net.cfg, 6)
    with torch.no_grad():
        assert torch.equal(direct(x), fx(x))


def test_bias_correction_is_applied_the_same_by_both_builders_and_removes_mean_shift(calibrated):
    from ferapp.zoo.predict import crops_to_tensor

    net, acts = calibrated
    corr = quantize.bias_corrections(net, net.cfg, _faces(48), acts)
    assert set(corr) == set(quantize._quantized_convs(net)) and len(corr["stages.0.0.conv1"]) == 16
    x = quantize.check_input(net.cfg, 6)
    direct = quantize.build_int8(net, net.cfg, acts, corr)
    with torch.no_grad():
        assert torch.equal(
            direct(x), quantize.fx_int8(quantize._with_corrections(net, corr), net.cfg, acts)(x)
        )
        assert not torch.equal(direct(x), quantize.build_int8(net, net.cfg, acts)(x))
        faces = crops_to_tensor(_faces(64, seed=9), net.cfg)
        f = net(faces)
        shift = {
            k: float((quantize.build_int8(net, net.cfg, acts, c)(faces) - f).mean(0).abs().mean())
            for k, c in (("plain", None), ("corrected", corr))
        }
    assert shift["corrected"] < shift["plain"], shift


def test_int8_logits_follow_the_float_network(calibrated):
    from ferapp.zoo.predict import crops_to_tensor

    net, acts = calibrated
    q = quantize.build_int8(net, net.cfg, acts)
    x = crops_to_tensor(_faces(32, seed=7), net.cfg)  # faces it was not calibrated on
    with torch.no_grad():
        f, i = net(x), q(x)
    err = float((f - i).abs().mean() / f.std())
    assert err < 0.1, err
    assert float((f.argmax(1) == i.argmax(1)).float().mean()) >= 0.8


def test_int8_json_round_trip_and_checks(calibrated, tmp_path):
    net, acts = calibrated
    rec = quantize.int8_record(net, net.cfg, acts, calibration={"faces": 48})
    path = quantize.write_int8(tmp_path, rec)
    assert quantize.read_int8(path)["activations"] == acts
    traced = quantize.load_int8_net(net, net.cfg, path)
    with torch.no_grad():
        assert torch.allclose(
            traced(quantize.check_input(net.cfg)), torch.tensor(rec["check"]["logits"]), atol=1e-5
        )
    # the same file for another network (its check logits no longer match): refused
    with pytest.raises(quantize.CheckpointError, match="check logits"):
        quantize.load_int8_net(_trained_looking_resnet(seed=3), net.cfg, path)
    bad = dict(rec, activations={**acts, "x": [-1.0, 0]})
    path.write_text(json.dumps(bad))
    with pytest.raises(quantize.CheckpointError, match="activation scales"):
        quantize.read_int8(path)


@pytest.fixture(scope="module")
def _int8_folder_once(calibrated, tmp_path_factory):
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.store import resolve_model

    net, _ = calibrated
    d = save_model_dir(
        tmp_path_factory.mktemp("models") / "r20q", net, net.cfg, meta={"name": "r20q"}, half=False
    )
    loaded = resolve_model(str(d))  # calibrate what is saved (the loaded weights)
    acts = quantize.calibrate(loaded.model, loaded.cfg, _faces(48), observer="minmax")
    quantize.write_int8(d, quantize.int8_record(loaded.model, loaded.cfg, acts))
    return d


@pytest.fixture
def int8_folder(_int8_folder_once, tmp_path):
    import shutil

    return shutil.copytree(_int8_folder_once, tmp_path / "r20q")


def test_engine_runs_the_int8_network_of_a_model_folder(int8_folder, monkeypatch):
    from ferapp.inference.engine import ExpressionEngine

    crops = list(_faces(5, seed=11))
    e8 = ExpressionEngine(str(int8_folder), device="cpu", threads=1)
    ef = ExpressionEngine(str(int8_folder), device="cpu", threads=1, precision="float", optimize=True)
    assert (e8.precision, ef.precision) == ("int8", "float32")
    assert e8.optimized and e8._optimize_after is None  # int8 at once: nothing left to trace later
    p8, pf = e8.classify(crops), ef.classify(crops)
    assert p8.shape == (5, 7) and np.allclose(p8.sum(1), 1.0, atol=1e-4)
    assert not np.array_equal(p8, pf)  # really another network
    assert np.allclose(np.concatenate([e8.classify([c]) for c in crops]), p8, atol=1e-6)  # batch-independent
    monkeypatch.setenv("FERAPP_INT8", "0")
    assert (
        ExpressionEngine(str(int8_folder), device="cpu", threads=1).precision == "float32 (eager)"
    )  # traced later


def test_a_broken_int8_file_runs_the_float_network_or_fails_when_int8_is_asked(int8_folder, caplog):
    from ferapp.inference.engine import ExpressionEngine

    rec = json.loads((int8_folder / quantize.FILE).read_text())
    rec["check"]["logits"] = [[v + 1.0 for v in row] for row in rec["check"]["logits"]]
    (int8_folder / quantize.FILE).write_text(json.dumps(rec))
    eng = ExpressionEngine(str(int8_folder), device="cpu", threads=1, optimize=True)
    assert eng.precision == "float32"
    assert "int8 network of" in caplog.text and "check logits" in caplog.text
    with pytest.raises(quantize.CheckpointError):
        ExpressionEngine(str(int8_folder), device="cpu", threads=1, precision="int8")


def test_ferapp_eval_measures_the_network_the_live_path_runs(int8_folder, tmp_path, capsys):
    """`ferapp eval` runs the int8 network by default (what the engine runs), the float one
    with --precision float, and refuses int8 for a model without int8.json."""
    import cv2

    from ferapp.cli import main

    data = tmp_path / "faces"
    for k, img in enumerate(_faces(14, seed=5)):
        (data / ("happy" if k % 2 else "sad")).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / ("happy" if k % 2 else "sad") / f"{k}.png"), img)
    outs = {}
    for prec in ("auto", "float"):
        rc = main(
            ["eval", str(int8_folder), "--data", str(data), "--device", "cpu", "--precision", prec, "--json"]
        )
        out = capsys.readouterr().out
        assert rc == 0, out
        outs[prec] = json.loads(out)
    assert outs["auto"]["precision"] == "int8" and outs["float"]["precision"] == "float32"
    rc = main(["eval", "resnet20", "--data", str(data), "--precision", "int8"])
    assert rc == 2 and "no int8 network" in capsys.readouterr().err
