"""The size a face is aligned to is the model's (``ModelCfg.crop_size``, (H, W)), not a constant:
a toy architecture with a non-square, non-48 input size, registered for the test only, gets
faces of its own size from the live pipeline, from ``ferapp analyze`` and from training's
dataset preparation (full-size images aligned by the live aligner)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import ferapp.preprocess
import ferapp.zoo.predict
from ferapp.cli import main
from ferapp.record.timeline import read_timeline
from ferapp.types import Frame
from ferapp.zoo import ModelCfg, Recipe, get_model_cfg, register_model, unregister_model
from tests.media import demo_frames
from tests.test_model_plugin import ToyNet  # a few hundred parameters

TOY = "toy_crop_56x40"
SIZE = (56, 40)  # (H, W): neither FER2013's 48x48 nor square, so a swapped or constant size shows


@pytest.fixture
def toy():
    register_model(
        ModelCfg(name=TOY, input_size=SIZE),
        recipe=Recipe(optimizer="sgd", lr=0.01, epochs=1, batch_size=4, augment=()),
    )(ToyNet)
    try:
        yield TOY
    finally:
        unregister_model(TOY)


@pytest.fixture
def live_crops(monkeypatch):
    """The shapes of the face crops the engine classifies (before preprocessing resizes anything)."""
    shapes: list[tuple[int, ...]] = []
    real = ferapp.zoo.predict.predict_probs

    def spy(model, cfg, crops, *a, **kw):
        shapes.extend(np.asarray(c).shape for c in crops)
        return real(model, cfg, crops, *a, **kw)

    monkeypatch.setattr(ferapp.zoo.predict, "predict_probs", spy)
    return shapes


def test_the_crop_size_is_the_models_input_size(toy):
    cfg = get_model_cfg(TOY)
    assert cfg.crop_size == SIZE and get_model_cfg("resnet20").crop_size == (48, 48)
    assert get_model_cfg("cc_lenet5").crop_size == (32, 32)


def test_the_live_pipeline_aligns_faces_to_the_models_size(toy, live_crops):
    from ferapp.inference.pipeline import Pipeline

    pipe = Pipeline(model=TOY, smoothing=0.0, realtime=False)
    try:
        assert pipe.engine.crop_size == SIZE
        for i, img in enumerate(demo_frames(3)):
            res = pipe.process(Frame(img, i, i / 30, 0.0))
            assert res.faces and res.faces[0].expression is not None
    finally:
        pipe.close()
    assert live_crops and set(live_crops) == {SIZE}


def test_ferapp_analyze_aligns_faces_to_the_models_size(toy, live_crops, tmp_path):
    out = tmp_path / "t.csv"
    assert main(["analyze", "demo", "--max-frames", "3", "--out", str(out), "--model", TOY, "--quiet"]) == 0
    assert len(read_timeline(out).face_ids()) == 1
    assert live_crops and set(live_crops) == {SIZE}


@pytest.mark.slow  # two short training runs on HOG-aligned faces: ~15-35 s on a loaded 2-core machine
@pytest.mark.parametrize("given", ["path", "dataset"])
def test_training_prepares_faces_of_the_models_size(toy, tmp_path, monkeypatch, given):
    """Full-size images (a JAFFE-layout folder of the demo portrait) are aligned to the model's
    size when a run reads them - from a path (``ferapp train``) or from a dataset the training
    wizard read before the model was chosen (at 48x48) - and reach the shared preprocessing at
    that size."""
    from ferapp.paths import demo_dir
    from ferapp.train.run import run_training

    portrait = cv2.imread(str(demo_dir() / "astronaut.png"))
    root = tmp_path / "jaffe"
    root.mkdir()
    for i, code in enumerate(("AN", "HA", "NE", "SA") * 2):
        img = cv2.resize(portrait, (200, 200), interpolation=cv2.INTER_AREA)
        img = cv2.add(img, np.full_like(img, i))  # different bytes per file
        cv2.imwrite(
            str(root / f"{('KA', 'KL')[i % 2]}.{code}{i % 3 + 1}.{40 + i}.tiff"),
            cv2.cvtColor(img, cv2.COLOR_BGR2GRAY),
        )
    data = str(root)
    if given == "dataset":
        from ferapp.data import load_dataset

        data = load_dataset(root)
        assert data.images.shape[1:] == (48, 48)
    seen: list[tuple[int, ...]] = []
    real = ferapp.preprocess.preprocess_face

    def spy(crop, cfg):
        seen.append(np.asarray(crop).shape)
        return real(crop, cfg)

    monkeypatch.setattr(ferapp.preprocess, "preprocess_face", spy)
    res = run_training(
        TOY,
        data,
        "holdout-25",
        out_dir=tmp_path / "run",
        load_kwargs={"cache_dir": tmp_path / "c"},
        overrides={"epochs": 1, "device": "cpu", "num_threads": 1},
    )
    assert res.outcome == "finished", res.message
    assert seen and set(seen) == {SIZE}
