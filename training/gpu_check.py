"""GPU check: one command of at most ~8 minutes on a GPU machine (driven by training/gpu_check.sh).

    python training/gpu_check.py pack [--data FER2013.csv.gz] [--videos ../shared/videos] [--out sprint/gpu_check.npz]
    python training/gpu_check.py run --out $OUT [--pack sprint/gpu_check.npz] [--device cuda] [--budget-s 450]
                                     [--steps env,agreement,pipeline,bench,ddp,amp]

``pack`` (here, once): 1,000 FER2013 PublicTest faces with labels and the real clip book.mkv
into ``sprint/`` (git-ignored; the device tool carries it). ``run`` (there), each step on its own,
failures recorded and the next step run, within ``--budget-s`` seconds in all:

- ``env``: torch, CUDA / cuDNN / NCCL versions, the GPU, whether dlib (the live detector) is there;
- ``agreement``: every shipped model on the packed faces (or generated ones) on the CPU and on the
  GPU, same float network: largest probability difference, label agreement, both accuracies; and
  the CPU's int8 network (what the live path runs there) against the GPU;
- ``pipeline``: the live pipeline (detect, track, align, classify) on the GPU over book.mkv (or the
  demo): fps, latency, labels against the same frames on the CPU (needs dlib);
- ``bench``: ``ferapp bench --quick --device <dev>`` (JSON and text kept);
- ``ddp``: a 1-rank DDP training run, ``torchrun --standalone --nproc-per-node 1 -m ferapp train
  ... --device cuda`` (nccl on CUDA; the command ``ferapp train`` gets from the distributed-training
  work, issue 26 item 1), on a small generated image-folder dataset;
- ``amp``: a short mixed-precision training run of the default architecture on the GPU (AMP is on
  for CUDA by default): seconds per epoch, images/s, the loss falling, no inf/NaN.

Everything goes under ``--out``: ``gpu_check.json`` (all figures), ``gpu_check.md`` (the tables
for the README) and one log per subprocess. ``--device cpu`` runs the same steps on the CPU (the
tests use it with a tiny budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_PACK = REPO / "sprint" / "gpu_check.npz"
STEPS = ("env", "agreement", "pipeline", "bench", "ddp", "amp")
# seconds each step may take at most (the budget is shared in this order; a step that does not
# get its minimum is skipped and says so)
CAPS = {
    "env": (5, 30),
    "agreement": (30, 120),
    "pipeline": (20, 60),
    "bench": (60, 180),
    "ddp": (30, 90),
    "amp": (20, 60),
}


# -- pack (here) ---------------------------------------------------------------------------
def pack(data: Path, videos: Path | None, out: Path, n: int = 1000) -> Path:
    from ferapp.data import load_dataset

    ds = load_dataset(str(data))
    pub = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PublicTest")[:n]
    if len(pub) == 0:
        raise SystemExit(f"error: {data} has no PublicTest rows")
    clip = b""
    if videos is not None and (videos / "book.mkv").exists():
        clip = (videos / "book.mkv").read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        faces=ds.images[pub],
        labels=ds.labels[pub].astype(np.int8),
        label_names=np.array(ds.label_names),
        clip=np.frombuffer(clip, np.uint8),
    )
    print(
        f"packed {len(pub)} PublicTest faces" + (" and book.mkv" if clip else "") + f" into {out} "
        f"({out.stat().st_size / 2**20:.1f} MiB)"
    )
    return out


def load_pack(path: Path | None, out: Path) -> tuple[np.ndarray, np.ndarray | None, tuple, Path | None]:
    """(faces, labels or None, label names, clip path or None); generated faces without a pack."""
    from ferapp.labels import LABELS

    if path is not None and Path(path).exists():
        z = np.load(path)
        clip = None
        if z["clip"].size:
            clip = out / "book.mkv"
            clip.write_bytes(z["clip"].tobytes())
        return z["faces"], z["labels"].astype(np.int64), tuple(str(x) for x in z["label_names"]), clip
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    faces = []
    for _ in range(64):
        img = np.full((48, 48), rng.uniform(60, 160))
        for _ in range(4):
            cy, cx, r, a = rng.uniform(8, 40), rng.uniform(8, 40), rng.uniform(4, 12), rng.uniform(-80, 80)
            img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        faces.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(faces), None, LABELS, None


# -- steps (there) -------------------------------------------------------------------------
def step_env(ctx: dict) -> dict[str, Any]:
    import torch

    from ferapp.inference.device import cpu_features, cpu_name, device_description

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": ctx["device"],
        "device_name": device_description(ctx["device"]),
        "cpu": cpu_name(),
        "cpu_features": cpu_features(),
        "cpu_cores": os.cpu_count(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "nccl_available": bool(torch.distributed.is_available() and torch.distributed.is_nccl_available()),
        "torchrun": shutil.which("torchrun") is not None,
    }
    try:
        import dlib  # noqa: F401

        out["dlib"] = True
    except ImportError:
        out["dlib"] = False
    if ctx["device"].startswith("cuda"):
        p = torch.cuda.get_device_properties(0)
        out.update(gpu_memory_gb=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}")
    ctx["dlib"] = out["dlib"]
    out["status"] = "ok"
    return out


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_agreement(ctx: dict) -> dict[str, Any]:
    """Every shipped model: CPU float vs GPU float (the same network: must agree to float
    precision), the CPU's live network (int8 where shipped) vs the GPU, accuracies, GPU speed."""
    from ferapp.inference.engine import ExpressionEngine
    from ferapp.labels import LABELS
    from ferapp.train.evaluate import map_labels
    from ferapp.zoo.store import list_trained_models

    faces, labels, names, _ = ctx["pack"]
    y = map_labels(labels, names, LABELS) if labels is not None else None
    dev = ctx["device"]
    rows = []
    wanted = ctx.get("models")
    for entry in [e for e in list_trained_models() if e.shipped and (not wanted or e.name in wanted)]:
        if time.perf_counter() > ctx["step_deadline"]:
            rows.append({"model": entry.name, "status": "skipped: step time used up"})
            continue
        cpu_f = ExpressionEngine(str(entry.path), device="cpu", precision="float")
        cpu_live = ExpressionEngine(str(entry.path), device="cpu")
        gpu = ExpressionEngine(str(entry.path), device=dev, precision="float")
        p_cf, p_cl = cpu_f.classify(list(faces)), cpu_live.classify(list(faces))
        t0 = time.perf_counter()
        p_g = gpu.classify(list(faces))
        _sync(dev)
        batch_ms = (time.perf_counter() - t0) * 1000.0 / len(faces)
        one = []
        for f in faces[:20]:
            t0 = time.perf_counter()
            gpu.classify([f])
            _sync(dev)
            one.append((time.perf_counter() - t0) * 1000.0)
        row = {
            "model": entry.name,
            "gpu_device": gpu.device,
            "gpu_network": gpu.precision,
            "cpu_live_network": cpu_live.precision,
            "max_abs_prob_diff_cpu_float": float(np.abs(p_cf - p_g).max()),
            "label_agreement_cpu_float": float((p_cf.argmax(1) == p_g.argmax(1)).mean()),
            "label_agreement_cpu_live": float((p_cl.argmax(1) == p_g.argmax(1)).mean()),
            "gpu_ms_per_face_batch": batch_ms,
            "gpu_ms_per_face_one": float(np.median(one)),
        }
        if y is not None:
            keep = y >= 0
            row.update(
                acc_cpu_float=float((p_cf.argmax(1)[keep] == y[keep]).mean()),
                acc_cpu_live=float((p_cl.argmax(1)[keep] == y[keep]).mean()),
                acc_gpu=float((p_g.argmax(1)[keep] == y[keep]).mean()),
            )
        row["status"] = (
            "ok"
            if row["max_abs_prob_diff_cpu_float"] < 1e-3 and row["label_agreement_cpu_float"] >= 0.999
            else "DISAGREES"
        )
        rows.append(row)
        print(
            f"  {entry.name}: max|dp| {row['max_abs_prob_diff_cpu_float']:.2e}, labels agree "
            f"{row['label_agreement_cpu_float']:.2%} (int8/live CPU vs GPU {row['label_agreement_cpu_live']:.2%})",
            flush=True,
        )
    bad = [
        r["model"]
        for r in rows
        if r.get("status") not in ("ok",) and not str(r.get("status")).startswith("skipped")
    ]
    return {
        "faces": int(len(faces)),
        "real_faces": y is not None,
        "models": rows,
        "status": "ok" if not bad else f"disagreement: {', '.join(bad)}",
    }


def _clip_frames(ctx: dict, n: int) -> tuple[list, str]:
    from ferapp.capture import open_source

    spec = str(ctx["pack"][3]) if ctx["pack"][3] is not None else "demo"
    with open_source(spec, realtime=False, max_frames=n) as src:
        return list(iter(src.read, None)), Path(spec).name


def step_pipeline(ctx: dict) -> dict[str, Any]:
    if not ctx.get("dlib"):
        return {
            "status": "skipped: dlib is not installed here (the live detector and landmarks need it: "
            "pip install dlib-bin face-recognition-models)"
        }
    from ferapp.inference.pipeline import Pipeline

    frames, name = _clip_frames(ctx, 150)
    out: dict[str, Any] = {"clip": name, "frames": len(frames)}
    labels = {}
    for dev in dict.fromkeys([ctx["device"], "cpu"]):
        pipe = Pipeline(model=None, device=dev, smoothing=0.0)
        try:
            lat, got = [], []
            t0 = time.perf_counter()
            for r in pipe.stream(iter(frames)):
                got.append(tuple(f.expression.label for f in r.faces if f.expression is not None))
            wall = time.perf_counter() - t0
            for f in frames[:30]:  # one frame at a time: the latency a live window sees
                s = time.perf_counter()
                pipe.process(f)
                _sync(dev)
                lat.append((time.perf_counter() - s) * 1000.0)
        finally:
            pipe.close()
        labels[dev] = got
        key = "gpu" if dev != "cpu" else "cpu"
        out[key] = {
            "device": dev,
            "network": pipe.engine.precision,
            "fps": len(frames) / wall,
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p95_ms": float(np.percentile(lat, 95)),
            "frames_with_face": sum(1 for g in got if g),
        }
    if ctx["device"] != "cpu":
        a, b = labels[ctx["device"]], labels["cpu"]
        out["label_agreement_gpu_vs_cpu_live"] = float(np.mean([x == y for x, y in zip(a, b, strict=True)]))
    out["status"] = (
        "ok" if out[("gpu" if ctx["device"] != "cpu" else "cpu")]["frames_with_face"] > 0 else "no face found"
    )
    return out


def _run(cmd: list[str], log: Path, timeout: float, env: dict | None = None) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    full_env = dict(
        os.environ,
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        PYTHONUNBUFFERED="1",
        **(env or {}),
    )
    try:
        p = subprocess.run(
            cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=max(1.0, timeout)
        )
        rc, text = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        rc = 124
        text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        text += f"\n[timed out after {timeout:.0f} s]"
    log.write_text(" ".join(cmd) + "\n\n" + text)
    return rc, time.perf_counter() - t0, text


def bench_command(device: str, out: Path, with_pipeline: bool) -> list[str]:
    only = "models,training" + (",pipeline,live" if with_pipeline else "")
    return [
        sys.executable,
        "-m",
        "ferapp",
        "bench",
        "--quick",
        "--device",
        device,
        "--only",
        only,
        "--json",
        str(out / "bench.json"),
    ]


def step_bench(ctx: dict) -> dict[str, Any]:
    out = ctx["out"]
    cmd = bench_command(ctx["device"], out, bool(ctx.get("dlib")))
    rc, secs, text = _run(cmd, out / "bench.log", ctx["step_deadline"] - time.perf_counter())
    (out / "bench.txt").write_text(text)
    res = {
        "command": " ".join(cmd[1:]),
        "rc": rc,
        "seconds": round(secs, 1),
        "status": "ok" if rc == 0 else f"exit {rc}",
    }
    if rc == 0 and (out / "bench.json").exists():
        b = json.loads((out / "bench.json").read_text())
        res["models"] = [
            {
                k: r.get(k)
                for k in (
                    "model",
                    "device",
                    "precision",
                    "b1_median_ms_per_face",
                    "b8_median_ms_per_face",
                    "engine_median_ms_per_face",
                )
                if k in r
            }
            for r in b.get("models", [])
        ]
        res["training"] = b.get("training", [])
        res["pipeline"] = b.get("pipeline", [])
    return res


def _image_folder(root: Path, per_class: int = 24) -> Path:
    """A small 7-class image-folder dataset (generated; the training steps need no real data)."""
    import cv2

    from ferapp.labels import LABELS

    rng = np.random.default_rng(0)
    for k, name in enumerate(LABELS):
        d = root / "train" / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.normal(90 + 20 * k, 25, (48, 48))
            img[6 * k : 6 * k + 6, :] = 230  # a class-dependent band: learnable in a few steps
            cv2.imwrite(str(d / f"{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return root


def ddp_command(device: str, data: Path, run_dir: Path, model: str = "resnet20") -> list[str]:
    """``torchrun`` (as ``python -m torch.distributed.run``, the same launcher) with one rank."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "1",
        "-m",
        "ferapp",
        "train",
        "--model",
        model,
        "--data",
        str(data),
        "--protocol",
        "holdout-20",
        "--epochs",
        "1",
        "--device",
        device,
        "--out",
        str(run_dir),
        "--quiet",
    ]


def step_ddp(ctx: dict) -> dict[str, Any]:
    out = ctx["out"]
    data = _image_folder(out / "ddp_data")
    cmd = ddp_command(ctx["device"], data, out / "ddp_run", ctx.get("ddp_model", "resnet20"))
    rc, secs, text = _run(cmd, out / "ddp.log", ctx["step_deadline"] - time.perf_counter())
    low = text.lower()
    return {
        "command": " ".join(["torchrun"] + cmd[3:]),
        "rc": rc,
        "seconds": round(secs, 1),
        "backend_nccl_mentioned": "nccl" in low,
        "report_written": (out / "ddp_run" / "report.json").exists(),
        "status": "ok" if rc == 0 else f"exit {rc} (see ddp.log)",
    }


def step_amp(ctx: dict) -> dict[str, Any]:
    """A short mixed-precision run of the default model's architecture on the GPU."""
    import torch

    from ferapp.data.base import DatasetReport, FaceDataset
    from ferapp.train.callbacks import Callback
    from ferapp.train.trainer import TrainConfig, Trainer
    from ferapp.zoo import create_model
    from ferapp.zoo.registry import get_recipe

    faces, labels, names, _ = ctx["pack"]
    n = len(faces)
    if labels is None:
        labels = np.arange(n) % len(names)
    reps = max(1, ctx.get("amp_images", 2048) // n)
    ds = FaceDataset(
        images=np.tile(faces, (reps, 1, 1)),
        labels=np.tile(labels, reps),
        label_names=names,
        splits=np.array([""] * n * reps),
        subjects=np.array([""] * n * reps),
        paths=[f"row:{i}" for i in range(n * reps)],
        report=DatasetReport(format="pack", path="pack"),
        fingerprint=f"gpu-check-{n * reps}",
    )
    model = create_model("resnet20")
    epochs = ctx.get("amp_epochs", 3)
    tcfg = TrainConfig.from_recipe(
        get_recipe(model.cfg.name),
        epochs=epochs,
        batch_size=min(128, len(ds) // 2),
        lr=0.05,
        device=ctx["device"],
        amp=True,
        restore_best=False,
        augment=("mirror",),
    )
    times: list[float] = []

    class Clock(Callback):
        def on_epoch_start(self, epoch, epochs, batches):
            times.append(time.perf_counter())

    tr = Trainer(model, model.cfg, tcfg, [Clock()])
    t0 = time.perf_counter()
    res = tr.fit(ds)
    wall = time.perf_counter() - t0
    losses = [h["train_loss"] for h in res.history]
    per_epoch = [b - a for a, b in zip(times, [*times[1:], t0 + wall], strict=True)]
    ok = res.outcome == "finished" and all(np.isfinite(losses)) and losses[-1] < losses[0]
    return {
        "images": len(ds),
        "epochs": epochs,
        "amp": bool(tr.use_amp),
        "device": str(tr.device),
        "outcome": res.outcome,
        "losses": losses,
        "s_per_epoch": per_epoch,
        "images_per_s_after_first_epoch": len(ds) / float(np.median(per_epoch[1:] or per_epoch)),
        "gpu_peak_memory_mb": (torch.cuda.max_memory_allocated() / 2**20)
        if tr.device.type == "cuda"
        else None,
        "status": "ok"
        if ok and (tr.use_amp or tr.device.type != "cuda")
        else f"{res.outcome}: {res.message}"
        if res.outcome != "finished"
        else "loss did not fall or AMP off",
    }


STEP_FUNCS = {
    "env": step_env,
    "agreement": step_agreement,
    "pipeline": step_pipeline,
    "bench": step_bench,
    "ddp": step_ddp,
    "amp": step_amp,
}


def run(
    out: Path, pack_path: Path | None, device: str, budget_s: float, steps: tuple[str, ...], **options: Any
) -> dict:
    """All ``steps`` within ``budget_s``; ``options`` (for CPU tests): ``models`` (names to compare),
    ``amp_images``, ``amp_epochs``, ``ddp_model``."""
    from ferapp.inference.device import resolve_device

    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    ctx: dict[str, Any] = {"out": out, "device": device, "pack": load_pack(pack_path, out), **options}
    report: dict[str, Any] = {"device": device, "budget_s": budget_s, "steps": {}}
    deadline = t_start + budget_s
    wanted = [s for s in STEPS if s in steps]
    for i, name in enumerate(wanted):
        lo, hi = CAPS[name]
        left = deadline - time.perf_counter()
        reserve = sum(CAPS[s][0] for s in wanted[i + 1 :])  # the later steps' minimums
        share = min(hi, left - reserve) if left - reserve >= lo else min(hi, left)
        if share < lo * 0.5 and name != "env":
            report["steps"][name] = {"status": f"skipped: {left:.0f} s of the budget left"}
            continue
        ctx["step_deadline"] = time.perf_counter() + share
        print(f"[{name}] (up to {share:.0f} s)", flush=True)
        t0 = time.perf_counter()
        try:
            res = STEP_FUNCS[name](ctx)
        except Exception as e:
            import traceback

            res = {"status": f"failed: {type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
        res["seconds"] = round(time.perf_counter() - t0, 1)
        report["steps"][name] = res
        print(f"[{name}] {res.get('status')} ({res['seconds']} s)", flush=True)
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    report["ok"] = all(str(s.get("status")) == "ok" for s in report["steps"].values())
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return report


def markdown(rep: dict) -> str:
    """The figures as README-ready markdown."""
    s = rep["steps"]
    env = s.get("env", {})
    lines = [
        f"GPU check on {env.get('device_name', rep['device'])} (torch {env.get('torch')}, CUDA {env.get('cuda')}, "
        f"cuDNN {env.get('cudnn')}; host CPU {env.get('cpu')}, {env.get('cpu_cores')} cores), "
        f"{rep['wall_s']:.0f} s in all:",
        "",
    ]
    lines.append("| step | status | seconds |")
    lines.append("|------|--------|---------|")
    lines += [f"| {k} | {v.get('status')} | {v.get('seconds')} |" for k, v in s.items()]
    ag = s.get("agreement", {})
    if ag.get("models"):
        lines += [
            "",
            f"Inference, GPU vs CPU on {ag['faces']} {'PublicTest' if ag.get('real_faces') else 'generated'} "
            "faces (same float network; and the CPU's live network):",
            "",
            "| model | max abs prob diff (float) | labels agree (float) | labels agree (CPU live) | "
            "acc CPU | acc GPU | GPU ms/face (batch) | GPU ms/face (one) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in ag["models"]:
            if "max_abs_prob_diff_cpu_float" not in r:
                continue
            acc = (
                f"{100 * r['acc_cpu_float']:.2f}% | {100 * r['acc_gpu']:.2f}%" if "acc_gpu" in r else "- | -"
            )
            lines.append(
                f"| {r['model']} | {r['max_abs_prob_diff_cpu_float']:.1e} | {r['label_agreement_cpu_float']:.2%} | "
                f"{r['label_agreement_cpu_live']:.2%} ({r['cpu_live_network']}) | {acc} | "
                f"{r['gpu_ms_per_face_batch']:.3f} | {r['gpu_ms_per_face_one']:.2f} |"
            )
    pl = s.get("pipeline", {})
    for key in ("gpu", "cpu"):
        if key in pl:
            r = pl[key]
            lines.append(
                f"\nLive pipeline on {pl['clip']} ({pl['frames']} frames), {r['device']} ({r['network']}): "
                f"{r['fps']:.1f} fps, one frame at a time p50 {r['latency_p50_ms']:.1f} ms / "
                f"p95 {r['latency_p95_ms']:.1f} ms"
            )
    if "label_agreement_gpu_vs_cpu_live" in pl:
        lines.append(
            f"Labels, GPU pipeline vs CPU pipeline: {pl['label_agreement_gpu_vs_cpu_live']:.1%} of frames equal"
        )
    amp = s.get("amp", {})
    if "losses" in amp:
        lines.append(
            f"\nAMP training (resnet20, {amp['images']} faces, batch 128, AMP {'on' if amp['amp'] else 'off'}): "
            f"{amp['images_per_s_after_first_epoch']:.0f} images/s, loss {amp['losses'][0]:.3f} -> "
            f"{amp['losses'][-1]:.3f}"
        )
    dd = s.get("ddp", {})
    if "command" in dd:
        lines.append(f"\n1-rank DDP: `{dd['command']}` -> {dd['status']} in {dd['seconds']} s")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"))
    p.add_argument("--videos", default=str(REPO.parent / "shared" / "videos"))
    p.add_argument("--out", default=str(DEFAULT_PACK))
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--pack", default=str(DEFAULT_PACK))
    r.add_argument("--device", default="cuda")
    r.add_argument("--budget-s", type=float, default=450.0, help="seconds for all steps together")
    r.add_argument("--steps", default=",".join(STEPS))
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        videos = Path(a.videos)
        pack(Path(a.data), videos if videos.is_dir() else None, Path(a.out))
        return 0
    steps = tuple(s.strip() for s in a.steps.split(",") if s.strip())
    bad = [s for s in steps if s not in STEPS]
    if bad:
        ap.error(f"unknown steps {bad}; known: {list(STEPS)}")
    rep = run(Path(a.out), Path(a.pack), a.device, a.budget_s, steps)
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
