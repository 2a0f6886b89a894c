"""Device choice (``--device auto`` = CUDA, then Apple MPS, then CPU) and the CPU fallback for an
operation Apple MPS lacks; the availability checks are patched, so this runs on any machine."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ferapp.inference import device as dev


@pytest.fixture
def accel(monkeypatch):
    """Set which accelerators the machine "has"."""

    def set_(cuda: bool = False, mps: bool = False, cuda_count: int = 1):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count if cuda else 0)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_


@pytest.mark.parametrize(
    "cuda, mps, want",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_picks_cuda_then_mps_then_cpu(accel, cuda, mps, want):
    accel(cuda=cuda, mps=mps)
    assert dev.resolve_device("auto") == want
    assert dev.resolve_device(None) == want
    assert dev.resolve_device("") == want


def test_explicit_devices(accel):
    accel(cuda=True, mps=True, cuda_count=2)
    assert dev.resolve_device("cpu") == "cpu"
    assert dev.resolve_device("CUDA") == "cuda"
    assert dev.resolve_device("cuda:1") == "cuda:1"
    assert dev.resolve_device("mps") == "mps"
    with pytest.raises(RuntimeError, match="cuda:2"):
        dev.resolve_device("cuda:2")
    with pytest.raises(ValueError, match="unknown device 'tpu'.*mps"):
        dev.resolve_device("tpu")


def test_an_accelerator_that_is_not_there_is_a_clear_error(accel):
    accel(cuda=False, mps=False)
    with pytest.raises(RuntimeError, match="CUDA was requested.*--device cpu"):
        dev.resolve_device("cuda")
    with pytest.raises(RuntimeError, match="Apple MPS was requested.*--device cpu"):
        dev.resolve_device("mps")


def test_mps_check_that_raises_counts_as_absent(monkeypatch):
    def broken():
        raise OSError("Metal framework missing")

    monkeypatch.setattr(torch.backends.mps, "is_available", broken)
    assert dev.mps_available() is False


MISSING = NotImplementedError("The operator 'aten::foo' is not currently implemented for the MPS device.")


def test_cpu_fallback_for_an_operation_mps_lacks(caplog):
    calls = []

    def run(d):
        calls.append(d)
        if d == "mps":
            raise MISSING
        return "ok"

    with caplog.at_level(logging.WARNING, logger="ferapp.inference.device"):
        used, out, msg = dev.with_cpu_fallback("mps", run, "model x")
    assert (used, out, calls) == ("cpu", "ok", ["mps", "cpu"])
    assert "Apple MPS cannot run model x" in msg and "aten::foo" in msg and "CPU" in msg
    assert msg in caplog.text


def test_no_fallback_for_cuda_or_for_other_errors():
    def missing(d):
        raise MISSING

    with pytest.raises(NotImplementedError):  # a user who asked for CUDA gets the failure
        dev.with_cpu_fallback("cuda", missing, "x")

    def bug(d):
        raise ValueError("a bug, not a missing operation")

    with pytest.raises(ValueError):
        dev.with_cpu_fallback("mps", bug, "x")
    assert dev.with_cpu_fallback("cpu", lambda d: d, "x") == ("cpu", "cpu", None)


def test_engine_on_mps_falls_back_to_the_cpu_with_a_message(accel):
    """The machine "has" MPS (patched), but this torch cannot run anything there: the same
    NotImplementedError a missing MPS operation raises. The engine must run on the CPU, say why,
    and classify."""
    from ferapp.inference.engine import ExpressionEngine

    accel(mps=True)
    eng = ExpressionEngine("cc_lenet5", device="auto", threads=1)
    assert eng.device == "cpu"
    assert eng.fallback and "Apple MPS cannot run model" in eng.fallback
    rng = np.random.default_rng(0)
    p = eng.classify([(rng.random((48, 48)) * 255).astype(np.uint8)])
    assert p.shape == (1, 7) and abs(float(p.sum()) - 1.0) < 1e-4


def test_training_on_mps_falls_back_to_the_cpu(accel, tmp_path, caplog):
    from ferapp.train.trainer import TrainConfig, Trainer
    from tests._train_helpers import make_tiny, recipe_of, synthetic_faces

    accel(mps=True)
    model = make_tiny()
    tcfg = TrainConfig.from_recipe(
        recipe_of(model), epochs=1, device="auto", out_dir=str(tmp_path), num_threads=1
    )
    with caplog.at_level(logging.WARNING, logger="ferapp.inference.device"):
        res = Trainer(model, model.cfg, tcfg).fit(synthetic_faces())
    assert res.outcome == "finished", res.message
    assert "Apple MPS cannot run this training run" in caplog.text
    assert next(model.parameters()).device.type == "cpu"


def test_cli_device_choices_accept_mps(accel, capsys):
    from ferapp.cli import main

    accel(mps=False)
    rc = main(["eval", "cc_lenet5", "--data", "nowhere.csv", "--device", "mps"])
    err = capsys.readouterr().err
    assert rc != 0 and "invalid choice" not in err


def test_cpu_features_names_the_vector_unit():
    text = dev.cpu_features()
    assert "torch kernels" in text
    assert dev.device_description("mps").startswith("MPS")


def test_gui_device_indicator_says_where_the_model_runs(qtbot):
    """The status bar's indicator: device, int8 when the int8 network runs, and "(fallback)" with
    the reason in its tooltip when MPS could not run the model."""
    from types import SimpleNamespace

    from ferapp.gui.model_control import ModelControl

    engine = SimpleNamespace(device="cpu", precision="int8", fallback=None)
    ctl = ModelControl(
        SimpleNamespace(), SimpleNamespace(pipeline=SimpleNamespace(engine=engine)), settings=None
    )
    label = ctl.device_label
    qtbot.addWidget(label)
    ctl.show_device()
    assert label.text().strip().startswith("CPU") and "int8" in label.text()
    assert "network: int8" in label.toolTip()
    moved = SimpleNamespace(
        device="cpu", precision="float32", fallback="Apple MPS cannot run model m (x); using the CPU"
    )
    ctl.show_device(moved)  # a model just loaded, before the pipeline swaps it in
    assert "(fallback)" in label.text() and "int8" not in label.text()
    assert "Apple MPS cannot run model m" in label.toolTip()
    ctl.show_device(SimpleNamespace(device="mps", precision="float32", fallback=None))
    assert label.text().strip().startswith("MPS")
