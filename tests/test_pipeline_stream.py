"""``Pipeline.stream``: a frame's classification overlaps the next frame's tracking, with results
identical to one ``process`` call per frame (batch analysis must not depend on timing)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ferapp.capture import open_source
from ferapp.inference.pipeline import Pipeline


@pytest.fixture(scope="module")
def frames():
    with open_source("demo:2", realtime=False, max_frames=24) as src:
        return list(iter(src.read, None))


def _rows(results):
    return [
        (
            r.frame.index,
            r.source,
            r.model,
            [(f.face.face_id, f.face.box, f.expression.probs.round(6).tolist()) for f in r.faces],
        )
        for r in results
    ]


def test_stream_gives_exactly_what_process_gives(frames):
    a, b = Pipeline(model="cc_lenet5", smoothing=0.6), Pipeline(model="cc_lenet5", smoothing=0.6)
    b.engine = a.engine  # the same (untrained) weights
    try:
        serial = [a.process(f, source="clip") for f in frames]
        streamed = list(b.stream(iter(frames), source="clip", overlap=True))
    finally:
        a.close()
        b.close()
    assert len(streamed) == len(frames)
    assert sum(len(r.faces) for r in serial) >= len(frames)  # faces were found and classified
    assert _rows(streamed) == _rows(serial)


def test_stream_runs_postprocessors_in_order_and_leaves_no_thread(frames):
    pipe = Pipeline(model="cc_lenet5", smoothing=0.0)
    seen = []

    def post(r):
        seen.append(r.frame.index)
        return r

    pipe.add_postprocessor(post)
    before = {t.name for t in threading.enumerate()}
    try:
        it = pipe.stream(iter(frames), source=lambda f: f"frame{f.index}", overlap=True)
        first = [next(it) for _ in range(5)]
        it.close()  # a consumer that stops early (Ctrl-C, --max-frames)
    finally:
        pipe.close()
    assert [r.frame.index for r in first] == [0, 1, 2, 3, 4]
    assert [r.source for r in first] == [f"frame{i}" for i in range(5)]
    assert seen[:5] == [0, 1, 2, 3, 4] and seen == sorted(seen)
    assert not [
        t for t in threading.enumerate() if t.name.startswith("ferapp-classify") and t.name not in before
    ]


def test_a_classifier_failure_reaches_the_caller(frames):
    pipe = Pipeline(model="cc_lenet5", smoothing=0.0)

    def broken(crops):
        raise RuntimeError("model exploded")

    pipe.engine.classify = broken
    try:
        with pytest.raises(RuntimeError, match="model exploded"):
            list(pipe.stream(iter(frames), overlap=True))
    finally:
        pipe.close()


def test_a_model_change_applies_at_a_frame_boundary(frames):
    """set_model mid-stream: every frame is classified by exactly one model, and the rows switch
    from the old name to the new one once, in frame order."""
    pipe = Pipeline(model="cc_lenet5", smoothing=0.6)
    names = []

    def feed():
        for f in frames:
            if f.index == 10:
                pipe.set_model("lenet5")
            yield f

    try:
        for r in pipe.stream(feed(), overlap=True):
            names.append(r.model)
    finally:
        pipe.close()
    switch = [i for i in range(1, len(names)) if names[i] != names[i - 1]]
    assert len(switch) == 1 and names[0].startswith("cc_lenet5") and names[-1].startswith("lenet5")
    assert np.all(np.diff(switch) >= 0)


def test_stream_overlaps_by_default_only_where_the_classifier_is_onnxruntimes(frames, monkeypatch):
    """The default model runs in onnxruntime (outside the GIL): ``stream`` overlaps by default,
    with results identical to ``process``; a torch engine runs frame after frame."""
    import ferapp.inference.pipeline as pl

    threads_seen: list[str] = []
    real = Pipeline._classify

    def spy(self, found):
        threads_seen.append(threading.current_thread().name)
        return real(self, found)

    monkeypatch.setattr(pl.Pipeline, "_classify", spy)
    monkeypatch.setattr(pl.os, "cpu_count", lambda: 2)
    a, b = Pipeline(smoothing=0.6), Pipeline(smoothing=0.6)
    t = Pipeline(model="cc_lenet5", smoothing=0.0)
    try:
        assert a.engine.runtime == "onnxruntime" and a.overlap_pays() and not t.overlap_pays()
        serial = [a.process(f, source="clip") for f in frames]
        threads_seen.clear()
        streamed = list(b.stream(iter(frames), source="clip"))
        assert threads_seen and all(n.startswith("ferapp-classify") for n in threads_seen)
        threads_seen.clear()
        list(t.stream(iter(frames[:4])))
        assert threads_seen == [threading.current_thread().name] * 4
    finally:
        for p in (a, b, t):
            p.close()
    assert sum(len(r.faces) for r in serial) >= len(frames)
    assert _rows(streamed) == _rows(serial)
