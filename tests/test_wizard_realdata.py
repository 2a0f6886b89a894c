"""The training wizard's item that needs the real CK+48 zip (skipped without it; FAILS when
FERAPP_REQUIRE_DATA=1): lenet5 on CK+48 under p1-ck for one epoch predicted "neutral", a class
with no CK+48 image, for every test image (0.0 % on every fold) and was offered for the live view."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]  # 5-30 s on the shared 2-core CPU, by load


def test_lenet5_on_ckplus48_never_predicts_neutral_and_is_judged_against_baselines(ckplus48_zip, tmp_path):
    from ferapp.data.locate import locate_dataset
    from ferapp.train.baselines import result_baselines
    from ferapp.train.run import run_training

    found = locate_dataset(ckplus48_zip.parent)  # the folder holding CK+48.zip means the archive
    assert found.path == ckplus48_zip and "CK+48.zip" in found.note
    res = run_training(
        "lenet5",
        str(found.path),
        "p1-ck",
        overrides={"epochs": 1, "num_threads": 1},
        out_dir=tmp_path / "run",
        folds=[0],
    )
    assert res.outcome == "finished", res.message + res.traceback
    test = res.folds[0].test
    assert "neutral" not in test.labels and test.confusion.shape == (6, 6)
    assert test.accuracy > 0  # every class it can answer has test images in this fold
    assert any("no images of neutral" in n for n in res.notes)
    base = result_baselines(res)
    assert base.n_classes == 6 and base.chance == pytest.approx(1 / 6)
    sizes = test.confusion.sum(1)
    assert base.majority == pytest.approx(sizes.max() / sizes.sum()) and base.majority_class == "surprise"
    assert base.beaten == (test.accuracy > max(base.majority, base.chance))
    meta = json.loads((Path(res.best_model_dir) / "config.json").read_text())["meta"]
    assert meta["baselines"]["beaten"] == base.beaten and len(meta["dataset"]["class_counts"]) == 6
    assert np.asarray(meta["baselines"]["majority"]) == pytest.approx(base.majority)
