"""``ferapp eval`` shows progress bars on stderr (reading the dataset, then the images
evaluated) unless ``--quiet`` or ``--json``."""

from __future__ import annotations

import json

import pytest
from test_train import make_ck48_folder


@pytest.fixture
def ck_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))
    return make_ck48_folder(tmp_path / "CK+48", subjects=4, frames=2)


def test_eval_shows_progress_unless_quiet_or_json(ck_dir, capsys):
    from ferapp.cli import main

    n = 3 * 4 * 2  # classes x subjects x frames
    assert main(["eval", "cc_lenet5", "--data", str(ck_dir), "--batch-size", "5"]) == 0
    out = capsys.readouterr()
    assert "accuracy" in out.out
    assert "reading dataset" in out.err  # the cold load of the folder
    assert (
        "evaluating" in out.err and f"0/{n} " in out.err and "img/s" in out.err
    )  # total known from the start
    assert "evaluating" not in out.out  # results stay clean on stdout

    assert main(["eval", "cc_lenet5", "--data", str(ck_dir), "--quiet"]) == 0
    out = capsys.readouterr()
    assert "accuracy" in out.out and "evaluating" not in out.err and "reading" not in out.err

    assert main(["eval", "cc_lenet5", "--data", str(ck_dir), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["result"]["n"] == n and "evaluating" not in out.err


def test_batched_progress_gives_the_same_probabilities(ck_dir):
    import numpy as np

    from ferapp.data import load_dataset
    from ferapp.train.evaluate import predict_probs
    from ferapp.zoo.store import resolve_model

    loaded = resolve_model("cc_lenet5")
    ds = load_dataset(ck_dir)
    seen = []
    with_bar = predict_probs(
        loaded.model, loaded.cfg, ds.images, batch=7, progress=lambda d, t: seen.append((d, t))
    )
    plain = predict_probs(loaded.model, loaded.cfg, ds.images, batch=7)
    np.testing.assert_array_equal(with_bar, plain)
    assert seen[-1] == (len(ds), len(ds)) and len(seen) == -(-len(ds) // 7)
