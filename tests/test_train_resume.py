"""Checkpoints and run folders (issue 26 items 2-3, issue 27 item 4, issue 28 item 4): the best
model survives a resume, checkpoints are atomic and can be written mid-epoch, ``--out`` never
deletes what the run did not write, and ``ferapp train``'s thread default."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from ferapp.train import Callback, CheckpointCallback, TrainConfig, Trainer
from ferapp.zoo.registry import get_recipe
from tests._train_helpers import make_tiny, recipe_of, synthetic_faces
from tests.test_train import make_ck48_folder

torch.set_num_threads(1)


@pytest.fixture
def ck_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))
    return make_ck48_folder(tmp_path / "CK+48")


class _CancelAt(Callback):
    def __init__(self, step: int, cancel: threading.Event):
        self.step, self.cancel = step, cancel

    def on_batch_end(self, step, loss):
        if step == self.step:
            self.cancel.set()


class _RuinFromEpoch(Callback):
    """From ``epoch`` on, every batch ends with the last Linear layer's rows rolled by one: the
    net then predicts the next class, so those epochs validate far worse than the earlier ones."""

    def __init__(self, epoch: int):
        self.epoch, self.now = epoch, 0

    def on_epoch_start(self, epoch, total_epochs, num_batches):
        self.now = epoch

    def on_batch_end(self, step, loss):
        if self.now >= self.epoch:
            fc = [m for m in self.trainer.model.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                fc.weight.copy_(fc.weight.roll(1, 0))
                fc.bias.copy_(fc.bias.roll(1, 0))


def _val_accuracy(model_or_dir, ck_dir) -> float:
    from ferapp.data import load_dataset
    from ferapp.data.protocols import get_protocol
    from ferapp.train.evaluate import evaluate
    from ferapp.zoo.io import load_checkpoint, load_model_dir

    p = Path(model_or_dir)
    model, cfg = load_checkpoint(p)[:2] if p.is_file() else (lambda m: (m.model, m.cfg))(load_model_dir(p))
    ds = load_dataset(str(ck_dir))
    val = get_protocol("holdout-20").folds(ds, seed=0)[0].val_idx
    return evaluate(model, cfg, ds.subset(val)).accuracy


def test_best_model_survives_interrupt_and_resume(ck_dir, tmp_path):
    """Train with validation, interrupt in epoch 3, resume; the epochs after the resume validate
    worse. best.pt, the trained model folder and the report must all be the true best (before
    the fix a resumed run restarted the best score at -inf: the first worse epoch replaced
    best.pt, and the final model was the last epoch's, not the best)."""
    from ferapp.train.run import run_training

    over = {"epochs": 4, "num_threads": 1, "batch_size": 8, "lr": 0.05}
    cancel = threading.Event()
    first = run_training(
        "cc_lenet5",
        str(ck_dir),
        "holdout-20",
        overrides=over,
        out_dir=tmp_path / "run",
        callbacks=[_CancelAt(11, cancel)],
        cancel=cancel,
    )  # 5 batches/epoch: step 11 = epoch 3
    assert first.outcome == "cancelled"
    last = tmp_path / "run" / "fold1" / "last.pt"
    best_before = first.folds[0].fit.best_val_acc
    assert best_before == pytest.approx(_val_accuracy(tmp_path / "run" / "fold1" / "best.pt", ck_dir))
    res = run_training(
        "cc_lenet5",
        str(ck_dir),
        "holdout-20",
        overrides={**over, "resume": str(last)},
        out_dir=tmp_path / "run",
        callbacks=[_RuinFromEpoch(2)],
    )
    assert res.outcome == "finished", res.message
    fit = res.folds[0].fit
    hist = [h["val_acc"] for h in fit.history]
    assert len(hist) == 4 and max(hist[2:]) < best_before  # the epochs after the resume are worse
    assert fit.best_val_acc == best_before and fit.best_epoch < 2
    best_pt = tmp_path / "run" / "fold1" / "best.pt"
    assert torch.load(best_pt, weights_only=True)["extra"]["epoch"] <= 2  # not replaced by a worse epoch
    assert fit.best_checkpoint == str(best_pt)
    assert _val_accuracy(best_pt, ck_dir) == pytest.approx(best_before)
    # the saved model is the best model, and its test accuracy is the report's figure
    assert _val_accuracy(res.best_model_dir, ck_dir) == pytest.approx(best_before)
    report = json.loads(Path(res.report_path).read_text())
    from ferapp.data import load_dataset
    from ferapp.data.protocols import get_protocol
    from ferapp.train.evaluate import evaluate
    from ferapp.zoo.io import load_model_dir

    ds = load_dataset(str(ck_dir))
    test = get_protocol("holdout-20").folds(ds, seed=0)[0].test_idx
    m = load_model_dir(res.best_model_dir)
    assert evaluate(m.model, m.cfg, ds.subset(test)).accuracy == pytest.approx(
        report["summary"]["mean_accuracy"]
    )


def test_checkpoint_every_n_steps_writes_a_resumable_mid_epoch_last_pt(tmp_path):
    out, mid = tmp_path / "run", tmp_path / "mid.pt"

    class Keep(Callback):  # at step 5 (epoch 2, batch 2 of 3) last.pt holds step 4's state: keep a copy
        def on_batch_end(self, step, loss):
            if step == 5:
                shutil.copy(out / "last.pt", mid)

    def fit(cbs, **over):
        m = make_tiny()
        tc = TrainConfig.from_recipe(recipe_of(m), epochs=3, num_threads=1, out_dir=str(out), **over)
        return Trainer(m, m.cfg, tc, cbs).fit(synthetic_faces()), m

    _, ref_model = fit([])
    res, _ = fit([Keep(), CheckpointCallback(out, every=2)], checkpoint_every=2)
    assert res.outcome == "finished"
    state = torch.load(mid, weights_only=True)["extra"]
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 1, 4)  # mid-epoch
    res2, model2 = fit([], resume=str(mid))  # resuming there ends with the uninterrupted run's weights
    assert res2.outcome == "finished" and res2.global_step == 9
    for (k, a), b in zip(ref_model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), k


def test_checkpoint_writes_are_atomic_and_never_follow_a_planted_link(tmp_path, monkeypatch):
    from ferapp.zoo import io as zio

    m = make_tiny()
    target = tmp_path / "last.pt"
    zio.save_checkpoint(target, m, m.cfg, {"n": 1})
    good = target.read_bytes()
    # a link planted where the old code put its fixed temp name: its target must stay untouched
    victim = tmp_path / "victim.txt"
    victim.write_text("user data")
    (tmp_path / "last.pt.tmp").symlink_to(victim)
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(zio.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(zio.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    zio.save_checkpoint(target, m, m.cfg, {"n": 2})
    assert victim.read_text() == "user data"
    assert calls[:2] == ["fsync", "replace"]  # the data is on disk before the rename
    assert torch.load(target, weights_only=True)["extra"] == {"n": 2}
    # a save that dies half-way leaves the previous file whole and no temp file behind
    real_save = torch.save

    def torn(obj, f, *a, **k):
        f.write(good[: len(good) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zio.torch, "save", torn)
    with pytest.raises(OSError):
        zio.save_checkpoint(target, m, m.cfg, {"n": 3})
    monkeypatch.setattr(zio.torch, "save", real_save)
    assert torch.load(target, weights_only=True)["extra"] == {"n": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.tmp", "victim.txt"]


# --------------------------------------------------------------------------- --out (27.4)
def _train(ck_dir, out, *extra):
    from ferapp.train.commands import main

    return main(
        [
            "train",
            "--model",
            "cc_lenet5",
            "--data",
            str(ck_dir),
            "--protocol",
            "holdout-20",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_out_refuses_a_folder_with_the_users_files_and_deletes_nothing(ck_dir, tmp_path, capsys):
    proj = tmp_path / "proj"
    (proj / "model").mkdir(parents=True)
    (proj / "model" / "thesis.txt").write_text("three years of work")
    (proj / "report.json").write_text('{"mine": true}')
    assert _train(ck_dir, proj) == 2
    assert "is not empty and is not a ferapp run folder" in capsys.readouterr().err
    assert (proj / "model" / "thesis.txt").read_text() == "three years of work"
    assert sorted(p.name for p in proj.rglob("*")) == ["model", "report.json", "thesis.txt"]
    # through the API (the wizard's path) too: the run fails before writing anything
    from ferapp.train.run import run_training

    res = run_training(
        "cc_lenet5", str(ck_dir), "holdout-20", overrides={"epochs": 1, "num_threads": 1}, out_dir=proj
    )
    assert res.outcome == "failed" and "not a ferapp run folder" in res.message
    assert sorted(p.name for p in proj.rglob("*")) == ["model", "report.json", "thesis.txt"]


def test_out_reuses_its_own_run_folder_but_not_another_models_or_foreign_files(ck_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(ck_dir, run) == 0
    assert json.loads((run / "run.json").read_text())["arch"] == "cc_lenet5"
    assert _train(ck_dir, run) == 0  # the same kind of run again: allowed (its own files)
    capsys.readouterr()
    from ferapp.train.commands import main

    assert (
        main(
            [
                "train",
                "--model",
                "lenet5",
                "--data",
                str(ck_dir),
                "--protocol",
                "holdout-20",
                "--epochs",
                "1",
                "--out",
                str(run),
            ]
        )
        == 2
    )
    assert "holds a ferapp run of cc_lenet5, not lenet5" in capsys.readouterr().err
    (run / "model" / "notes.txt").write_text("mine")
    assert _train(ck_dir, run) == 2
    assert "files ferapp did not write (notes.txt)" in capsys.readouterr().err
    assert (run / "model" / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------- threads (28.4)
def test_train_thread_default_by_model_size_and_processes(ck_dir, tmp_path, capsys):
    from ferapp.train.options import OPTIONS, default_threads

    assert default_threads(72_483, 1, cores=16) == 1  # cc_lenet5: 1 thread whatever the machine
    assert default_threads(271_991, 1, cores=2) == 1  # resnet20 on a 2-core machine
    assert default_threads(271_991, 1, cores=8) == 7  # all cores but one
    assert default_threads(271_991, 2, cores=8) == 3  # shared by this node's processes
    assert default_threads(271_991, 16, cores=8) == 1
    assert "100k parameters" in OPTIONS["num_threads"].help
    from ferapp.train.commands import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "100k parameters" in " ".join(capsys.readouterr().out.split())
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "cc_lenet5",
                "--data",
                str(ck_dir),
                "--protocol",
                "holdout-20",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "report.json").read_text())["recipe"]["num_threads"] == 1
    assert np.isfinite(json.loads((out / "report.json").read_text())["summary"]["mean_accuracy"])


def test_resume_is_checked_by_one_rule_before_training_and_when_resuming(tmp_path, capsys):
    """``ferapp train --resume`` checks the checkpoint before any data is read, and the Trainer
    checks it again when it resumes: one function (``checkpoint.load_resumable``) answers both,
    so a file is refused with the same reason. They used to differ: the up-front check went
    through the zoo's safe loader and hinted --init-from, the Trainer read the file with a
    bare torch.load and said neither."""
    import io

    from ferapp.cli import main
    from ferapp.train.checkpoint import STATE_FORMAT
    from ferapp.zoo import create_model
    from ferapp.zoo.io import save_checkpoint

    lenet, other = create_model("cc_lenet5"), create_model("resnet20")
    files = {
        "weights only": save_checkpoint(tmp_path / "weights.pt", lenet, lenet.cfg, {}),
        "another architecture": save_checkpoint(
            tmp_path / "other.pt", other, other.cfg, {"train_state": STATE_FORMAT}
        ),
        "pickled code": tmp_path / "pickled.pt",
    }
    torch.save({"obj": io.BytesIO(b"x")}, files["pickled code"])
    reasons = {
        "weights only": "use --init-from",
        "another architecture": "is for 'resnet20'",
        "pickled code": "never runs",
    }
    for what, path in files.items():
        rc = main(
            ["train", "--model", "cc_lenet5", "--data", str(tmp_path / "unread"), "--resume", str(path)]
        )
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err.startswith("error: --resume: ") and reasons[what] in err, (what, err)
        tc = TrainConfig.from_recipe(get_recipe("cc_lenet5"), epochs=1, num_threads=1, resume=str(path))
        res = Trainer(lenet, lenet.cfg, tc).fit(synthetic_faces(size=48))
        assert res.outcome == "failed" and res.message == "ValueError: " + err[len("error: --resume: ") :], (
            what
        )


def test_a_model_folder_is_written_in_the_loadable_format_or_not_at_all(tmp_path, monkeypatch):
    """The run's model folder is written by the zoo's writer, which the loader reads. A fallback
    used to write a bare state_dict and a flat config.json when ``ferapp.zoo.io`` could not be
    imported: a folder that ``resolve_model`` then rejects ("not a ferapp weights file")."""
    import sys

    from ferapp.train.run import _save_model
    from ferapp.zoo import create_model

    m = create_model("cc_lenet5")
    report = {
        "arch": "cc_lenet5",
        "protocol": {"name": "holdout-20"},
        "dataset": {},
        "summary": {},
        "wall_time_s": 0.0,
        "hardware": "cpu",
        "torch": torch.__version__,
        "recipe": {},
        "created": "",
        "folds": [],
        "params": 0,
    }
    monkeypatch.setitem(sys.modules, "ferapp.zoo.io", None)  # the writer cannot be imported
    with pytest.raises(ImportError):
        _save_model(tmp_path / "model", m, report)
    assert list(tmp_path.iterdir()) == []
