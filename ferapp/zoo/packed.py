"""P5's promise: 1-bit packed BDNN/BCNN weights and an XNOR/popcount inference path.

``export_packed(model, path)`` writes a ``.npz`` (no pickles) holding, per binarized layer,
the sign bits of its weights (``np.packbits``, 1 bit per weight) and its BatchNorm folded
into per-channel thresholds; plus the real-valued last layer (FC 7 + BN) in float32.
``PackedBNN`` runs inference from that file:

- first layer (real input, binarized weights): float conv with the +-1 weights, then the
  folded BN threshold -> sign bits;
- every other binarized conv / FC: activations stay bit-packed (uint64 words); a dot product
  of +-1 vectors is ``2 * popcount(xnor(a, w)) - n``, computed as ``popcount(a ^ ~w)`` with
  ``np.bitwise_count``; zero padding of a conv is corrected exactly per border position;
  BN + sign is an integer threshold (found from the float model's own BN arithmetic, so the
  bits are identical); 2x2 max-pool of +-1 values is a bitwise OR;
- the last layer is a float FC + BN on the +-1 vector (torch, same kernels as the float model).

So ``PackedBNN`` gives the same predictions as the float model in eval mode (tests check it).
Storage: the binarized layers take 1/32 of their fp32 size (plus a few bytes of padding).
P5's own module declares this file as its models' weight sidecar (``p5_bdnn.PackedWeights``);
the generic model-folder code (``ferapp.zoo.io``) reaches it only through that declaration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ferapp.zoo.errors import CheckpointError

FORMAT = "ferapp-packed-bnn"
VERSION = 1
_BIG = 1 << 30


@dataclass(frozen=True)
class PackedStats:
    binary_params: int  # weights in binarized layers
    fp32_bytes: int  # their size as float32
    packed_bytes: int  # their size as packed bits
    other_bytes: int  # thresholds, last layer, plan
    file_bytes: int  # the .npz on disk (0 when not written)

    @property
    def ratio(self) -> float:
        return self.fp32_bytes / max(1, self.packed_bytes)


def _pack_rows(bits: np.ndarray) -> np.ndarray:
    """bool (R, K) -> uint64 (R, ceil(K/64)), little bit order, tail bits zero."""
    r, k = bits.shape
    packed = np.packbits(bits, axis=1, bitorder="little")
    nbytes = ((k + 63) // 64) * 8
    if packed.shape[1] != nbytes:
        packed = np.concatenate([packed, np.zeros((r, nbytes - packed.shape[1]), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _bn_eval(x: torch.Tensor, bn: dict[str, Any]) -> torch.Tensor:
    return F.batch_norm(x, bn["mean"], bn["var"], bn["weight"], bn["bias"], False, 0.0, bn["eps"])


def _bn_dict(bn: torch.nn.modules.batchnorm._BatchNorm) -> dict[str, Any]:
    return {
        "mean": bn.running_mean.detach().float().clone(),
        "var": bn.running_var.detach().float().clone(),
        "weight": bn.weight.detach().float().clone(),
        "bias": bn.bias.detach().float().clone(),
        "eps": float(bn.eps),
    }


def _int_thresholds(bn: dict[str, Any], fan_in: int) -> tuple[np.ndarray, np.ndarray]:
    """BN followed by sign on integer inputs x in [-fan_in, fan_in] -> bit = (x >= thr) ^ flip.

    The threshold is located analytically and then checked on the float model's own BN
    arithmetic (torch, float32) for neighbouring integers, so bits match exactly.
    """
    mean, var, g, b = (bn[k].double() for k in ("mean", "var", "weight", "bias"))
    c = mean.numel()
    std = torch.sqrt(var + bn["eps"])
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = torch.where(
            g != 0, mean - b * std / torch.where(g != 0, g, torch.ones_like(g)), torch.zeros_like(g)
        )
    tau = tau.clamp(-fan_in - 2, fan_in + 2)
    base = torch.ceil(tau).to(torch.int64)
    offs = torch.arange(-4, 5, dtype=torch.int64)
    xs = base[None, :] + offs[:, None]  # (9, C)
    pos = (_bn_eval(xs.float(), bn) >= 0).numpy()
    xs_np = xs.numpy()
    thr = np.empty(c, np.int64)
    flip = np.zeros(c, bool)
    gn = bn["weight"].numpy()
    const = bn["bias"].numpy() >= 0
    for i in range(c):
        if gn[i] == 0:
            thr[i] = -_BIG if const[i] else _BIG
            continue
        col = pos[:, i]
        if gn[i] > 0:  # positive for large x: first True
            idx = np.flatnonzero(col)
            thr[i] = xs_np[idx[0], i] if idx.size else xs_np[-1, i] + 1
            ok = np.array_equal(col, xs_np[:, i] >= thr[i])
        else:  # positive for small x: bit = x < thr, thr = first False
            idx = np.flatnonzero(~col)
            thr[i] = xs_np[idx[0], i] if idx.size else xs_np[-1, i] + 1
            flip[i] = True
            ok = np.array_equal(col, xs_np[:, i] < thr[i])
        if not ok:
            raise RuntimeError(f"BN+sign is not monotone around its threshold (channel {i})")
    # outside the window everything is constant by monotonicity; clamp to the reachable range
    thr = np.clip(thr, -fan_in - 1, fan_in + 1)
    return thr.astype(np.int32), flip


def _float_thresholds(bn: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """BN + sign on real inputs: bit = (x >= tau) if dir > 0 else (x <= tau) (gamma = 0: constant)."""
    mean, var, g, b = (bn[k].double().numpy() for k in ("mean", "var", "weight", "bias"))
    std = np.sqrt(var + bn["eps"])
    tau = np.empty_like(mean)
    direction = np.where(g >= 0, 1, -1).astype(np.int8)
    nz = g != 0
    tau[nz] = mean[nz] - b[nz] * std[nz] / g[nz]
    tau[~nz] = np.where(b[~nz] >= 0, -np.inf, np.inf)
    return tau, direction


def _conv_corrections(w_pm1: np.ndarray, h: int, w: int, pad: int) -> np.ndarray:
    """(H*W, Cout) int32: sum of weights on zero-padded taps (raw XNOR counted them as -1)."""
    cout, _, kh, kw = w_pm1.shape
    wsum = w_pm1.sum(axis=1)  # (Cout, kh, kw)
    ys = np.arange(h)[:, None] + np.arange(kh)[None, :] - pad  # (H, kh)
    xs = np.arange(w)[:, None] + np.arange(kw)[None, :] - pad
    out_y = (ys < 0) | (ys >= h)
    out_x = (xs < 0) | (xs >= w)
    padded = out_y[:, None, :, None] | out_x[None, :, None, :]  # (H, W, kh, kw)
    return np.einsum("hwij,oij->hwo", padded.astype(np.int32), wsum.astype(np.int32)).reshape(h * w, cout)


def _xnor_dot(a: np.ndarray, notw: np.ndarray) -> np.ndarray:
    """a (R, words) bits, notw (Cout, words) inverted weight bits -> agreements (R, Cout) int32.

    popcount(a ^ ~w) = popcount(xnor(a, w)), accumulated word by word over (rows, Cout) planes
    (faster in numpy than a 3-D broadcast + reduction over the short word axis).
    """
    r, words = a.shape
    cout = notw.shape[0]
    out = np.empty((r, cout), np.int32)
    at = np.ascontiguousarray(a.T)
    wt = np.ascontiguousarray(notw.T)
    step = max(1, (1 << 20) // max(1, cout))
    acc_t = np.uint16 if words * 64 < 65536 else np.int32
    for s in range(0, r, step):
        e = min(r, s + step)
        acc = np.zeros((e - s, cout), acc_t)
        tmp = np.empty((e - s, cout), np.uint64)
        cnt = np.empty((e - s, cout), np.uint8)
        for k in range(words):
            np.bitwise_xor(at[k, s:e, None], wt[k][None, :], out=tmp)
            np.bitwise_count(tmp, out=cnt)
            acc += cnt
        out[s:e] = acc
    return out


class PackedBNN:
    """Inference from the packed form. Call with a float (N, C, 42, 42) tensor/array -> logits tensor."""

    def __init__(self, plan: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.plan = plan
        self._layers: dict[str, dict[str, Any]] = {}
        for spec in plan["layers"]:
            name, shape = spec["name"], tuple(spec["shape"])
            k = int(np.prod(shape[1:]))
            bits = np.unpackbits(arrays[f"{name}/bits"], count=int(np.prod(shape)), bitorder="little")
            bits = bits.astype(bool).reshape(shape[0], k)
            entry: dict[str, Any] = {"spec": spec, "shape": shape, "fan_in": k}
            if spec["kind"] == "conv_first":
                entry["w"] = torch.from_numpy(np.where(bits, 1.0, -1.0).astype(np.float32).reshape(shape))
                entry["tau"] = arrays[f"{name}/tau"]
                entry["dir"] = arrays[f"{name}/dir"]
            else:
                entry["notw"] = _pack_rows(~bits)
                entry["thr"] = arrays[f"{name}/thr"].astype(np.int32)
                entry["flip"] = arrays[f"{name}/flip"].astype(bool)
                if spec["kind"] == "conv":
                    # conv weights are packed tap by tap: (Cout, kh, kw, C) with C padded to 64-bit
                    # words, so im2col can work on already-packed activation words
                    cout, cin, kh, kw = shape
                    taps = ~bits.reshape(shape).transpose(0, 2, 3, 1).reshape(cout * kh * kw, cin)
                    packed = _pack_rows(taps)
                    entry["notw"] = packed.reshape(cout, -1)
                    entry["w_pm1"] = np.where(bits, 1, -1).astype(np.int8).reshape(shape)
                    entry["corr"] = {}
            self._layers[name] = entry
        self._out = {
            k: torch.from_numpy(arrays[f"out/{k}"].astype(np.float32))
            for k in ("weight", "bias", "mean", "var", "bn_weight", "bn_bias")
        }
        self._out_eps = float(plan["out_eps"])

    # ---- construction / io ------------------------------------------------------------
    @classmethod
    def from_model(cls, model) -> PackedBNN:
        plan, arrays = _export_arrays(model)
        return cls(plan, arrays)

    @classmethod
    def load(cls, path: str | Path) -> PackedBNN:
        plan, arrays = _read_npz(path)
        return cls(plan, arrays)

    # ---- layers ---------------------------------------------------------------------------
    # activations between layers: bool (N, H, W, C) (True = +1), NHWC so channels pack into words
    def _first(self, x: torch.Tensor, e: dict[str, Any]) -> np.ndarray:
        pad = e["spec"]["padding"]
        y = F.conv2d(x, e["w"], None, 1, pad).double().numpy().transpose(0, 2, 3, 1)  # (N, H, W, C)
        return np.where(e["dir"] > 0, y >= e["tau"], y <= e["tau"])

    def _conv(self, a: np.ndarray, e: dict[str, Any]) -> np.ndarray:
        n, h, w, c = a.shape
        pad = e["spec"]["padding"]
        kh, kw = e["shape"][2:]
        words = _pack_rows(a.reshape(n * h * w, c)).reshape(n, h, w, -1)  # (N, H, W, cw)
        wp = np.pad(words, ((0, 0), (pad, pad), (pad, pad), (0, 0)))  # zero words = all -1 (corrected below)
        ho, wo = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
        cols = np.stack([wp[:, i : i + ho, j : j + wo, :] for i in range(kh) for j in range(kw)], axis=3)
        agree = _xnor_dot(cols.reshape(n * ho * wo, -1), e["notw"])
        key = (h, w)
        if key not in e["corr"]:
            e["corr"][key] = _conv_corrections(e["w_pm1"], h, w, pad)
        dot = 2 * agree - e["fan_in"] + np.tile(e["corr"][key], (n, 1))
        bits = (dot >= e["thr"][None, :]) ^ e["flip"][None, :]
        return bits.reshape(n, ho, wo, -1)

    def _fc(self, a: np.ndarray, e: dict[str, Any]) -> np.ndarray:
        dot = 2 * _xnor_dot(_pack_rows(a), e["notw"]) - e["fan_in"]
        return (dot >= e["thr"][None, :]) ^ e["flip"][None, :]

    @staticmethod
    def _pool(a: np.ndarray) -> np.ndarray:
        """2x2 max-pool of +-1 values = OR of the bits (floor, like nn.MaxPool2d(2))."""
        n, h, w, c = a.shape
        h2, w2 = h // 2, w // 2
        return a[:, : 2 * h2, : 2 * w2].reshape(n, h2, 2, w2, 2, c).any(axis=(2, 4))

    def forward(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        with torch.no_grad():
            a = None
            for blk in self.plan["blocks"]:
                e1, e2 = self._layers[blk["conv1"]], self._layers[blk["conv2"]]
                a1 = self._first(x, e1) if a is None else self._conv(a, e1)
                a2 = self._conv(a1, e2)
                a = np.concatenate([a1, a2], axis=3) if blk["dense"] else a2
                a = self._pool(a)
            v = np.ascontiguousarray(a.transpose(0, 3, 1, 2)).reshape(
                a.shape[0], -1
            )  # torch's (C, H, W) flatten
            for name in self.plan["fcs"]:
                v = self._fc(v, self._layers[name])
            pm1 = torch.from_numpy(np.where(v, 1.0, -1.0).astype(np.float32))
            o = self._out
            y = F.linear(pm1, o["weight"], o["bias"])
            return F.batch_norm(
                y, o["mean"], o["var"], o["bn_weight"], o["bn_bias"], False, 0.0, self._out_eps
            )

    __call__ = forward

    def predict(self, x) -> np.ndarray:
        return self.forward(x).argmax(dim=1).numpy()

    def binary_weights(self) -> dict[str, torch.Tensor]:
        """+-1 float weights of every binarized layer (to rebuild a float model)."""
        out = {}
        for name, e in self._layers.items():
            if "w" in e:
                out[name] = e["w"].clone()
            else:
                out[name] = torch.from_numpy(
                    e["w_pm1"].astype(np.float32) if "w_pm1" in e else _unpack_notw(e["notw"], e["shape"])
                )  # fc: row-major bits
        return out


class PackedBNNModule(torch.nn.Module):
    """``nn.Module`` face of a ``PackedBNN`` (inference only, CPU) so code that calls
    ``model(x)`` - the engine, ``predict_probs`` - can run the 1-bit path unchanged."""

    def __init__(self, packed: PackedBNN, cfg=None) -> None:
        super().__init__()
        self.packed = packed
        if cfg is not None:
            self.cfg = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.packed(x.detach().float().cpu()).to(x.device)


def _unpack_notw(notw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    k = int(np.prod(shape[1:]))
    bits = np.unpackbits(notw.view(np.uint8), axis=1, bitorder="little")[:, :k].astype(bool)
    return np.where(~bits, 1.0, -1.0).astype(np.float32).reshape(shape)


def _export_arrays(model) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from ferapp.zoo.models.p5_bdnn import BDNN

    if not isinstance(model, BDNN):
        raise TypeError(f"packed export needs a BDNN/BCNN (P5) model, got {type(model).__name__}")
    arrays: dict[str, np.ndarray] = {}
    layers: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []

    def add_binary(name: str, layer, bn_mod, kind: str) -> None:
        w = layer.weight.detach().float()
        bits = (w >= 0).numpy().reshape(-1)
        arrays[f"{name}/bits"] = np.packbits(bits, bitorder="little")
        spec = {"name": name, "kind": kind, "shape": list(w.shape)}
        if kind != "fc":
            spec["padding"] = int(layer.padding[0])
        bn = _bn_dict(bn_mod)
        if kind == "conv_first":
            arrays[f"{name}/tau"], arrays[f"{name}/dir"] = _float_thresholds(bn)
        else:
            arrays[f"{name}/thr"], arrays[f"{name}/flip"] = _int_thresholds(bn, int(np.prod(w.shape[1:])))
        layers.append(spec)

    for i, blk in enumerate(model.blocks):
        n1, n2 = f"blocks.{i}.conv1.conv", f"blocks.{i}.conv2.conv"
        add_binary(n1, blk.conv1.conv, blk.conv1.bn, "conv_first" if i == 0 else "conv")
        add_binary(n2, blk.conv2.conv, blk.conv2.bn, "conv")
        blocks.append({"conv1": n1, "conv2": n2, "dense": bool(blk.dense)})
    fcs = []
    for i, fc in enumerate(model.fcs):
        name = f"fcs.{i}.fc"
        add_binary(name, fc["fc"], fc["bn"], "fc")
        fcs.append(name)
    bn = _bn_dict(model.classifier_bn)
    arrays["out/weight"] = model.classifier.weight.detach().float().numpy().copy()
    arrays["out/bias"] = model.classifier.bias.detach().float().numpy().copy()
    arrays["out/mean"], arrays["out/var"] = bn["mean"].numpy(), bn["var"].numpy()
    arrays["out/bn_weight"], arrays["out/bn_bias"] = bn["weight"].numpy(), bn["bias"].numpy()
    cfg = getattr(model, "cfg", None)
    plan = {
        "format": FORMAT,
        "version": VERSION,
        "arch": cfg.name if cfg is not None else "",
        "cfg": cfg.to_dict() if cfg is not None else {},
        "layers": layers,
        "blocks": blocks,
        "fcs": fcs,
        "out_eps": bn["eps"],
    }
    return plan, arrays


def export_packed(model, path: str | Path) -> PackedStats:
    """Write ``model`` (a BDNN/BCNN; eval-mode BN statistics are used) as a packed .npz."""
    plan, arrays = _export_arrays(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plan_bytes = np.frombuffer(json.dumps(plan).encode("utf-8"), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, __plan__=plan_bytes, **arrays)
    tmp.replace(path)
    return _stats(plan, arrays, path.stat().st_size)


def packed_stats(model) -> PackedStats:
    plan, arrays = _export_arrays(model)
    return _stats(plan, arrays, 0)


def _stats(plan: dict[str, Any], arrays: dict[str, np.ndarray], file_bytes: int) -> PackedStats:
    nparams = sum(int(np.prod(s["shape"])) for s in plan["layers"])
    packed = sum(arrays[f"{s['name']}/bits"].nbytes for s in plan["layers"])
    other = sum(a.nbytes for k, a in arrays.items() if not k.endswith("/bits"))
    return PackedStats(nparams, 4 * nparams, packed, other, file_bytes)


def _read_npz(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        plan = json.loads(arrays.pop("__plan__").tobytes().decode("utf-8"))
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated zip, pickled object arrays, bad json ...
        raise CheckpointError(
            f"{path}: not a readable packed BNN file ({type(exc).__name__}: {exc})"
        ) from exc
    if plan.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file")
    return plan, arrays


def load_packed(path: str | Path) -> PackedBNN:
    return PackedBNN.load(path)


__all__ = ["PackedBNN", "PackedBNNModule", "PackedStats", "export_packed", "load_packed", "packed_stats"]
