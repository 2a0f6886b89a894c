"""Print per-stage latencies on 640x480 demo frames: ``python -m ferapp.detect.timing``.

Numbers only (no pass/fail): each detector on one frame, the 68-point fit, align_face, the
demo renderer, and FaceFinder per frame (tracked fast path vs. detect-every-frame baseline).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2

from ferapp.capture.demo import DemoSource
from ferapp.detect.align import align_face
from ferapp.detect.base import create_detector, list_detectors
from ferapp.detect.finder import FaceFinder
from ferapp.detect.landmarks import LandmarkPredictor


def _ms(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), statistics.mean(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=150, help="frames for the FaceFinder runs")
    ap.add_argument("--repeats", type=int, default=20, help="repeats per single-frame stage")
    args = ap.parse_args(argv)

    src = DemoSource(1, realtime=False).open()
    frame = src.render(10)
    rows = []
    med, mean = _ms(lambda: src.render(10), args.repeats)
    rows.append(("demo render (1 face)", med, mean))
    for name in list_detectors():
        det = create_detector(name)
        n = max(3, args.repeats // 5) if name == "cnn" else args.repeats
        det.detect(frame)  # warm-up
        med, mean = _ms(lambda: det.detect(frame), n)
        rows.append((f"detect {name} (max_width={det.max_width})", med, mean))
    hog_full = create_detector("hog", max_width=None)
    rows.append(("detect hog (full 640)",) + _ms(lambda: hog_full.detect(frame), args.repeats // 2))
    box = create_detector("hog").detect(frame)[0].box
    pred = LandmarkPredictor()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)  # FaceFinder converts once per frame
    rows.append(("landmarks 68 (1 face, gray)",) + _ms(lambda: pred.predict(gray, box), args.repeats * 5))
    lm = pred.predict(frame, box)
    rows.append(("align_face 48x48",) + _ms(lambda: align_face(frame, lm), args.repeats * 5))

    for faces in (1, 2, 4):
        s = DemoSource(faces, realtime=False, max_frames=args.frames).open()
        frames = [f.image for f in s]
        mw = 320 if faces < 4 else 640  # demo:4 faces are ~100 px: too small at 320
        for label, method in (("FaceFinder.find", "find"), ("FaceFinder.find_full", "find_full")):
            ff = FaceFinder("hog", max_width=mw)
            fn = getattr(ff, method)
            per = []
            hits = 0
            for im in frames:
                t = time.perf_counter()
                hits += len(fn(im)) == faces
                per.append((time.perf_counter() - t) * 1000)
            rows.append((f"{label} demo:{faces} (max_width={mw}, found {hits}/{len(frames)})",
                         statistics.median(per), statistics.mean(per)))

    w = max(len(r[0]) for r in rows)
    print(f"{'stage':<{w}}  median ms  mean ms  (mean fps)")
    for name, med, mean in rows:
        print(f"{name:<{w}}  {med:9.2f}  {mean:7.2f}  ({1000 / mean:6.0f})")


if __name__ == "__main__":
    main()
