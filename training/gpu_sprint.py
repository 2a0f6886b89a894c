"""GPU sprint: the papers' full-size recipes and the default model, for many more epochs, in one
command of at most ~8 minutes on a machine lent by the `device` tool (one H200; <= 10 min per
command, <= 64 MiB uploaded, <= 8 files of <= 16 MiB back). Driven by ``training/gpu_sprint.sh``.

    python training/gpu_sprint.py pack  [--data FER2013.csv.gz] [--out sprint/fer2013_train.npz.xz]
    python training/gpu_sprint.py train --pack sprint/fer2013_train.npz.xz --out $OUT [--budget-s 420]
    python training/gpu_sprint.py import DIR [--into runs/sprint]

``pack`` (here, once): FER2013's Training split as uint8 48x48 faces + labels, lzma-compressed
(~48 MB: PublicTest and PrivateTest stay behind, so that selection and the reported figures are
made here, by ``training/finalize_model.py``, on data the sprint never saw).
``train`` (there): each sprint entry trains at the paper's size on the GPU with its recipe's
options; its epoch count is what fits its share of ``--budget-s`` (measured on a few batches
first, capped by the entry's ``max_epochs``), so the cosine schedule runs to its end. Each model
folder comes back as one ``<name>.tar`` under ``--out``, with ``sprint.json`` (what ran, epochs,
seconds, device). ``import`` (here): unpacks the tars into model folders to finalise and compare.

Only torch, numpy and OpenCV are needed there (the device image has them); ferapp is used from
the checkout (``PYTHONPATH=.``).
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for `from training.<script> import` (ferapp itself is installed)

# name -> recipe file, constructor arguments at the paper's size, options over the recipe, epoch cap
SPRINT = {
    "bdnn4_fer2013": {
        "recipe": "bdnn4_fer2013",
        "model_kwargs": {"width_mult": 1.0},
        "overrides": {"batch_size": 64},
        "max_epochs": 100,
    },  # P5 at full width (64/128/256/512, FC 2x1024); paper: 100 epochs
    "dsc_se_resnet_fer2013": {
        "recipe": "dsc_se_resnet_fer2013",
        "model_kwargs": {"width_mult": 1.0},
        "overrides": {"batch_size": 32, "lr": 0.01},
        "max_epochs": 30,
    },  # P4 Table 1, 5.8M
    "hsic_densenet_fer2013": {
        "recipe": "hsic_densenet_fer2013",
        "model_kwargs": {"growth": 80, "stem_channels": 128, "fpn_channels": 512, "stem_stride": 1},
        "overrides": {},
        "max_epochs": 45,
    },  # P3 ~5.8M params; 10,000 steps x 128 = 45 epochs
    "repro_p3_backprop_fer2013": {
        "recipe": "repro_p3_backprop_fer2013",
        "model_kwargs": {"growth": 80, "stem_channels": 128, "fpn_channels": 512, "stem_stride": 1},
        "overrides": {},
        "max_epochs": 45,
    },  # its backprop twin, same budget
    "resnet20_jit_fer2013": {
        "recipe": "resnet20_long_fer2013",
        "model_kwargs": {},
        "overrides": {"init_from": None, "augment": ["mirror", "affine", "photometric"], "lr": 0.05},
        "max_epochs": 150,
    },  # the default's net from scratch
}
TIMING_BATCHES = 6


def pack(data: Path, out: Path) -> Path:
    from ferapp.data import load_dataset

    ds = load_dataset(str(data))
    keep = ds.splits == "Training"
    if not keep.any():
        raise SystemExit(f"error: {data} has no Training rows")
    buf = io.BytesIO()
    np.savez(
        buf,
        images=ds.images[keep],
        labels=ds.labels[keep].astype(np.int8),
        label_names=np.array(ds.label_names),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(lzma.compress(buf.getvalue(), preset=6))
    print(
        f"packed {int(keep.sum())} Training faces of {data} into {out} ({out.stat().st_size / 2**20:.1f} MiB)"
    )
    return out


def load_pack(path: Path):
    from ferapp.data.base import DatasetReport, FaceDataset

    z = np.load(io.BytesIO(lzma.decompress(Path(path).read_bytes())))
    images, labels = z["images"], z["labels"].astype(np.int64)
    n = len(labels)
    return FaceDataset(
        images=images,
        labels=labels,
        label_names=tuple(str(x) for x in z["label_names"]),
        splits=np.array(["Training"] * n),
        subjects=np.array([""] * n),
        paths=[f"row:{i}" for i in range(n)],
        report=DatasetReport(format="fer2013", path=str(path)),
        fingerprint=f"sprint-{n}",
    )


def _entry_config(name: str, device: str):
    from ferapp.train.options import TrainConfig
    from ferapp.zoo import create_model, get_recipe
    from training.run_recipe import load_recipe

    e = SPRINT[name]
    r = load_recipe(REPO / "training" / "recipes" / f"{e['recipe']}.json")
    model = create_model(r["arch"], **{**r.get("model_kwargs", {}), **e["model_kwargs"]})
    over = {**r["overrides"], **e["overrides"], "device": device}
    for k in [k for k, v in e["overrides"].items() if v is None] + ["num_threads"]:
        over.pop(
            k, None
        )  # an entry's None drops a recipe option; torch's default threads on the lent machine
    cfg = model.cfg
    for k, v in (r.get("inference") or {}).items():
        cfg = cfg.replace(**{k: v})
    tcfg = TrainConfig.from_recipe(get_recipe(r["arch"]), **over)
    return model, cfg, tcfg, r


def _time_per_epoch(name: str, ds, device: str) -> float:
    """Seconds per epoch, from TIMING_BATCHES batches of a throw-away copy of the entry."""
    from ferapp.train.callbacks import Callback
    from ferapp.train.trainer import Trainer

    model, cfg, tcfg, _ = _entry_config(name, device)
    bs = tcfg.batch_size
    n = min(len(ds), bs * (TIMING_BATCHES + 1))
    tcfg.epochs, tcfg.max_batches_per_epoch, tcfg.restore_best = 1, TIMING_BATCHES + 1, False
    tcfg.hsic_epochs = 1 if tcfg.algorithm == "hsic" else tcfg.hsic_epochs
    t0 = [0.0]

    class Clock(Callback):
        def on_batch_end(self, step, loss):
            if step == 1:  # the first batch pays for start-up (cudnn autotune, caches)
                t0[0] = time.perf_counter()

    tr = Trainer(model, cfg, tcfg, [Clock()])
    res = tr.fit(ds.subset(np.arange(n)))
    if res.outcome != "finished":
        raise RuntimeError(f"{name}: timing run {res.outcome}: {res.message}")
    per_batch = (time.perf_counter() - t0[0]) / max(1, res.global_step - 1)
    return per_batch * -(-len(ds) // bs)


def train(
    pack_path: Path,
    out: Path,
    budget_s: float,
    device: str,
    names: list[str],
    max_train: int | None,
    max_epochs: int | None,
) -> dict:
    import torch

    from ferapp.inference.device import device_description
    from ferapp.train.trainer import Trainer
    from ferapp.zoo.io import save_model_dir

    t_start = time.perf_counter()
    ds = load_pack(pack_path)
    if max_train:
        ds = ds.subset(np.arange(min(max_train, len(ds))))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out.mkdir(parents=True, exist_ok=True)
    report = {"device": device_description(device), "n_train": len(ds), "budget_s": budget_s, "runs": []}
    for i, name in enumerate(names):
        left = budget_s - (time.perf_counter() - t_start)
        share = left / (len(names) - i)
        t0 = time.perf_counter()
        per_epoch = _time_per_epoch(name, ds, device)
        share -= time.perf_counter() - t0
        model, cfg, tcfg, r = _entry_config(name, device)
        cap = min(SPRINT[name]["max_epochs"], max_epochs or 10**9)
        tcfg.epochs = int(max(1, min(cap, share // max(per_epoch, 1e-6))))
        if tcfg.algorithm == "hsic":
            tcfg.hsic_epochs = max(1, tcfg.epochs - max(1, tcfg.epochs // 3))
        tcfg.restore_best = False  # no validation here: the full schedule's last weights
        print(
            f"[{name}] {per_epoch:.1f} s/epoch on {device}: {tcfg.epochs} epochs in a {share:.0f} s share",
            flush=True,
        )
        res = Trainer(model, cfg, tcfg).fit(ds)
        run = {
            "name": name,
            "arch": cfg.name,
            "recipe": r["name"],
            "model_kwargs": {**r.get("model_kwargs", {}), **SPRINT[name]["model_kwargs"]},
            "epochs": tcfg.epochs,
            "outcome": res.outcome,
            "message": res.message,
            "seconds": round(res.wall_time_s, 1),
            "s_per_epoch_est": round(per_epoch, 2),
            "final_train_loss": res.history[-1]["train_loss"] if res.history else None,
            "tcfg": tcfg.to_dict(),
        }
        report["runs"].append(run)
        print(f"[{name}] {res.outcome} {res.message} in {res.wall_time_s:.0f} s", flush=True)
        if res.outcome == "finished":
            folder = out / "models" / name
            save_model_dir(
                folder, model.cpu(), cfg, meta={"sprint": {k: v for k, v in run.items() if k != "tcfg"}}
            )
            with tarfile.open(out / f"{name}.tar", "w") as tar:
                tar.add(folder, arcname=name)
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
    (out / "models").rmdir() if (out / "models").exists() else None
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    (out / "sprint.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report


def import_models(src: Path, into: Path) -> list[Path]:
    from ferapp.zoo.io import load_model_dir

    into.mkdir(parents=True, exist_ok=True)
    got = []
    for t in sorted(Path(src).glob("*.tar")):
        with tarfile.open(t) as tar:
            tar.extractall(into, filter="data")
        d = into / t.stem
        load_model_dir(d)  # loads, or raises naming the file
        got.append(d)
        print(
            f"{d}: finalise with  python training/finalize_model.py {d} --recipe "
            f"training/recipes/{t.stem}.json"
        )
    return got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data", default=str(REPO / ".." / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"))
    p.add_argument("--out", default=str(REPO / "sprint" / "fer2013_train.npz.xz"))
    t = sub.add_parser("train")
    t.add_argument("--pack", default=str(REPO / "sprint" / "fer2013_train.npz.xz"))
    t.add_argument("--out", required=True)
    t.add_argument("--budget-s", type=float, default=420.0, help="seconds for all entries together")
    t.add_argument("--device", default="auto")
    t.add_argument("--only", default=",".join(SPRINT), help="comma list of sprint entries")
    t.add_argument("--max-train", type=int, default=None, help="first N faces only (CPU tests)")
    t.add_argument("--max-epochs", type=int, default=None, help="cap on every entry's epochs (CPU tests)")
    i = sub.add_parser("import")
    i.add_argument("src")
    i.add_argument("--into", default=str(REPO / "runs" / "sprint"))
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        pack(Path(a.data), Path(a.out))
    elif a.cmd == "train":
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        bad = [n for n in names if n not in SPRINT]
        if bad:
            ap.error(f"unknown sprint entries {bad}; known: {list(SPRINT)}")
        train(Path(a.pack), Path(a.out), a.budget_s, a.device, names, a.max_train, a.max_epochs)
    else:
        import_models(Path(a.src), Path(a.into))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
