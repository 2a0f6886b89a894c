"""P5 - Binarized dense CNNs (BDNN2/3/4, BCNN4) with five-crop voting.

Wen Guangzhao, Xu Shinan, Ma Yunhe, Wang Xiaobo, "Facial expression recognition based on a
binarized dense convolutional neural network" (Nanjing Univ. of Science and Technology;
shared/papers/p5-*.txt). Binarization after Hubara, Courbariaux et al., "Binarized Neural
Networks" (NeurIPS 2016).

Input: 42x42 crops (four corners + centre of a 48x48 face; the engine/trainer crop and
average the five outputs), pixels in [-1, 1] (mean 0.5, std 0.5); the input is not binarized.
Every conv / FC uses sign-binarized weights (real latent weights are what the optimizer
updates; ``clip_latent_()`` clamps them to [-1, 1] after each step) and is followed by
BatchNorm and sign() activation with the straight-through estimator (gradient passes where
|x| <= 1) - except the last FC 7, which is real-valued and followed by an affine BatchNorm.
Dense block (Table 1): two 3x3 convs (padding 1), output = concat(conv1 out, conv2 out)
(BCNN4: conv2 out only); 2x2 max-pool transitions 42 -> 21 -> 10 -> 5 -> 2; widths 64, 128,
256, 512; then FC 1024 x 2 (binarized) and FC 7. BDNN2/3 flatten after their 2nd/3rd
transition (10x10 / 5x5 maps), which is why their FC-1024 layers are large.

Choices the paper leaves open (constructor args): conv padding is zero padding (a padded
position contributes 0; the packed XNOR path corrects for it exactly), sign(0) = +1, BN
eps 1e-4 (as in Courbariaux's code), ``width_mult`` for CPU-sized variants.
The exported 1-bit form and its XNOR/popcount inference live in ``ferapp.zoo.packed``; this
module declares it as the models' weight sidecar (``PackedWeights``), so a saved model folder
keeps the binarized layers only as 1-bit ``model.packed.npz`` and the app runs that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ferapp.zoo.registry import ModelCfg, Paper, Recipe, register_model


class SignSTE(torch.autograd.Function):
    """sign with sign(0) = +1; backward: straight-through where |x| <= 1 (hard-tanh STE)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def binarize(x: torch.Tensor) -> torch.Tensor:
    return SignSTE.apply(x)


class SignActivation(nn.Module):
    """Binary activation module (a module so hooks can inspect the +-1 outputs)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return binarize(x)


class _BinaryWeightMixin:
    """sign(latent) with the STE; without autograd (inference) the +-1 tensor is cached and
    recomputed only when the latent weight changes (tracked by its version counter)."""

    def binary_weight(self) -> torch.Tensor:
        w = self.weight
        if torch.is_grad_enabled() and w.requires_grad:
            return binarize(w)
        key = (w._version, w.data_ptr(), w.dtype, w.device)
        cache = self.__dict__.get("_bw_cache")
        if cache is None or cache[0] != key:
            with torch.no_grad():
                cache = (key, torch.where(w >= 0, 1.0, -1.0).to(w.dtype))
            self.__dict__["_bw_cache"] = cache
        return cache[1]

    @torch.no_grad()
    def clip_latent_(self) -> None:
        self.weight.clamp_(-1.0, 1.0)


class BinaryConv2d(_BinaryWeightMixin, nn.Conv2d):
    """Conv2d whose forward uses sign(latent weight); no bias (BN follows)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        nn.init.uniform_(self.weight, -1.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.binary_weight(), None)


class BinaryLinear(_BinaryWeightMixin, nn.Linear):
    """Linear whose forward uses sign(latent weight); no bias (BN follows)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)
        nn.init.uniform_(self.weight, -1.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.binary_weight())


class BinaryConvBN(nn.Module):
    """BinaryConv2d -> BatchNorm2d -> sign."""

    def __init__(self, cin: int, cout: int, bn_eps: float = 1e-4) -> None:
        super().__init__()
        self.conv = BinaryConv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout, eps=bn_eps)
        self.act = SignActivation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class BinaryDenseBlock(nn.Module):
    """Two binary 3x3 convs; output concat(conv1, conv2) (dense) or conv2 only."""

    def __init__(self, cin: int, width: int, dense: bool = True, bn_eps: float = 1e-4) -> None:
        super().__init__()
        self.conv1 = BinaryConvBN(cin, width, bn_eps)
        self.conv2 = BinaryConvBN(width, width, bn_eps)
        self.dense = dense
        self.out_channels = 2 * width if dense else width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a1 = self.conv1(x)
        a2 = self.conv2(a1)
        return torch.cat([a1, a2], dim=1) if self.dense else a2


class BDNN(nn.Module):
    """Binarized dense CNN.

    Args:
        num_blocks: 2, 3 or 4 (BDNN2/3/4).
        dense: True = block output concat(conv1, conv2) (BDNN); False = BCNN.
        widths: block widths (64, 128, 256, 512).
        width_mult: multiplies block and FC widths (1.0 = the paper).
        fc_width, num_fc: hidden binarized FC layers (1024 x 2).
        input_size: crop size (42).
        bn_eps: BatchNorm epsilon (1e-4).
    """

    def __init__(
        self,
        num_blocks: int = 4,
        dense: bool = True,
        num_classes: int = 7,
        in_chans: int = 1,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        width_mult: float = 1.0,
        fc_width: int = 1024,
        num_fc: int = 2,
        input_size: int = 42,
        bn_eps: float = 1e-4,
    ) -> None:
        super().__init__()
        if not 1 <= num_blocks <= len(widths):
            raise ValueError(f"num_blocks must be in 1..{len(widths)}")
        ws = [max(2, int(round(w * width_mult))) for w in widths[:num_blocks]]
        fcw = max(2, int(round(fc_width * width_mult)))
        self.num_blocks, self.dense, self.input_size = num_blocks, dense, input_size
        self.blocks = nn.ModuleList()
        cin, size = in_chans, input_size
        for w in ws:
            blk = BinaryDenseBlock(cin, w, dense, bn_eps)
            self.blocks.append(blk)
            cin = blk.out_channels
            size //= 2
        self.pool = nn.MaxPool2d(2)
        self.flat_features = cin * size * size
        fcs = []
        fin = self.flat_features
        for _ in range(num_fc):
            fcs.append(
                nn.ModuleDict(
                    {
                        "fc": BinaryLinear(fin, fcw),
                        "bn": nn.BatchNorm1d(fcw, eps=bn_eps),
                        "act": SignActivation(),
                    }
                )
            )
            fin = fcw
        self.fcs = nn.ModuleList(fcs)
        self.num_features = fin
        self.classifier = nn.Linear(fin, num_classes)
        self.classifier_bn = nn.BatchNorm1d(num_classes, eps=bn_eps)

    def binary_layers(self) -> list[tuple[str, nn.Module]]:
        return [(n, m) for n, m in self.named_modules() if isinstance(m, (BinaryConv2d, BinaryLinear))]

    @torch.no_grad()
    def clip_latent_(self) -> None:
        for _, m in self.binary_layers():
            m.clip_latent_()

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pooled output of every block (42 -> 21 -> 10 -> 5 -> 2)."""
        outs = []
        for blk in self.blocks:
            x = self.pool(blk(x))
            outs.append(x)
        return outs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.forward_intermediates(x)[-1], 1)
        for fc in self.fcs:
            x = fc["act"](fc["bn"](fc["fc"](x)))
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.classifier_bn(self.classifier(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class PackedWeights:
    """The weight sidecar of the P5 nets (``ferapp.zoo.registry.WeightSidecar``): the binarized
    layers' weights are stored only as sign bits in ``model.packed.npz`` (``ferapp.zoo.packed``:
    1/32 of their fp32 size, BN folded into thresholds), and that file runs on its own."""

    filename = "model.packed.npz"

    def keys(self, model: nn.Module) -> list[str]:
        return [
            f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (BinaryConv2d, BinaryLinear))
        ]

    def save(self, model: nn.Module, path: Path) -> dict[str, Any]:
        from ferapp.zoo.packed import export_packed

        st = export_packed(model, path)
        return {
            "packed": {
                "ratio": round(st.ratio, 2),
                "packed_bytes": st.packed_bytes,
                "fp32_bytes": st.fp32_bytes,
            }
        }

    def load(self, path: Path) -> dict[str, torch.Tensor]:
        from ferapp.zoo.packed import load_packed

        return {f"{layer}.weight": w for layer, w in load_packed(path).binary_weights().items()}

    def fast_model(self, path: Path, cfg: ModelCfg) -> nn.Module:
        from ferapp.zoo.packed import PackedBNNModule, load_packed

        return PackedBNNModule(load_packed(path), cfg).eval()


# FER2013 official split, PrivateTest with five-crop voting
PAPER = Paper("P5", "binarized dense CNN", protocols=("p5",))
_CITE = (
    "Wen Guangzhao, Xu Shinan, Ma Yunhe, Wang Xiaobo. Facial expression recognition based on a "
    "binarized dense convolutional neural network. Nanjing University of Science and Technology."
)
_RECIPE = Recipe(
    optimizer="adam",
    lr=1e-3,
    momentum=0.0,
    schedule="cosine",
    min_lr=1e-5,
    batch_size=64,
    epochs=100,
    loss="squared_hinge",
    algorithm="bnn",
    augment=("mirror",),
)
# (the latent weights are clipped to [-1, 1] after each step: BinaryConv2d/BinaryLinear.clip_latent_)


def _register(name: str, num_blocks: int, dense: bool, acc: float, desc: str, bench_quick: bool = False):
    @register_model(
        ModelCfg(
            name=name,
            input_size=(48, 48),
            channels=1,
            mean=0.5,
            std=0.5,
            five_crop=42,
            citation=_CITE,
            description=desc,
            reported={"FER2013 test": acc},
        ),
        recipe=_RECIPE,
        paper=PAPER,
        bench_quick=bench_quick,
        sidecar=PackedWeights(),
    )
    def _entry(**kwargs) -> BDNN:
        return BDNN(num_blocks=num_blocks, dense=dense, **kwargs)

    _entry.__name__ = name
    return _entry


bdnn2 = _register(
    "bdnn2",
    2,
    True,
    61.50,
    "Binarized dense CNN, 2 dense blocks (64, 128), five-crop voting",
    bench_quick=True,
)
bdnn3 = _register("bdnn3", 3, True, 65.51, "Binarized dense CNN, 3 dense blocks (64-256), five-crop voting")
bdnn4 = _register("bdnn4", 4, True, 66.15, "Binarized dense CNN, 4 dense blocks (64-512), five-crop voting")
bcnn4 = _register("bcnn4", 4, False, 64.90, "BDNN4 without dense concatenation (BCNN4), five-crop voting")

__all__ = [
    "BDNN",
    "BinaryConv2d",
    "BinaryLinear",
    "BinaryConvBN",
    "BinaryDenseBlock",
    "PackedWeights",
    "SignActivation",
    "SignSTE",
    "binarize",
]
