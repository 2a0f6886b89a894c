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


def test_sprint_pack_train_import_on_cpu(tmp_path):
    sys.path.insert(0, str(REPO))
    from training import gpu_sprint

    csv = write_fer_csv(tmp_path / "fer2013.csv", per_class=3)
    packed = gpu_sprint.pack(csv, tmp_path / "sprint" / "fer2013_train.npz.xz")
    ds = gpu_sprint.load_pack(packed)
    assert len(ds) == 21 and ds.images.shape == (21, 48, 48) and ds.images.dtype == np.uint8
    assert sorted(set(ds.labels.tolist())) == list(range(7))  # only Training rows travel

    out = tmp_path / "OUT"
    rep = gpu_sprint.train(packed, out, budget_s=1.0, device="cpu",
                           names=["resnet20_jit_fer2013", "bdnn4_fer2013"], max_train=None, max_epochs=1)
    assert [r["outcome"] for r in rep["runs"]] == ["finished", "finished"]
    assert all(r["epochs"] == 1 for r in rep["runs"])  # the budget allows fewer than one: at least one
    files = sorted(p.name for p in out.iterdir())
    assert files == ["bdnn4_fer2013.tar", "resnet20_jit_fer2013.tar", "sprint.json"]
    assert all((out / f).stat().st_size < 16 * 2**20 for f in files)  # the device tool's per-file limit
    assert json.loads((out / "sprint.json").read_text())["runs"][1]["model_kwargs"] == {"width_mult": 1.0}  # bdnn4: full width

    from ferapp.zoo.io import load_model_dir

    got = gpu_sprint.import_models(out, tmp_path / "models")
    assert [d.name for d in got] == ["bdnn4_fer2013", "resnet20_jit_fer2013"]
    bd = load_model_dir(got[0])
    assert bd.cfg.five_crop == 42 and sum(p.numel() for p in bd.model.parameters()) > 10_000_000  # paper width
    assert (got[0] / "model.packed.npz").exists()
    rn = load_model_dir(got[1])
    assert rn.cfg.flip_tta  # the default's inference options travel with it
    with torch.no_grad():
        assert torch.isfinite(rn.model(torch.zeros(1, 1, 48, 48))).all()


def test_sprint_shell_entry_needs_out_and_knows_its_steps(tmp_path):
    r = subprocess.run(["bash", str(REPO / "training" / "gpu_sprint.sh"), "nonsense"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run(["bash", str(REPO / "training" / "gpu_sprint.sh"), "train"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "OUT" in r.stderr
