"""Measure FER2013's framing with our landmark fit and derive the ``align_face`` constants.

    python training/measure_framing.py [--n 3000] [--data ../shared/datasets/fer2013/fer2013.csv.gz]

For ``--n`` FER2013 *Training* faces (stratified by class, seed 0): upscale 4x, centre in a
320x320 frame (``ferapp.detect.framing.embed_face``), detect with the default detector and fit
the 68 landmarks exactly as the live path does, and express the fit in units of the original
48x48 crop in the eye-levelled frame. Prints the medians (eye line, chin, landmark width and
centre, the 68-point centroid) and, for each way of estimating the crop side from landmarks, its
median absolute error against the known side, and for each way of placing the crop, its median
centre error, so the estimator and placement ``align_face`` uses are chosen on data too. Writes the
numbers to training/reports/framing.json. Only Training faces are used (never PublicTest or
PrivateTest).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FER2013 = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def measure(images: np.ndarray, upscale: float = 4.0) -> tuple[list[dict], int]:
    """Geometry of every face the live detector finds; returns (rows, misses)."""
    from ferapp.detect.finder import FaceFinder
    from ferapp.detect.framing import embed_face, face_geometry

    finder = FaceFinder(background=False)  # the live detector and min face (ferapp.config)
    rows, misses = [], 0
    side = images.shape[1] * upscale
    for img in images:
        frame, (left, top) = embed_face(img, upscale)
        faces = finder.find_still(frame)
        cx, cy = left + side / 2, top + side / 2
        faces = [
            f
            for f in faces
            if abs(f.box[0] + f.box[2] / 2 - cx) < side / 3 and abs(f.box[1] + f.box[3] / 2 - cy) < side / 3
        ]
        if not faces:
            misses += 1
            continue
        rows.append(face_geometry(faces[0].landmarks, left, top, side))
    return rows, misses


def live_path_crops(
    images: np.ndarray,
    upscale: float = 4.0,
    frame: tuple[int, int] = (320, 320),
    size: tuple[int, int] = (48, 48),
) -> list[np.ndarray | None]:
    """Each face through the live path up to the classifier: upscale + pad into a frame ->
    detect -> landmarks -> align (``Pipeline.process`` on a still frame, the code ``ferapp
    analyze`` runs on a photo, and ``Pipeline.crops_for``, the crop it classifies). Returns the
    aligned crop of each face (``size``: the classifying model's ``crop_size``, H x W), or None
    when no face was found where it was put."""
    import cv2

    from ferapp.detect.base import to_gray
    from ferapp.detect.framing import embed_face
    from ferapp.inference.pipeline import Pipeline
    from ferapp.types import Frame

    pipe = Pipeline(classify=False, smoothing=0.0, realtime=False)
    crops: list[np.ndarray | None] = []
    side = images.shape[1] * upscale
    try:
        for k, img in enumerate(images):
            fr, (left, top) = embed_face(img, upscale, frame)
            bgr = cv2.cvtColor(fr, cv2.COLOR_GRAY2BGR)
            res = pipe.process(Frame(bgr, k, 0.0, 0.0, still=True))
            cx, cy = left + side / 2, top + side / 2
            hits = [
                f.face
                for f in res.faces
                if abs(f.face.box[0] + f.face.box[2] / 2 - cx) < side / 3
                and abs(f.face.box[1] + f.face.box[3] / 2 - cy) < side / 3
            ]
            crops.append(pipe.crops_for(to_gray(bgr), hits[:1], size)[0] if hits else None)
    finally:
        pipe.close()
    return crops


def live_path_predictions(
    model,
    images: np.ndarray,
    upscale: float = 4.0,
    frame: tuple[int, int] = (320, 320),
    crops: list | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each face through the full live path (``live_path_crops``, then the model on the crop, as
    ``Pipeline.process`` classifies it). Returns (predicted class or -1 when no face was found,
    direct class: the same model on the 48x48 face itself). ``model``: a model reference or an
    ``ExpressionEngine``; ``crops``: ``live_path_crops``' result when already computed."""
    from ferapp.inference.engine import ExpressionEngine

    eng = model if isinstance(model, ExpressionEngine) else ExpressionEngine(model)
    direct = eng.classify(list(images)).argmax(1)
    crops = live_path_crops(images, upscale, frame, eng.crop_size) if crops is None else crops
    live = np.full(len(images), -1)
    found = [k for k, c in enumerate(crops) if c is not None]
    if found:
        live[found] = eng.classify([crops[k] for k in found]).argmax(1)
    return live, direct


def side_estimators(
    g: dict, eyes_at: float, chin_at: float, width: float, med: dict | None = None
) -> dict[str, float]:
    """Crop side (in crop units; truth = 1) estimated from one face's landmarks (``med``: the
    medians of the other measures, for the estimators that use rigid points only)."""
    s_v = (g["chin_at"] - g["eyes_at"]) / (chin_at - eyes_at)
    s_w = g["width"] / width
    out = {
        "eye-chin": s_v,
        "width": s_w,
        "geometric mean": float(np.sqrt(s_v * s_w)),
        "max": max(s_v, s_w),
        "mean": (s_v + s_w) / 2,
    }
    if med:
        s_n = (g["nose_at"] - g["eyes_at"]) / (med["nose_at"] - eyes_at)
        s_e = g["eye_dist"] / med["eye_dist"]
        out.update(
            {
                "eye-nose": s_n,
                "eye distance": s_e,
                "gm(eye-nose, width)": float(np.sqrt(s_n * s_w)),
                "gm(eye-nose, width, eye distance)": float(np.cbrt(s_n * s_w * s_e)),
            }
        )
    return out


def placement_errors(g: dict, med: dict, side: float) -> dict[str, float]:
    """Distance (crop units) between the true crop centre and the one each placement rule gives,
    for a crop of the estimated ``side``: "extents" puts the eye line at its median height and the
    landmarks' horizontal extent at its median centre (two to four landmarks decide); "centroid"
    puts the mean of all 68 landmarks at its median position (a least-squares fit of the face
    to FER2013's average face position, with the side and roll fixed)."""
    ext = (g["centre_x"] + (0.5 - med["centre_x"]) * side, g["eyes_at"] + (0.5 - med["eyes_at"]) * side)
    cen = (
        g["centroid_x"] + (0.5 - med["centroid_x"]) * side,
        g["centroid_y"] + (0.5 - med["centroid_y"]) * side,
    )
    rig = (g["rigid_x"] + (0.5 - med["rigid_x"]) * side, g["rigid_y"] + (0.5 - med["rigid_y"]) * side)
    return {
        name: float(np.hypot(x - g["crop_cx"], y - g["crop_cy"]))
        for name, (x, y) in (("extents", ext), ("centroid", cen), ("rigid centroid", rig))
    }


def eval_live(model: str, data: str, n: int) -> int:
    from ferapp.data import load_dataset

    ds = load_dataset(data)
    pub = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PublicTest")[:n]
    live, direct = live_path_predictions(model, ds.images[pub])
    y = ds.labels[pub]
    found = live >= 0
    print(
        json.dumps(
            {
                "model": model,
                "faces": int(len(pub)),
                "found": int(found.sum()),
                "direct_acc_found": float((direct[found] == y[found]).mean()),
                "live_acc_found": float((live[found] == y[found]).mean()),
                "direct_acc_all": float((direct == y).mean()),
            },
            indent=1,
        )
    )
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--data", default=str(FER2013))
    ap.add_argument("--out", default=str(REPO / "training" / "reports" / "framing.json"))
    ap.add_argument(
        "--eval-live",
        metavar="MODEL",
        default=None,
        help="instead: PublicTest accuracy of MODEL through the live path vs on the faces directly",
    )
    args = ap.parse_args(argv)
    if args.eval_live:
        return eval_live(args.eval_live, args.data, args.n)
    from ferapp.data import load_dataset

    t0 = time.time()
    ds = load_dataset(args.data)
    train = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "Training")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(train, size=min(args.n, len(train)), replace=False))
    rows, misses = measure(ds.images[idx])
    keys = (
        "eyes_at",
        "chin_at",
        "width",
        "centre_x",
        "centroid_x",
        "centroid_y",
        "rigid_x",
        "rigid_y",
        "nose_at",
        "eye_dist",
        "roll_deg",
    )
    med = {k: float(np.median([r[k] for r in rows])) for k in keys}
    iqr = {k: [float(np.percentile([r[k] for r in rows], q)) for q in (25, 75)] for k in med}
    est = {name: [] for name in side_estimators(rows[0], med["eyes_at"], med["chin_at"], med["width"], med)}
    for r in rows:
        for name, v in side_estimators(r, med["eyes_at"], med["chin_at"], med["width"], med).items():
            est[name].append(abs(np.log(v)))
    err = {name: float(np.median(v)) for name, v in est.items()}
    best = min(err, key=err.get)
    place = {name: [] for name in ("extents", "centroid", "rigid centroid")}
    for r in rows:
        side = side_estimators(r, med["eyes_at"], med["chin_at"], med["width"])["geometric mean"]
        for name, v in placement_errors(r, med, side).items():
            place[name].append(v)
    place_err = {name: float(np.median(v)) for name, v in place.items()}
    report = {
        "faces": int(len(idx)),
        "detected": len(rows),
        "missed": misses,
        "median": med,
        "iqr": iqr,
        "side_estimator_median_abs_log_error": err,
        "best_side_estimator": best,
        "placement_median_centre_error": place_err,
        "best_placement": min(place_err, key=place_err.get),
        "command": f"python training/measure_framing.py --n {args.n}",
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(report, indent=1))
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
