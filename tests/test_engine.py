"""Expression engine: canonical label mapping, batching, five-crop, optimized graph == eager."""

from __future__ import annotations

import numpy as np
import pytest

from ferapp.inference.engine import ExpressionEngine, to_canonical
from ferapp.labels import LABELS


def crops(n, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((size, size)) * 255).astype(np.uint8) for _ in range(n)]


def test_to_canonical_drops_extra_and_fills_missing():
    labels = ("happy", "contempt", "angry")
    p = np.array([[0.5, 0.25, 0.25]], np.float32)
    out = to_canonical(p, labels)
    assert out.shape == (1, 7)
    assert out[0, LABELS.index("happy")] == pytest.approx(0.5 / 0.75)
    assert out[0, LABELS.index("angry")] == pytest.approx(0.25 / 0.75)
    assert out[0, LABELS.index("neutral")] == 0.0


@pytest.mark.parametrize("name", ["resnet20", "cc_lenet5", "bdnn2"])
def test_optimized_matches_eager_and_batches(name):
    fast = ExpressionEngine(name, device="cpu", threads=1, optimize=True)
    slow = ExpressionEngine(name, device="cpu", threads=1, optimize=False)
    slow.model.load_state_dict(fast.model.state_dict())
    batch = crops(4)
    a, b = fast.classify(batch), slow.classify(batch)
    assert a.shape == (4, 7)
    assert np.allclose(a.sum(1), 1.0, atol=1e-5)
    assert np.allclose(a, b, atol=1e-5)
    # one batch == faces one at a time
    one = np.concatenate([fast.classify([c]) for c in batch])
    assert np.allclose(a, one, atol=1e-5)
    assert not fast.trained


def test_resnet_is_optimized():
    assert ExpressionEngine("resnet20", device="cpu", threads=1, optimize=True).optimized


def test_optimized_only_once_it_pays_off():
    """Tracing + freezing costs what ~75 faces save: a short run (a one-frame `ferapp analyze`)
    stays eager, a longer one is optimized from face OPTIMIZE_AFTER_FACES on, with the same
    probabilities."""
    from ferapp.inference.engine import OPTIMIZE_AFTER_FACES

    eng = ExpressionEngine("resnet20", device="cpu", threads=1)
    assert not eng.optimized and eng.net is eng.model
    first = eng.classify(crops(4))
    seen = 4
    while seen < OPTIMIZE_AFTER_FACES:
        eng.classify(crops(4, seed=seen))
        seen += 4
        assert not eng.optimized
    again = eng.classify(crops(4))
    assert eng.optimized and eng.net is not eng.model
    assert np.allclose(first, again, atol=1e-5)
    assert not ExpressionEngine("resnet20", device="cpu", threads=1, optimize=False)._optimize_after


def test_empty_batch():
    assert ExpressionEngine("cc_lenet5", device="cpu", threads=1).classify([]).shape == (0, 7)
