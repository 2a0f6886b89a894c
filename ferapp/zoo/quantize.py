"""int8 inference on the CPU: a shipped model's network with 8-bit weights and activations.

Why: on CPUs without a wide float unit (this project's AVX2-only EPYC, most laptops) the
default ResNet-20 spends half of each live frame in float convolutions; int8 kernels
(fbgemm / oneDNN through ``torch.ao``) do the same convolutions in about half the time.

What is shipped: only ``int8.json`` beside ``model.pt``: the scale and zero point of every
activation (calibrated once, offline, by ``training/quantize_model.py`` on FER2013 *Training*
faces, with the model's own preprocessing and test-time views), the scheme, and a check value.
The int8 weights are computed from the float weights when the model loads (BatchNorm folded
into each convolution, then per-output-channel symmetric quantization: deterministic, a few
milliseconds), so no second copy of the weights and nothing to unpickle.

Scheme (chosen on PublicTest, resnet20_kd_fer2013: see the model card): activations 8-bit
affine per tensor (histogram calibration); weights per output channel, symmetric, in
[-64, 63]. The 7-bit weights are what keep AVX2 exact: its int8 multiply (vpmaddubsw) adds
two u8 x s8 products into a saturating int16, and 255 * 64 * 2 < 32767, so nothing saturates;
the usual alternative (7-bit activations, 8-bit weights) lost 0.22 points there, 8-bit both
(saturating) 1.34 points, this one 0.06.

The P2 ResNets (the default model and its siblings) are built directly from their modules
(``Int8ResNet``); any other architecture goes through ``torch.ao``'s FX converter (slower to
load, same arithmetic). ``tests/test_quantize.py`` checks the two builders agree bit for bit.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferapp.zoo.errors import CheckpointError
from ferapp.zoo.registry import ModelCfg

log = logging.getLogger(__name__)

FILE = "int8.json"
FORMAT = "ferapp-int8"
VERSION = 1
SCHEME = (
    "activations u8 affine per tensor (histogram); weights s8 symmetric per channel in [-64, 63]; "
    "the first convolution and the classifier stay float"
)
FLOAT_MODULES = (
    "stem",
    "fc",
)  # P2's names: a first conv on raw pixels and the last linear layer cost nothing
CHECK_TOLERANCE = 0.05  # logits: a rebuilt network must reproduce the calibration's check within this


def supported() -> bool:
    """True where torch has an x86 int8 engine (fbgemm); ARM (qnnpack) keeps the float network."""
    return any(e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm"))


def _observers(activations: str = "histogram"):
    """(activation, weight) observer factories. ``activations``: ``histogram`` (what ships: it
    clips rare outliers, minimising the quantization error; its range search takes about a second
    per activation) or ``minmax`` (the full observed range; instant, for tests)."""
    from torch.ao.quantization.observer import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver

    kind = {"histogram": HistogramObserver, "minmax": MinMaxObserver}[activations]
    act = kind.with_args(dtype=torch.quint8, reduce_range=False)
    weight = PerChannelMinMaxObserver.with_args(
        dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-64, quant_max=63
    )
    return act, weight


def _qconfig_mapping(activations: str = "histogram"):
    from torch.ao.quantization import QConfig, QConfigMapping

    act, weight = _observers(activations)
    mapping = QConfigMapping().set_global(QConfig(activation=act, weight=weight))
    for name in FLOAT_MODULES:
        mapping = mapping.set_module_name(name, None)
    return mapping


def _prepare(model: nn.Module, cfg: ModelCfg, activations: str = "histogram"):
    """``model`` (a copy, eval mode) with an observer after every activation, and the name of the
    graph node each observer watches (the key of its scale and zero point in ``int8.json``)."""
    import torch.fx.config
    from torch.ao.quantization.quantize_fx import prepare_fx

    example = torch.zeros(2, cfg.channels, *cfg.net_input_size)
    quiet = torch.fx.config.do_not_emit_stack_traces
    try:  # no Python stack trace per graph node: symbolising them was half of the time here
        torch.fx.config.do_not_emit_stack_traces = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notices
            prepared = prepare_fx(copy.deepcopy(model).eval(), _qconfig_mapping(activations), (example,))
    finally:
        torch.fx.config.do_not_emit_stack_traces = quiet
    watched = {
        n.target: n.args[0].name
        for n in prepared.graph.nodes
        if n.op == "call_module" and str(n.target).startswith("activation_post_process")
    }
    return prepared, watched


def _views(x: torch.Tensor, cfg: ModelCfg) -> torch.Tensor:
    """The inputs the network sees at inference (``zoo.predict.logits_from_input``): the face,
    its mirror image when ``flip_tta``, P5's five crops (``ferapp.preprocess.view_batch``)."""
    from ferapp.preprocess import view_batch

    return view_batch(x, cfg)[0]


def calibrate(
    model: nn.Module, cfg: ModelCfg, crops, batch: int = 128, observer: str = "histogram"
) -> dict[str, list[float]]:
    """Scale and zero point of every activation, observed on uint8 face ``crops`` through the
    model's preprocessing and test-time views. Offline (``training/quantize_model.py``);
    ``observer``: see ``_observers``."""
    from ferapp.zoo.predict import crops_to_tensor

    prepared, watched = _prepare(model, cfg, observer)
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            prepared(_views(crops_to_tensor(crops[i : i + batch], cfg), cfg))
    out = {}
    for obs_name, node in watched.items():
        scale, zero_point = getattr(prepared, obs_name).calculate_qparams()
        out[node] = [float(scale), int(zero_point)]
    return out


def fx_int8(model: nn.Module, cfg: ModelCfg, activations: dict[str, list[float]]) -> nn.Module:
    """The int8 network through torch.ao's FX converter, with the shipped activation qparams
    (any architecture the converter handles)."""
    from torch.ao.quantization.observer import FixedQParamsObserver
    from torch.ao.quantization.quantize_fx import convert_fx

    prepared, watched = _prepare(model, cfg)
    for obs_name, node in watched.items():
        if node not in activations:
            raise CheckpointError(
                f"{FILE}: no scale for activation {node!r} (calibrated for another network?)"
            )
        scale, zp = activations[node]
        setattr(
            prepared,
            obs_name,
            FixedQParamsObserver(float(scale), int(zp), dtype=torch.quint8, quant_min=0, quant_max=255),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_fx(prepared).eval()


# -- P2 ResNets, built directly ----------------------------------------------------------------
def _qparams(activations: dict[str, list[float]], node: str) -> tuple[float, int]:
    try:
        scale, zp = activations[node]
    except KeyError:
        raise CheckpointError(
            f"{FILE}: no scale for activation {node!r} (calibrated for another network?)"
        ) from None
    return float(scale), int(zp)


def _quantize_weight(w: torch.Tensor) -> torch.Tensor:
    _, weight_obs = _observers()
    obs = weight_obs()
    obs(w)
    scale, zp = obs.calculate_qparams()
    return torch.quantize_per_channel(w, scale.double(), zp, 0, torch.qint8)


def _qconv(conv: nn.Conv2d, bn: nn.BatchNorm2d, relu: bool, out: tuple[float, int]) -> nn.Module:
    """conv + BatchNorm (+ ReLU) as one int8 convolution (BN folded the way torch.ao folds it)."""
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    w, b = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    cls = nniq.ConvReLU2d if relu else nnq.Conv2d
    q = cls(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
    )
    q.set_weight_bias(_quantize_weight(w.detach().float()), b.detach().float())
    q.scale, q.zero_point = out
    return q


class _Int8Unit(nn.Module):
    def __init__(self, unit, prefix: str, acts: dict[str, list[float]]):
        import torch.ao.nn.quantized as nnq

        super().__init__()
        self.conv1 = _qconv(unit.conv1, unit.bn1, True, _qparams(acts, prefix + "conv1"))
        self.conv2 = _qconv(unit.conv2, unit.bn2, False, _qparams(acts, prefix + "conv2"))
        self.proj = (
            _qconv(unit.proj[0], unit.proj[1], False, _qparams(acts, prefix + "proj_0"))
            if unit.proj is not None
            else None
        )
        self.add = nnq.QFunctional()
        self.add.scale, self.add.zero_point = _qparams(acts, prefix + "relu_1")  # the ReLU after the sum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.proj(x) if self.proj is not None else x
        return self.add.add_relu(self.conv2(self.conv1(x)), shortcut)


class Int8ResNet(nn.Module):
    """A P2 ``FERResNet`` (with shortcuts) with int8 residual units: the first convolution
    (+ BN + ReLU, on the raw pixels: 0.4% of the MACs) and the classifier stay float, as in
    ``FLOAT_MODULES``. Float input, float logits out; the same arithmetic as ``fx_int8`` on the
    same network, built in milliseconds."""

    def __init__(self, net, activations: dict[str, list[float]]):
        import torch.ao.nn.quantized as nnq
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        super().__init__()
        if not getattr(net, "stages", None) or not all(u.use_shortcut for s in net.stages for u in s):
            raise TypeError("Int8ResNet needs a FERResNet with shortcuts")
        self.stem = nn.Sequential(fuse_conv_bn_eval(net.stem[0], net.stem[1]), nn.ReLU())
        scale, zp = _qparams(activations, "stem_0")
        self.quant = nnq.Quantize(scale, zp, torch.quint8)
        self.units = nn.Sequential(
            *[
                _Int8Unit(u, f"stages_{i}_{j}_", activations)
                for i, stage in enumerate(net.stages)
                for j, u in enumerate(stage)
            ]
        )
        self.dequant = nnq.DeQuantize()
        self.fc = copy.deepcopy(net.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.units(self.quant(self.stem(x)))
        q = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(q, 1), 1)
        return self.fc(self.dequant(q))


def _quantized_convs(net) -> dict[str, tuple[nn.Conv2d, nn.BatchNorm2d, str]]:
    """P2: every int8 convolution as module path -> (conv, its BatchNorm, the activation whose
    scale quantizes its input)."""
    out = {}
    prev = "stem_0"
    for i, stage in enumerate(net.stages):
        for j, u in enumerate(stage):
            pre = f"stages.{i}.{j}."
            out[pre + "conv1"] = (u.conv1, u.bn1, prev)
            out[pre + "conv2"] = (u.conv2, u.bn2, f"stages_{i}_{j}_conv1")
            if u.proj is not None:
                out[pre + "proj.0"] = (u.proj[0], u.proj[1], prev)
            prev = f"stages_{i}_{j}_relu_1"
    return out


def bias_corrections(
    model: nn.Module, cfg: ModelCfg, crops, activations: dict[str, list[float]], batch: int = 256
) -> dict[str, list[float]]:
    """Empirical bias correction (Nagel et al., "Data-Free Quantization", ICCV 2019, sec. 4.2,
    with measured input statistics): per int8 convolution and output channel, the mean shift
    its quantization (7-bit weights, 8-bit input) causes on the float network's own activations
    for ``crops``; ``build_int8`` subtracts it from the bias. P2 ResNets only. Offline."""
    import torch.nn.functional as F
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    from ferapp.zoo.models.p2_resnet import FERResNet
    from ferapp.zoo.predict import crops_to_tensor

    if not isinstance(model, FERResNet):
        return {}
    model = model.eval()
    convs = _quantized_convs(model)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        conv.register_forward_hook(lambda m, inp, out, k=k: inputs.__setitem__(k, inp[0].detach()))
        for k, (conv, _, _) in convs.items()
    ]
    _, weight_obs = _observers()
    try:
        fused = {}
        for k, (conv, bn, _) in convs.items():
            w, b = fuse_conv_bn_weights(
                conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
            )
            obs = weight_obs()
            obs(w.detach())
            ws, wz = obs.calculate_qparams()
            wq = torch.fake_quantize_per_channel_affine(w.detach(), ws.float(), wz.int(), 0, -64, 63)
            fused[k] = (w.detach(), wq, b.detach())
        with torch.no_grad():
            for i in range(0, len(crops), batch):
                x = _views(crops_to_tensor(crops[i : i + batch], cfg), cfg)
                model(x)
                count += x.shape[0]
                for k, (conv, _, act) in convs.items():
                    scale, zp = activations[act]
                    xin = inputs[k]
                    xq = torch.fake_quantize_per_tensor_affine(xin, float(scale), int(zp), 0, 255)
                    w, wq, b = fused[k]
                    diff = (
                        (
                            F.conv2d(xq, wq, b, conv.stride, conv.padding)
                            - F.conv2d(xin, w, b, conv.stride, conv.padding)
                        )
                        .mean(dim=(2, 3))
                        .sum(0)
                    )
                    sums[k] = sums.get(k, 0) + diff
    finally:
        for h in hooks:
            h.remove()
    return {k: (v / count).tolist() for k, v in sums.items()}


def _with_corrections(model: nn.Module, corrections: dict[str, list[float]] | None) -> nn.Module:
    """A copy of ``model`` whose BatchNorm biases absorb ``bias_corrections`` (unchanged without)."""
    if not corrections:
        return model
    net = copy.deepcopy(model).eval()
    convs = _quantized_convs(net)
    for k, shift in corrections.items():
        if k not in convs:
            raise CheckpointError(f"{FILE}: bias correction for unknown convolution {k!r}")
        bn = convs[k][1]
        delta = torch.tensor(shift, dtype=bn.bias.dtype)
        if delta.shape != bn.bias.shape:
            raise CheckpointError(
                f"{FILE}: bias correction for {k!r} has {delta.numel()} channels, the layer {bn.bias.numel()}"
            )
        with torch.no_grad():
            bn.bias -= delta  # the folded conv bias is bn.bias - ...: the shift comes off the output
    return net


def build_int8(
    model: nn.Module,
    cfg: ModelCfg,
    activations: dict[str, list[float]],
    corrections: dict[str, list[float]] | None = None,
) -> nn.Module:
    """The int8 network of ``model`` (eval mode) with the given activation qparams and bias
    corrections (``bias_corrections``)."""
    from ferapp.zoo.models.p2_resnet import FERResNet

    model = _with_corrections(model, corrections)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices (quantized tensors move to torchao)
        if isinstance(model, FERResNet) and all(u.use_shortcut for s in model.stages for u in s):
            return Int8ResNet(model.eval(), activations).eval()
        return fx_int8(model, cfg, activations)


# -- the file ------------------------------------------------------------------------------
def check_input(cfg: ModelCfg, n: int = 4) -> torch.Tensor:
    """The fixed input whose int8 logits ``int8.json`` records (seeded, in the normalised range)."""
    g = torch.Generator().manual_seed(0)
    lo, hi = (0.0 - cfg.mean) / cfg.std, (1.0 - cfg.mean) / cfg.std
    h, w = cfg.net_input_size
    return lo + (hi - lo) * torch.rand(n, cfg.channels, h, w, generator=g)


def int8_record(
    model: nn.Module,
    cfg: ModelCfg,
    activations: dict[str, list[float]],
    corrections: dict[str, list[float]] | None = None,
    **info: Any,
) -> dict[str, Any]:
    """What ``int8.json`` holds: format, scheme, activation qparams, bias corrections, the check
    logits, ``info``."""
    net = build_int8(model, cfg, activations, corrections)
    with torch.no_grad():
        logits = net(check_input(cfg)).tolist()
    return {
        "format": FORMAT,
        "format_version": VERSION,
        "scheme": SCHEME,
        "arch": cfg.name,
        "torch": torch.__version__,
        **info,
        "activations": activations,
        "bias_correction": corrections or {},
        "check": {
            "input": "check_input(cfg): uniform in the normalised range, torch seed 0, 4 images",
            "logits": logits,
        },
    }


def write_int8(directory: str | Path, record: dict[str, Any]) -> Path:
    path = Path(directory) / FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return path


def read_int8(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable ({e})") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or rec.get("format_version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} v{VERSION} file")
    acts = rec.get("activations")
    if not isinstance(acts, dict) or not all(
        isinstance(v, list)
        and len(v) == 2
        and math.isfinite(float(v[0]))
        and float(v[0]) > 0
        and 0 <= int(v[1]) <= 255
        for v in acts.values()
    ):
        raise CheckpointError(f"{path}: bad activation scales")
    return rec


def load_int8_net(model: nn.Module, cfg: ModelCfg, path: str | Path) -> nn.Module:
    """The traced int8 network of a model folder's ``int8.json``, verified: it must reproduce
    the calibration's check logits (else CheckpointError: a file for another network, or an
    int8 engine that computes differently)."""
    rec = read_int8(path)
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):  # e.g. set to qnnpack by other code
        torch.backends.quantized.engine = (
            "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
        )
    x = check_input(cfg)
    net = build_int8(model, cfg, rec["activations"], rec.get("bias_correction"))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        traced = torch.jit.freeze(torch.jit.trace(net, x, check_trace=False))
        got = traced(x)
    want = torch.tensor(rec.get("check", {}).get("logits", []), dtype=torch.float32)
    if want.shape != got.shape or float((got - want).abs().max()) > CHECK_TOLERANCE:
        raise CheckpointError(f"{path}: the rebuilt int8 network does not reproduce its check logits")
    return traced


__all__ = [
    "FILE",
    "Int8ResNet",
    "bias_corrections",
    "build_int8",
    "calibrate",
    "check_input",
    "fx_int8",
    "int8_record",
    "load_int8_net",
    "read_int8",
    "supported",
    "write_int8",
]
