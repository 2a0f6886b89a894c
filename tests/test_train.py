"""Trainer engine: outcome funnel, cancel/resume, reproducibility, schedules, augmentation, CLI."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ferapp.train import Callback, CheckpointCallback, TrainConfig, Trainer
from ferapp.train.augment import mirror, random_crop, random_rotate
from ferapp.train.schedules import Plateau10
from tests._train_helpers import make_tiny, recipe_of, synthetic_faces

torch.set_num_threads(1)


class Recorder(Callback):
    def __init__(self, cancel_at: int | None = None, cancel: threading.Event | None = None):
        self.events: list[tuple] = []
        self.losses: list[float] = []
        self.steps: list[int] = []
        self.cancel_at, self.cancel = cancel_at, cancel

    def on_run_start(self, info):
        self.events.append(("run_start",))

    def on_epoch_end(self, epoch, metrics):
        self.events.append(("epoch_end", epoch))

    def on_batch_end(self, step, loss):
        self.steps.append(step)
        self.losses.append(loss)
        if self.cancel_at is not None and step == self.cancel_at:
            self.cancel.set()

    def on_run_end(self, outcome):
        self.events.append(("run_end", outcome.outcome))


def _fit(tmp_path=None, epochs=3, cbs=(), cancel=None, model=None, train=None, val=None, **over):
    model = model or make_tiny()
    tc = TrainConfig.from_recipe(
        recipe_of(model),
        epochs=epochs,
        seed=over.pop("seed", 0),
        num_threads=1,
        out_dir=str(tmp_path) if tmp_path else None,
        **over,
    )
    tr = Trainer(model, model.cfg, tc, list(cbs), cancel)
    res = tr.fit(train if train is not None else synthetic_faces(), val)
    return res, tr


def test_finishes_once_and_loss_falls():
    rec = Recorder()
    res, _ = _fit(epochs=6, cbs=[rec])
    assert res.outcome == "finished", res.message
    assert [e for e in rec.events if e[0] == "run_end"] == [("run_end", "finished")]
    assert rec.events[0] == ("run_start",)
    assert res.epochs_completed == 6 and res.global_step == 6 * 3
    assert res.history[-1]["train_loss"] < 0.7 * res.history[0]["train_loss"]


def test_failure_ends_once_with_message():
    class Boom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("kaboom in forward")

    m = Boom()
    tiny = make_tiny()
    m.cfg, m.recipe = tiny.cfg, tiny.recipe
    rec = Recorder()
    res, _ = _fit(model=m, cbs=[rec])
    assert res.outcome == "failed"
    assert "kaboom" in res.message and "RuntimeError" in res.message
    assert [e for e in rec.events if e[0] == "run_end"] == [("run_end", "failed")]


def test_bad_option_and_bad_resume_fail_cleanly(tmp_path):
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_recipe(None, epochz=3)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    res, _ = _fit(resume=str(bad))
    assert res.outcome == "failed" and "checkpoint" in res.message


def test_cancel_within_one_batch_then_resume_matches_uninterrupted(tmp_path):
    # uninterrupted reference
    ref, ref_tr = _fit(tmp_path / "ref", epochs=3)
    assert ref.outcome == "finished"
    # cancelled at global step 4 (epoch 1, batch 1 of 3 batches/epoch)
    cancel = threading.Event()
    rec = Recorder(cancel_at=4, cancel=cancel)
    res, _ = _fit(tmp_path / "run", epochs=3, cbs=[rec], cancel=cancel)
    assert res.outcome == "cancelled"
    assert rec.steps[-1] == 4 and res.global_step == 4  # stopped before the next batch
    assert [e for e in rec.events if e[0] == "run_end"] == [("run_end", "cancelled")]
    state = torch.load(res.last_checkpoint, weights_only=True)["extra"]
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 1, 4)
    # resume continues from step 5 and ends with the same weights as the uninterrupted run
    rec2 = Recorder()
    model2 = make_tiny()
    res2, tr2 = _fit(tmp_path / "run", epochs=3, cbs=[rec2], model=model2, resume=res.last_checkpoint)
    assert res2.outcome == "finished", res2.message
    assert rec2.steps[0] == 5 and res2.global_step == ref.global_step
    assert rec2.losses[0] < rec.losses[0]  # loss continues, does not restart from scratch
    for (k, a), b in zip(ref_tr.model.state_dict().items(), tr2.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), k
    assert res2.history[-1]["train_loss"] == pytest.approx(ref.history[-1]["train_loss"], rel=1e-5)


def test_seeded_runs_are_reproducible():
    a, _ = _fit(epochs=2, augment=("mirror", "crop", "rotate"))
    b, _ = _fit(epochs=2, augment=("mirror", "crop", "rotate"))
    c, _ = _fit(epochs=2, augment=("mirror", "crop", "rotate"), seed=1)
    la = [h["train_loss"] for h in a.history]
    assert la == [h["train_loss"] for h in b.history]
    assert la != [h["train_loss"] for h in c.history]


def test_plateau10_schedule_divides_then_stops():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.005)
    s = Plateau10([opt], 0.005, min_lr=5e-5, patience=1)
    s.step(0, 0.5)
    s.step(1, 0.4)  # improving: no change
    assert s.lr == pytest.approx(0.005)
    s.step(2, 0.4)  # plateau
    assert s.lr == pytest.approx(0.0005) and opt.param_groups[0]["lr"] == pytest.approx(0.0005)
    s.step(3, 0.3)
    s.step(4, 0.35)
    assert s.lr == pytest.approx(5e-5) and not s.should_stop
    s.step(5, 0.35)
    assert s.should_stop and s.lr == pytest.approx(5e-5)
    s2 = Plateau10([opt], 0.005, min_lr=5e-5)
    s2.load_state_dict(s.state_dict())
    assert s2.should_stop and s2.reductions == 2


@pytest.mark.parametrize("watch", ["val_error", "val_loss"])
def test_trainer_stops_when_plateau10_reaches_min_lr(watch):
    ds = synthetic_faces()
    res, tr = _fit(
        epochs=20,
        val=ds,
        schedule="plateau10",
        lr=1e-9,
        min_lr=1e-11,
        plateau_metric=watch,
        plateau_patience=1,
    )
    assert res.outcome == "finished"
    lrs = [h["lr"] for h in res.history]  # lr used in each epoch
    if watch == "val_error":  # accuracy frozen (lr ~ 0): every epoch after the first is a plateau
        assert lrs == pytest.approx([1e-9, 1e-9, 1e-10, 1e-11])
    else:  # val loss still moves while BatchNorm running stats settle, then plateaus
        assert lrs == sorted(lrs, reverse=True) and lrs[-1] == pytest.approx(1e-11)
    assert res.epochs_completed < 20 and "min_lr" in res.stop_reason
    with pytest.raises(ValueError, match="plateau_metric must be one of"):  # rejected by the schema up front
        _fit(epochs=1, plateau_metric="x")


def test_checkpoint_callback_writes_last_and_best(tmp_path):
    ds = synthetic_faces()
    res, _ = _fit(tmp_path, epochs=2, val=ds, cbs=[CheckpointCallback(tmp_path)])
    assert res.outcome == "finished" and res.epochs_completed == 2
    assert (tmp_path / "last.pt").exists() and (tmp_path / "best.pt").exists()
    assert res.best_checkpoint == str(tmp_path / "best.pt")


def test_bf16_cpu_converts_the_model_to_channels_last_once(monkeypatch):
    """On a bf16 CPU the weights go channels_last once at set-up, not by a model.to per batch."""
    monkeypatch.setattr("ferapp.train.trainer.cpu_has_bf16", lambda: True)
    model = make_tiny()
    calls = []
    real_to = model.to
    monkeypatch.setattr(model, "to", lambda *a, **k: calls.append(k.get("memory_format")) or real_to(*a, **k))
    res, tr = _fit(model=model, epochs=1, cpu_bf16=True)
    assert res.outcome == "finished", res.message
    assert tr.cpu_bf16 and calls.count(torch.channels_last) == 1, calls
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


def test_augmentations_on_tensors():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    m = mirror(x, torch.Generator().manual_seed(0), p=1.0)
    assert torch.equal(m, x.flip(-1))
    c = random_crop(x, g, pad=2)
    assert c.shape == x.shape
    # each crop is a shifted window of the replicate-padded image
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    for i in range(2):
        assert any(torch.equal(c[i], xp[i, :, a : a + 6, b : b + 6]) for a in range(5) for b in range(5))
    r = random_rotate(x, torch.Generator().manual_seed(1), max_deg=10)
    assert r.shape == x.shape and not torch.equal(r, x)
    r2 = random_rotate(x, torch.Generator().manual_seed(1), max_deg=10)
    assert torch.equal(r, r2)


# ------------------------------------------------------------------ run_training + CLI end to end
CK_CLASSES = ("anger", "happy", "surprise")


def make_ck48_folder(root, subjects: int = 6, frames: int = 3, seed: int = 0):
    """A tiny CK+48-style folder: <class>/S###_###_########.png, 48x48 gray, class = band position."""
    import cv2

    rng = np.random.default_rng(seed)
    for k, cls in enumerate(CK_CLASSES):
        d = root / cls
        d.mkdir(parents=True)
        for s in range(subjects):
            for f in range(frames):
                im = np.full((48, 48), 70.0)
                im[k * 16 : (k + 1) * 16] = 190.0
                im = np.clip(im + rng.normal(0, 15, im.shape), 0, 255).astype(np.uint8)
                cv2.imwrite(str(d / f"S{10 + s:03d}_{k + 1:03d}_{f + 1:08d}.png"), im)
    return root


@pytest.fixture
def ck_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FERAPP_USER_MODELS_DIR", str(tmp_path / "user_models"))
    return make_ck48_folder(tmp_path / "CK+48")


def test_run_training_api_report_and_model_folder(ck_dir, tmp_path):
    import json

    from ferapp.train.run import run_training, save_to_user_models
    from ferapp.zoo.io import load_model_dir

    rec = Recorder()
    folds_seen = []

    class FoldRec(Callback):
        def on_fold_start(self, fold, index, total):
            folds_seen.append((fold, index, total))

    res = run_training(
        "cc_lenet5",
        str(ck_dir),
        "subject-3fold",
        overrides={"epochs": 2, "num_threads": 1, "lr": 0.05},
        out_dir=tmp_path / "run",
        callbacks=[rec, FoldRec()],
        folds=[0, 2],
    )
    assert res.outcome == "finished", res.message + res.traceback
    assert [e for e in rec.events if e[0] in ("run_start", "run_end")] == [
        ("run_start",),
        ("run_end", "finished"),
    ]
    assert [f[1:] for f in folds_seen] == [(0, 2), (1, 2)] and len(res.folds) == 2
    rep = json.loads(open(res.report_path).read())
    assert rep["protocol"]["name"] == "subject-3fold" and rep["protocol"]["subject_independent"]
    assert len(rep["folds"]) == 2 and rep["dataset"]["fingerprint"]
    assert rep["summary"]["mean_accuracy"] == pytest.approx(np.mean([f.test.accuracy for f in res.folds]))
    assert rep["torch"] == torch.__version__ and "CPU" in rep["hardware"]
    for f in res.folds:  # subject-independent: no test subject in training
        assert f.n_test > 0
    assert (tmp_path / "run" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "run" / "fold1" / "best.pt").exists()
    loaded = load_model_dir(res.best_model_dir)
    assert loaded.cfg.name == "cc_lenet5"
    card = open(f"{res.best_model_dir}/README.md").read()
    assert "mean ± std" in card and "Citation" in card and "departs from the paper" in card
    dst = save_to_user_models(res, "my_lenet")
    assert (dst / "config.json").exists()
    with pytest.raises(FileExistsError):
        save_to_user_models(res, "my_lenet")


def test_run_training_cancel_and_failure_end_once(ck_dir, tmp_path):
    from ferapp.train.run import run_training

    cancel = threading.Event()
    rec = Recorder(cancel_at=2, cancel=cancel)
    res = run_training(
        "cc_lenet5",
        str(ck_dir),
        "subject-3fold",
        overrides={"epochs": 3, "batch_size": 8},
        out_dir=tmp_path / "run",
        callbacks=[rec],
        cancel=cancel,
    )
    assert res.outcome == "cancelled" and len(res.folds) == 1
    assert [e for e in rec.events if e[0] == "run_end"] == [("run_end", "cancelled")]
    assert (tmp_path / "run" / "fold1" / "last.pt").exists()
    rec2 = Recorder()
    bad = run_training("no_such_arch", str(ck_dir), callbacks=[rec2])
    assert bad.outcome == "failed" and "no_such_arch" in bad.message
    assert [e for e in rec2.events if e[0] == "run_end"] == [("run_end", "failed")]


def test_cli_train_then_eval_end_to_end(ck_dir, tmp_path, capsys):
    import json

    from ferapp.train.commands import main

    out = tmp_path / "cli_run"
    rc = main(
        [
            "train",
            "--model",
            "cc_lenet5",
            "--data",
            str(ck_dir),
            "--protocol",
            "subject-3fold",
            "--epochs",
            "3",
            "--lr",
            "0.05",
            "--out",
            str(out),
            "--folds",
            "1",
            "--threads",
            "1",
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch 3/3" in text and "mean ± std" in text
    model_dir = out / "model"
    rc = main(["eval", str(model_dir), "--data", str(ck_dir), "--json", "--out", str(tmp_path / "ev")])
    payload = json.loads(capsys.readouterr().out)
    assert rc == 0 and payload["result"]["n"] == 54
    assert (tmp_path / "ev" / "eval_confusion.png").exists()
    # a training checkpoint is evaluable too
    assert main(["eval", str(out / "fold1" / "best.pt"), "--data", str(ck_dir)]) == 0
    assert "accuracy" in capsys.readouterr().out
    # resume the single fold from its last checkpoint for one more epoch
    rc = main(
        [
            "train",
            "--model",
            "cc_lenet5",
            "--data",
            str(ck_dir),
            "--protocol",
            "subject-3fold",
            "--epochs",
            "4",
            "--out",
            str(tmp_path / "cli_resume"),
            "--folds",
            "1",
            "--quiet",
            "--resume",
            str(out / "fold1" / "last.pt"),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "epoch 4/4" in text and "epoch 1/4" not in text


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--model", "nope", "--data", "X"], "unknown model"),
        (["train", "--model", "cc_lenet5", "--data", "/no/such/dir"], "dataset"),
        (["train", "--model", "cc_lenet5", "--data", "DATA", "--protocol", "weird"], "protocol"),
        (["eval", "nope_model", "--data", "DATA"], "cannot load model"),
        (
            ["train", "--model", "cc_lenet5", "--data", "DATA", "--init-from", "nope_model"],
            "cannot load model",
        ),
        (
            ["train", "--model", "lenet5", "--data", "DATA", "--init-from", "resnet20_fer2013"],
            "is a resnet20 model",
        ),
        (["eval", "BADCKPT", "--data", "DATA"], "cannot load model"),
        (["eval", "cc_lenet5", "--data", "DATA", "--split", "PrivateTest"], "split"),
    ],
)
def test_cli_bad_inputs_exit_nonzero(ck_dir, tmp_path, capsys, argv, needle):
    from ferapp.train.commands import main

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    argv = [str(ck_dir) if a == "DATA" else str(bad) if a == "BADCKPT" else a for a in argv]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_fit_in_worker_thread_cancelled_from_outside(tmp_path):
    """The GUI's use: fit on a worker thread, cancel Event set from the UI thread."""
    import time

    cancel, started = threading.Event(), threading.Event()

    class Slow(Callback):
        def on_batch_end(self, step, loss):
            started.set()
            time.sleep(0.01)

    out = {}
    th = threading.Thread(
        target=lambda: out.setdefault("r", _fit(tmp_path, epochs=50, cbs=[Slow()], cancel=cancel)[0])
    )
    th.start()
    assert started.wait(30)
    cancel.set()
    th.join(30)
    assert not th.is_alive()
    assert out["r"].outcome == "cancelled" and out["r"].global_step < 150
    assert (tmp_path / "last.pt").exists()


def test_run_training_init_from_warm_starts_and_checks_the_architecture(ck_dir, tmp_path):
    from ferapp.train.run import run_training
    from ferapp.zoo.io import load_model_dir

    base = run_training(
        "cc_lenet5",
        str(ck_dir),
        "holdout-20",
        overrides={"epochs": 1, "num_threads": 1},
        out_dir=tmp_path / "base",
    )
    assert base.outcome == "finished", base.message
    src = load_model_dir(base.best_model_dir).model.state_dict()
    # lr 0: the warm-started run must end with exactly the source weights (fp16 on disk)
    warm = run_training(
        "cc_lenet5",
        str(ck_dir),
        "holdout-20",
        overrides={
            "epochs": 1,
            "num_threads": 1,
            "lr": 0.0,
            "momentum": 0.0,
            "weight_decay": 0.0,
            "init_from": base.best_model_dir,
        },
        out_dir=tmp_path / "warm",
    )
    assert warm.outcome == "finished", warm.message
    got = load_model_dir(warm.best_model_dir).model.state_dict()
    for k, v in src.items():
        if v.is_floating_point() and "running" not in k and "num_batches" not in k:
            assert torch.equal(got[k], v), k
    cold = run_training(
        "cc_lenet5",
        str(ck_dir),
        "holdout-20",
        overrides={"epochs": 1, "num_threads": 1, "lr": 0.0, "momentum": 0.0, "weight_decay": 0.0, "seed": 7},
        out_dir=tmp_path / "cold",
    )
    first = next(k for k, v in src.items() if v.is_floating_point() and v.ndim > 1)
    assert not torch.equal(load_model_dir(cold.best_model_dir).model.state_dict()[first], src[first])
    wrong = run_training(
        "lenet5",
        str(ck_dir),
        "holdout-20",
        overrides={"epochs": 1, "num_threads": 1, "init_from": base.best_model_dir},
        out_dir=tmp_path / "wrong",
    )
    assert wrong.outcome == "failed" and "cc_lenet5" in wrong.message
