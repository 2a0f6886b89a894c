"""The GPU sprint script runs end to end here on the CPU with a tiny budget: pack a FER2013-format
csv, train sprint entries at the papers' sizes, bring back one tar per model, import them as
model folders that load and classify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from tests._train_helpers import write_fer_csv

REPO = Path(__file__).resolve().parents[1]


def test_sprint_entries_are_the_papers_sizes(tmp_path):
    """What the sprint builds on the lent GPU: bdnn4 at the paper's full width (>10 M parameters),
    and its model folder fits in one file that the device tool brings back (untrained here: a
    full-width epoch costs minutes of this CPU)."""
    sys.path.insert(0, str(REPO))
    from ferapp.zoo.io import save_model_dir
    from training import gpu_sprint

    model, cfg, tcfg, _ = gpu_sprint._entry_config("bdnn4_fer2013", "cpu")
    assert sum(p.numel() for p in model.parameters()) > 10_000_000 and cfg.five_crop == 42
    assert tcfg.batch_size == 64 and tcfg.device == "cpu"
    save_model_dir(tmp_path / "bd", model, cfg)
    assert (tmp_path / "bd" / "model.packed.npz").exists()
    assert (
        sum(f.stat().st_size for f in (tmp_path / "bd").iterdir()) < 16 * 2**20
    )  # the device tool's per-file limit


def test_sprint_pack_train_import_on_cpu(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO))
    from training import gpu_sprint

    csv = write_fer_csv(tmp_path / "fer2013.csv", per_class=3)
    packed = gpu_sprint.pack(csv, tmp_path / "sprint" / "fer2013_train.npz.xz")
    ds = gpu_sprint.load_pack(packed)
    assert len(ds) == 21 and ds.images.shape == (21, 48, 48) and ds.images.dtype == np.uint8
    assert sorted(set(ds.labels.tolist())) == list(range(7))  # only Training rows travel

    # bdnn4 at 1/16 of the paper's width: the same code path (binary layers, five crops, packing)
    # at a CPU test's cost; test_sprint_entries_are_the_papers_sizes checks the real entry's width
    tiny = {**gpu_sprint.SPRINT["bdnn4_fer2013"], "model_kwargs": {"width_mult": 0.0625}}
    monkeypatch.setitem(gpu_sprint.SPRINT, "bdnn4_fer2013", tiny)
    out = tmp_path / "OUT"
    rep = gpu_sprint.train(
        packed,
        out,
        budget_s=1.0,
        device="cpu",
        names=["resnet20_jit_fer2013", "bdnn4_fer2013"],
        max_train=None,
        max_epochs=1,
    )
    assert [r["outcome"] for r in rep["runs"]] == ["finished", "finished"]
    assert all(r["epochs"] == 1 for r in rep["runs"])  # the budget allows fewer than one: at least one
    files = sorted(p.name for p in out.iterdir())
    assert files == ["bdnn4_fer2013.tar", "resnet20_jit_fer2013.tar", "sprint.json"]
    assert all((out / f).stat().st_size < 16 * 2**20 for f in files)  # the device tool's per-file limit
    assert json.loads((out / "sprint.json").read_text())["runs"][1]["model_kwargs"] == {"width_mult": 0.0625}

    from ferapp.zoo.io import load_model_dir

    got = gpu_sprint.import_models(out, tmp_path / "models")
    assert [d.name for d in got] == ["bdnn4_fer2013", "resnet20_jit_fer2013"]
    bd = load_model_dir(got[0])
    assert (
        bd.cfg.five_crop == 42
        and bd.model.state_dict().keys()
        == gpu_sprint._entry_config("bdnn4_fer2013", "cpu")[0].state_dict().keys()
    )
    assert (got[0] / "model.packed.npz").exists()
    rn = load_model_dir(got[1])
    assert rn.cfg.flip_tta  # the default's inference options travel with it
    with torch.no_grad():
        assert torch.isfinite(rn.model(torch.zeros(1, 1, 48, 48))).all()


def test_sprint_shell_entry_needs_out_and_knows_its_steps(tmp_path):
    r = subprocess.run(
        ["bash", str(REPO / "training" / "gpu_sprint.sh"), "nonsense"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run(
        ["bash", str(REPO / "training" / "gpu_sprint.sh"), "train"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert r.returncode != 0 and "OUT" in r.stderr
