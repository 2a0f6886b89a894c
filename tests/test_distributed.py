"""Distributed data-parallel training (issue 26 items 1-4, 27 items 4-5): gloo ranks on this CPU.

Every multi-process test starts real torchrun agents (``python -m torch.distributed.run``) or
``ferapp train --nproc`` as subprocesses, with a rendezvous on a free port and a bounded
timeout, so a broken rendezvous or a hung collective fails the test instead of hanging CI.
Tiny nets and a 54-image generated CK+48-style folder keep each job to a few seconds of work;
most of a test's time is the processes importing torch.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ferapp.train import distributed
from tests._dist_cases import CASES, run_case

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_dist_worker.py"
JOB_TIMEOUT = 240  # seconds: a job that takes longer is hung, not slow
TOL = {"atol": 2e-5, "rtol": 1e-4}  # float tolerance: sums over ranks add in another order
torch.set_num_threads(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FERAPP_TORCH_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for k in (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "TORCHELASTIC_RESTART_COUNT",
        "FERAPP_RUN_ID",
        "TORCHELASTIC_RUN_ID",
    ):
        env.pop(k, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: float = JOB_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _torchrun(*args: str, env: dict[str, str] | None = None, timeout: float = JOB_TIMEOUT):
    return _run([sys.executable, "-m", "torch.distributed.run", *args], env or _env(), timeout)


def _train_args(data: Path, out: Path, epochs: int = 2, *extra: str) -> list[str]:
    """cc_lenet5 on the 54-image folder, 2-fold cross-validation (24 training images per fold: 3
    batches of 8 per epoch), a checkpoint every 2 steps."""
    return [
        "train",
        "--model",
        "cc_lenet5",
        "--data",
        str(data),
        "--protocol",
        "kfold-2",
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--lr",
        "0.05",
        "--out",
        str(out),
        "--checkpoint-every",
        "2",
        "--quiet",
        *extra,
    ]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _assert_close(a: dict, b: dict, exact: bool = False) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            assert torch.allclose(a[k].float(), b[k].float(), **TOL), (k, (a[k] - b[k]).abs().max())


@pytest.fixture(scope="module")
def ck_dir(tmp_path_factory):
    from tests.test_train import make_ck48_folder

    return make_ck48_folder(tmp_path_factory.mktemp("data") / "CK+48")


@pytest.fixture(scope="module")
def two_rank_run(ck_dir, tmp_path_factory):
    """``ferapp train --nproc 2`` (the launcher path): 2 folds x 2 epochs of cc_lenet5, checkpoint every
    2 steps, every rank but 0 auditing its writes under the run folder (tests/dist_site/sitecustomize.py)."""
    root = tmp_path_factory.mktemp("nproc2")
    out = root / "run"
    env = _env(
        FERAPP_TEST_AUDIT=str(out),
        PYTHONPATH=f"{REPO / 'tests' / 'dist_site'}{os.pathsep}{REPO}",
        FERAPP_RUNS_DIR=str(root / "runs"),
    )
    proc = _run([sys.executable, "-m", "ferapp", *_train_args(ck_dir, out), "--nproc", "2"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


# ----------------------------------------------------------------------------------- units
@pytest.mark.parametrize("n, world", [(7, 2), (3, 2), (2, 3), (64, 5), (1, 4), (0, 2)])
def test_shard_bounds_give_every_row_to_exactly_one_rank(n, world):
    bounds = [distributed.shard_bounds(n, r, world) for r in range(world)]
    rows = [i for lo, hi in bounds for i in range(lo, hi)]
    assert rows == list(range(n))  # contiguous, in rank order, each row once
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_hsic_is_refused_up_front_with_its_reason(capsys, monkeypatch, ck_dir, tmp_path):
    from ferapp.train.commands import main

    rc = main(["train", "--model", "hsic_densenet", "--data", str(tmp_path / "never_read"), "--nproc", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "'hsic' (P3) cannot train with more than one process" in err
    assert "kernel matrices over the whole batch" in err
    # the same check inside a torchrun worker, before the data is read
    for k, v in {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "1",
    }.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(distributed.WorkerFailed, match="cannot train with more than one process"):
        main(["train", "--model", "hsic_densenet", "--data", str(tmp_path / "never_read")])
    assert (
        distributed.refusal("backprop", 4)
        == distributed.refusal("bnn", 4)
        == distributed.refusal("hsic", 1)
        == ""
    )


# ------------------------------------------------------------------ 2 ranks follow 1 process
@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 3])
def test_n_ranks_follow_one_process_for_every_strategy(tmp_path, ranks):
    """Backprop with BatchNorm, augmentation and uneven slices; center loss; BNN with five crops;
    mixup; a last batch smaller than the number of ranks (3 ranks: an empty slice): after 2
    epochs the N-rank parameters (and losses, validation accuracy) equal the 1-process ones."""
    proc = _torchrun("--standalone", "--nproc-per-node", str(ranks), str(WORKER), "cases", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in CASES:
        res, model = run_case(name)
        two = json.loads((tmp_path / f"{name}.json").read_text())
        assert two["outcome"] == "finished", two["message"]
        _assert_close(torch.load(tmp_path / f"{name}.pt", weights_only=True), model.state_dict())
        got = [h["train_loss"] for h in two["history"]]
        assert got == pytest.approx([h["train_loss"] for h in res.history], rel=1e-4), name
        if "val_acc" in res.history[-1]:  # metrics over the gathered validation predictions
            assert [h["val_acc"] for h in two["history"]] == [h["val_acc"] for h in res.history]


def test_global_batchnorm_is_plain_batchnorm_without_a_group():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3),
        torch.nn.BatchNorm2d(3),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 2),
        torch.nn.BatchNorm1d(2),
    )
    keys = list(net.state_dict())
    distributed.convert_batchnorm(net)
    gbn = distributed.global_batchnorm_class()
    assert isinstance(net[1], gbn) and isinstance(net[4], gbn) and list(net.state_dict()) == keys
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3),
        torch.nn.BatchNorm2d(3),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 2),
        torch.nn.BatchNorm1d(2),
    )
    ref.load_state_dict(net.state_dict())
    x = torch.randn(5, 1, 6, 6)
    assert torch.equal(net(x), ref(x)) and torch.equal(net[1].running_var, ref[1].running_var)
    distributed.revert_batchnorm(net)
    assert type(net[1]) is torch.nn.BatchNorm2d and type(net[4]) is torch.nn.BatchNorm1d
    assert list(net.state_dict()) == keys


# ---------------------------------------------------------------------- the CLI, 2 ranks
@pytest.mark.slow
def test_nproc_trains_one_model_and_rank0_alone_writes(two_rank_run, ck_dir, tmp_path, capsys):
    out, proc = two_rank_run
    for fold in (1, 2):  # k folds one after another with both ranks; rank 0 alone prints
        assert proc.stdout.count(f"[kfold-2/fold{fold} {fold}/2] epoch 1/2") == 1
        assert proc.stdout.count(f"[kfold-2/fold{fold} {fold}/2] epoch 2/2") == 1
    assert "starting 2 training processes" in proc.stdout
    audit = out.parent / "audit.rank1.txt"
    assert audit.exists() and audit.read_text().strip() == "", audit.read_text()  # rank 1 wrote nothing
    rep = json.loads((out / "report.json").read_text())
    assert rep["processes"] == 2 and rep["outcome"] == "finished"
    assert json.loads((out / "run.json").read_text())["arch"] == "cc_lenet5"
    assert not [p for p in out.rglob("*.tmp")]
    # the model is the 1-process model of the same global batch (cc_lenet5: no BatchNorm, no dropout)
    from ferapp.train.commands import main

    assert main(_train_args(ck_dir, tmp_path / "one", 2, "--threads", "1")) == 0
    capsys.readouterr()
    for fold in ("fold1", "fold2"):
        _assert_close(_weights(out / fold / "last.pt"), _weights(tmp_path / "one" / fold / "last.pt"))
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    assert [f["test"]["accuracy"] for f in rep["folds"]] == [f["test"]["accuracy"] for f in one["folds"]]


@pytest.mark.slow
def test_resume_a_two_rank_checkpoint_with_one_process(two_rank_run, ck_dir, tmp_path, capsys):
    """The training state does not depend on the world size: 2 ranks for 2 epochs, then 1 process
    to epoch 3, ends where 1 process for 3 epochs ends."""
    from ferapp.train.commands import main

    out, _ = two_rank_run
    assert (
        main(
            _train_args(
                ck_dir,
                tmp_path / "resumed",
                3,
                "--threads",
                "1",
                "--folds",
                "2",
                "--resume",
                str(out / "fold2" / "last.pt"),
            )
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "epoch 3/3" in text and "epoch 1/3" not in text
    assert main(_train_args(ck_dir, tmp_path / "ref", 3, "--threads", "1", "--folds", "2")) == 0
    capsys.readouterr()
    _assert_close(
        _weights(tmp_path / "resumed" / "fold2" / "last.pt"), _weights(tmp_path / "ref" / "fold2" / "last.pt")
    )


@pytest.mark.slow
def test_elastic_restart_after_sigkill_gives_the_uninterrupted_model(two_rank_run, ck_dir, tmp_path):
    """torchrun --max-restarts 1: rank 1 is SIGKILLed before its 9th step (fold 2, epoch 1, batch 3,
    after fold 2's step-2 checkpoint); the group restarts, fold 1 is taken from its finished
    last.pt (best weights included), fold 2 resumes from its own last.pt, and both folds' models
    and test figures are bit for bit those of the uninterrupted 2-rank run."""
    ref, _ = two_rank_run
    out = tmp_path / "run"
    env = _env(FERAPP_TEST_KILL_STEP=9)
    proc = _torchrun(
        "--standalone",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        "1",
        "--monitor-interval",
        "0.2",
        str(WORKER),
        "cli",
        *_train_args(ck_dir, out),
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = proc.stdout + proc.stderr
    assert "exitcode: -9" in log or "SIGKILL" in log, log  # the kill happened
    assert proc.stdout.count("[kfold-2/fold1 1/2] epoch 1/2") == 1  # fold 1 was not trained again
    assert (
        proc.stdout.count("[kfold-2/fold2 2/2] epoch 1/2") == 1
    )  # fold 2 printed epoch 1 once, after the restart
    for fold in ("fold1", "fold2"):
        _assert_close(_weights(out / fold / "last.pt"), _weights(ref / fold / "last.pt"), exact=True)
    _assert_close(_weights(out / "model" / "model.pt"), _weights(ref / "model" / "model.pt"), exact=True)
    a, b = (json.loads((d / "report.json").read_text()) for d in (out, ref))
    assert [f["test"] for f in a["folds"]] == [f["test"] for f in b["folds"]]


@pytest.mark.slow
def test_two_torchrun_agents_as_two_nodes_train_one_model(two_rank_run, ck_dir, tmp_path):
    """Two agents on localhost (one process each) meet at a c10d rendezvous and train the model
    that 2 processes on one node train."""
    ref, _ = two_rank_run
    out = tmp_path / "run"
    rdzv = [
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{_free_port()}",
        "--rdzv-id",
        "two-node-test",
    ]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *rdzv,
        str(WORKER),
        "cli",
        *_train_args(ck_dir, out),
    ]
    agents = [
        subprocess.Popen(
            cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    try:
        logs = [a.communicate(timeout=JOB_TIMEOUT)[0] for a in agents]
    finally:
        for a in agents:
            if a.poll() is None:
                a.kill()
    assert [a.returncode for a in agents] == [0, 0], "\n".join(logs)
    rep = json.loads((out / "report.json").read_text())
    assert rep["processes"] == 2
    for fold in ("fold1", "fold2"):
        _assert_close(_weights(out / fold / "last.pt"), _weights(ref / fold / "last.pt"), exact=True)


# ----------------------------------------------------------------------------- failures
@pytest.mark.slow
def test_a_failing_rank_ends_the_job_with_its_error_in_one_line(ck_dir, tmp_path):
    """Rank 1 raises in its 3rd step; rank 0, waiting in that step's all-reduce, must not hang:
    the job ends (bounded time), exit 1, with rank 1's error as the launcher's one line."""
    env = _env(FERAPP_TEST_FAIL_STEP=3, PYTHONPATH=f"{REPO / 'tests' / 'dist_site'}{os.pathsep}{REPO}")
    proc = _run(
        [sys.executable, "-m", "ferapp", *_train_args(ck_dir, tmp_path / "run"), "--nproc", "2"],
        env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: training failed on rank")]
    assert line == ["error: training failed on rank 1: RuntimeError: injected failure on rank 1"], proc.stderr


# ------------------------------------------------------------- SIGTERM like Ctrl-C (27.5)
@pytest.mark.slow
def test_ctrl_c_on_nproc_stops_every_rank_cleanly_with_a_resumable_checkpoint(ck_dir, tmp_path):
    """Ctrl-C in a terminal reaches the launcher and both workers, then the launcher sends SIGINT
    again: the ranks agree on a batch to stop at, rank 0 writes last.pt, the job exits 130."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ferapp", *_train_args(ck_dir, out, 10000), "--nproc", "2"]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for line in proc.stdout:
            if "epoch 2/10000 " in line:
                break
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole process group
        _, err = proc.communicate(timeout=JOB_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "cancelled by user (checkpoint" in err
    state = torch.load(out / "fold1" / "last.pt", weights_only=True)["extra"]
    assert state["epoch"] >= 2 and state["global_step"] == 3 * state["epoch"] + state["batch_in_epoch"]


@pytest.mark.slow
def test_sigterm_during_training_writes_last_pt_and_exits_143(ck_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ferapp", *_train_args(ck_dir, out, 10000)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in proc.stdout:  # wait until training runs (an epoch line), then SIGTERM
            if "epoch 1/10000 " in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    last = out / "fold1" / "last.pt"
    state = torch.load(last, weights_only=True)["extra"]
    assert state["epoch"] >= 1 and state["global_step"] >= 3  # a resumable state, past epoch 1
    assert "cancelled" in err
    from ferapp.train.commands import main  # and it resumes

    epochs = state["epoch"] + 1
    assert (
        main(_train_args(ck_dir, out, epochs, "--threads", "1", "--folds", "1", "--resume", str(last))) == 0
    )
    assert torch.load(last, weights_only=True)["extra"]["epoch"] == epochs


# ------------------------------------------------------------------------ bench: scale
def test_bench_scale_section_collects_every_row_source_and_prints_its_table(monkeypatch):
    from ferapp.bench import run_bench, scale
    from ferapp.bench.report import format_report

    fake = {"work": "batch analysis", "jobs": 2, "recordings_per_s": 1.5}
    monkeypatch.setattr(scale, "ROW_SOURCES", [lambda quick: [dict(fake, quick=quick)]])
    monkeypatch.setitem(
        scale.TABLES, "batch analysis", ("batch analysis of the clips", ["jobs", "recordings_per_s"])
    )
    res = run_bench(quick=True, sections=("scale",))
    assert res["scale"] == [dict(fake, quick=True)] and "models" not in res
    text = format_report(res)
    assert "## Scale" in text and "batch analysis of the clips:" in text and "| 2    | 1.5" in text
    assert "no row can exceed" in text
