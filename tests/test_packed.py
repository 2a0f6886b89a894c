"""P5's 1-bit packed form: size, exactness of the XNOR/popcount path, file safety."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ferapp.zoo import create_model
from ferapp.zoo.errors import CheckpointError
from ferapp.zoo.packed import PackedBNN, _pack_rows, _xnor_dot, export_packed, load_packed, packed_stats

torch.set_num_threads(1)


def _trained_like(name: str, seed: int = 0, **kw) -> torch.nn.Module:
    """Random BDNN with non-trivial BN: a few train-mode batches, plus some negative/zero gammas."""
    torch.manual_seed(seed)
    m = create_model(name, **kw).train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.rand(8, 1, 42, 42) * 2 - 1)
        for mod in m.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.weight.uniform_(-1.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
                mod.weight[0] = 0.0  # constant channel
                mod.weight[1] = -abs(mod.weight[1]) - 0.1  # flipped threshold
    return m.eval()


def test_xnor_popcount_dot_matches_integer_dot():
    rng = np.random.default_rng(0)
    for k in (1, 63, 64, 65, 200):
        a = rng.integers(0, 2, (5, k)).astype(bool)
        w = rng.integers(0, 2, (3, k)).astype(bool)
        dot = 2 * _xnor_dot(_pack_rows(a), _pack_rows(~w)) - k
        ref = np.where(a, 1, -1) @ np.where(w, 1, -1).T
        assert np.array_equal(dot, ref)


@pytest.mark.parametrize(
    "name,kw", [("bdnn2", {}), ("bdnn3", {}), ("bdnn4", {}), ("bcnn4", {}), ("bdnn4", {"width_mult": 0.3})]
)
def test_packed_matches_float_predictions(name, kw, tmp_path):
    m = _trained_like(name, **kw)
    x = torch.rand(10, 1, 42, 42) * 2 - 1
    with torch.no_grad():
        ref = m(x)
    stats = export_packed(m, tmp_path / "m.npz")
    p = load_packed(tmp_path / "m.npz")
    out = p(x)
    assert np.array_equal(out.argmax(1).numpy(), ref.argmax(1).numpy())
    assert np.array_equal(p.predict(x), ref.argmax(1).numpy())
    assert torch.allclose(out, ref, atol=1e-4)
    print(
        f"\n{name}{kw}: binarized params {stats.binary_params:,}, fp32 {stats.fp32_bytes / 1e6:.2f} MB -> "
        f"packed {stats.packed_bytes / 1e6:.3f} MB (ratio {stats.ratio:.1f}x); file {stats.file_bytes / 1e6:.3f} MB"
    )
    assert stats.ratio >= 20
    assert stats.file_bytes < stats.fp32_bytes / 20 + stats.other_bytes + 64 * 1024
    # the packed form rebuilds the exact +-1 weights
    w = p.binary_weights()
    for lname, layer in m.binary_layers():
        assert torch.equal(w[lname], layer.binary_weight().detach())


def test_packed_latency_report():
    """Prints packed-vs-float latency for one five-crop face (no timing assertion)."""
    m = _trained_like("bdnn4")
    p = PackedBNN.from_model(m)
    x = torch.rand(5, 1, 42, 42) * 2 - 1
    with torch.no_grad():
        m(x)
    p(x)

    def med(fn, reps=3):
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return sorted(ts)[len(ts) // 2]

    with torch.no_grad():
        tf = med(lambda: m(x))
    tp = med(lambda: p(x))
    print(f"\nbdnn4 per face (5 crops, 1 thread): float {tf * 1e3:.1f} ms, packed XNOR {tp * 1e3:.1f} ms")
    assert np.array_equal(p.predict(x), m(x).argmax(1).numpy())


def test_packed_rejects_bad_files(tmp_path):
    m = _trained_like("bdnn2", width_mult=0.25)
    path = tmp_path / "m.npz"
    export_packed(m, path)
    data = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError):
        load_packed(tmp_path / "trunc.npz")
    np.savez(tmp_path / "obj.npz", __plan__=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CheckpointError):
        load_packed(tmp_path / "obj.npz")
    with pytest.raises(TypeError):
        packed_stats(create_model("resnet20"))


def test_packed_model_from_model_folder(tmp_path):
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.store import resolve_model

    m = _trained_like("bdnn3", width_mult=0.25)
    save_model_dir(tmp_path / "b3", m, m.cfg, {"privatetest_acc": 0.6})
    loaded = resolve_model(tmp_path / "b3")
    packed = loaded.packed_model()
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(6)]
    pf, pp = loaded.classify_probs(crops), packed.classify_probs(crops)
    assert pp.shape == (6, 7) and np.array_equal(pf.argmax(1), pp.argmax(1))
    assert np.allclose(pf, pp, atol=1e-5)
    assert packed.meta["packed"] is True
    with pytest.raises(ValueError):
        resolve_model("resnet20").packed_model()
