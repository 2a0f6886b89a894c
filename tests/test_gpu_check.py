"""training/gpu_check.py on the CPU with a tiny budget: the pack travels, every step runs or says why
not, the report and its README tables are written, and the shell entry checks its arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._train_helpers import write_fer_csv

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@pytest.fixture
def packed(tmp_path):
    from training import gpu_check

    csv = write_fer_csv(tmp_path / "fer2013.csv", per_class=2)
    return gpu_check.pack(csv, None, tmp_path / "sprint" / "gpu_check.npz")


def test_pack_holds_publictest_faces_only(packed, tmp_path):
    from training import gpu_check

    faces, labels, names, clip = gpu_check.load_pack(packed, tmp_path)
    assert faces.shape == (14, 48, 48) and len(labels) == 14 and len(names) == 7 and clip is None


@pytest.mark.slow
def test_check_runs_its_steps_on_the_cpu_and_writes_the_report(packed, tmp_path):
    from ferapp.zoo.store import default_model_name
    from training import gpu_check

    out = tmp_path / "OUT"
    rep = gpu_check.run(
        out,
        packed,
        "cpu",
        budget_s=400,
        steps=("env", "agreement", "pipeline", "ddp", "amp"),
        models=[default_model_name()],
        amp_images=64,
        amp_epochs=2,
        ddp_model="cc_lenet5",
    )
    s = rep["steps"]
    assert s["env"]["device"] == "cpu" and "torch" in s["env"]
    ag = s["agreement"]
    assert ag["status"] == "ok" and ag["real_faces"]  # CPU vs "GPU" (the CPU here): the same float network
    (row,) = ag["models"]
    assert row["max_abs_prob_diff_cpu_float"] < 1e-5 and row["label_agreement_cpu_float"] == 1.0
    assert s["pipeline"]["status"] == "ok" and s["pipeline"]["cpu"]["frames_with_face"] > 0
    assert s["ddp"]["status"] == "ok", (out / "ddp.log").read_text()[-2000:]
    assert s["amp"]["status"] == "ok" and len(s["amp"]["losses"]) == 2
    saved = json.loads((out / "gpu_check.json").read_text())
    assert set(saved["steps"]) == {"env", "agreement", "pipeline", "ddp", "amp"}
    md = (out / "gpu_check.md").read_text()
    assert "| step | status | seconds |" in md and default_model_name() in md and "AMP training" in md


def test_a_step_without_budget_is_skipped_and_a_failing_step_does_not_stop_the_others(
    packed, tmp_path, monkeypatch
):
    from training import gpu_check

    def boom(ctx):
        raise RuntimeError("driver crashed")

    monkeypatch.setitem(gpu_check.STEP_FUNCS, "agreement", boom)
    rep = gpu_check.run(tmp_path / "OUT", packed, "cpu", budget_s=20, steps=("env", "agreement", "bench"))
    s = rep["steps"]
    assert s["env"]["device"] == "cpu" and s["env"]["status"] == "ok"
    assert s["agreement"]["status"].startswith("failed: RuntimeError: driver crashed")
    assert s["bench"]["status"].startswith("skipped")
    assert rep["ok"] is False


def test_the_commands_it_runs(tmp_path):
    from training import gpu_check

    b = gpu_check.bench_command("cuda", tmp_path, with_pipeline=True)
    assert b[1:4] == ["-m", "ferapp", "bench"] and "--quick" in b and b[b.index("--device") + 1] == "cuda"
    assert "pipeline" in b[b.index("--only") + 1]
    d = gpu_check.ddp_command("cuda", tmp_path / "data", tmp_path / "run")
    assert d[1:3] == ["-m", "torch.distributed.run"] and d[d.index("--nproc-per-node") + 1] == "1"
    assert d[d.index("--device") + 1] == "cuda" and d[d.index("-m", 3) + 1 : d.index("-m", 3) + 3] == [
        "ferapp",
        "train",
    ]


def test_shell_entry_needs_out_and_knows_its_steps():
    sh = str(REPO / "training" / "gpu_check.sh")
    r = subprocess.run(["bash", sh, "nonsense"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run(["bash", sh, "run"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "OUT" in r.stderr
