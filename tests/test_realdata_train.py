"""Short real trainings on CK+48 (a subset, a few epochs; each well under a minute on one CPU
thread): the P3 HSIC, P5 BNN and P4 center-loss paths each make the training loss fall on
real faces. Skipped without the data; they FAIL when FERAPP_REQUIRE_DATA=1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferapp.train import TrainConfig, Trainer
from tests._train_helpers import recipe_of

pytestmark = pytest.mark.realdata
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def _ck_cache():
    return {}


def _ck_subset(path, cache, n_per_class: int = 30, seed: int = 0):
    if "ds" not in cache:
        from ferapp.data import load_dataset

        cache["ds"] = load_dataset(path)
    ds = cache["ds"]
    assert len(ds) > 900 and ds.report.format == "ckplus48"
    rng = np.random.default_rng(seed)
    idx = np.concatenate(
        [rng.permutation(np.flatnonzero(ds.labels == c))[:n_per_class] for c in np.unique(ds.labels)]
    )
    return ds.subset(np.sort(idx))


def _fit(model, ds, **over):
    tc = TrainConfig.from_recipe(recipe_of(model), num_threads=1, device="cpu", **over)
    res = Trainer(model, model.cfg, tc).fit(ds)
    assert res.outcome == "finished", res.message + res.traceback
    return [h["train_loss"] for h in res.history], res


def test_hsic_bottleneck_on_ckplus48(ckplus48_zip, _ck_cache):
    from ferapp.zoo import create_model

    ds = _ck_subset(ckplus48_zip, _ck_cache, 25)
    torch.manual_seed(0)
    m = create_model("hsic_densenet", growth=6, stem_channels=12, fpn_channels=32)
    losses, res = _fit(m, ds, epochs=6, hsic_epochs=4, batch_size=50, lr=0.005, post_lr=0.01, augment=())
    hsic_l, post_l = losses[:4], losses[4:]
    print("hsic phase", hsic_l, "post", post_l)
    assert hsic_l[-1] < hsic_l[0], hsic_l  # HSIC(Z,X) - 100 HSIC(Z,Y) falls
    assert post_l[-1] < post_l[0], post_l  # head CE falls on frozen HSIC features
    assert res.wall_time_s < 60


def test_bnn_on_ckplus48(ckplus48_zip, _ck_cache):
    from ferapp.zoo import create_model

    ds = _ck_subset(ckplus48_zip, _ck_cache, 30)
    torch.manual_seed(0)
    m = create_model("bdnn2", width_mult=0.25, fc_width=256)
    losses, res = _fit(m, ds, epochs=6, batch_size=30, lr=3e-3, augment=("mirror",))
    print("bnn", losses)
    assert losses[-1] < 0.85 * losses[0], losses  # squared hinge falls
    for _, layer in m.binary_layers():
        assert layer.weight.abs().max() <= 1.0  # latent weights clipped every step
    assert res.wall_time_s < 60


def test_center_loss_on_ckplus48(ckplus48_zip, _ck_cache):
    from ferapp.zoo import create_model

    ds = _ck_subset(ckplus48_zip, _ck_cache, 30)
    torch.manual_seed(0)
    m = create_model("dsc_se_resnet", width_mult=0.125)
    losses, res = _fit(m, ds, epochs=6, batch_size=30, lr=0.02, schedule="constant", augment=("mirror",))
    print("center", losses)
    assert losses[-1] < 0.85 * losses[0], losses  # CE + lambda * center loss falls
    assert res.wall_time_s < 60


@pytest.mark.slow
def test_two_process_training_on_ckplus48_evaluates_to_its_report(ckplus48_zip, tmp_path):
    """``ferapp train --nproc 2`` (two gloo processes) on CK+48 finishes, and the model folder it
    saved scores on the fold's test images exactly the accuracy its report states (the figure
    ``ferapp eval`` computes); ``ferapp eval`` reads the saved model."""
    import json
    import os
    import subprocess
    import sys

    from ferapp.data import load_dataset
    from ferapp.data.protocols import get_protocol
    from ferapp.train.evaluate import evaluate
    from ferapp.zoo.io import load_model_dir

    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "ferapp",
        "train",
        "--model",
        "cc_lenet5",
        "--data",
        str(ckplus48_zip),
        "--protocol",
        "holdout-20",
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--out",
        str(out),
        "--quiet",
        "--nproc",
        "2",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["processes"] == 2 and report["outcome"] == "finished"
    ds = load_dataset(str(ckplus48_zip))
    test = get_protocol("holdout-20").folds(ds, seed=0)[0].test_idx
    m = load_model_dir(out / "model")
    assert evaluate(m.model, m.cfg, ds.subset(test)).accuracy == pytest.approx(
        report["summary"]["mean_accuracy"]
    )
    assert report["summary"]["mean_accuracy"] > 0.3  # learned something in 3 epochs (7 classes)
    ev = subprocess.run(
        [sys.executable, "-m", "ferapp", "eval", str(out / "model"), "--data", str(ckplus48_zip), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["result"]["n"] == len(ds)
