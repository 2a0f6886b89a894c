"""P4 - Depthwise-separable SE residual network with center loss.

Li Jiaqian et al., "Facial expression recognition based on a depthwise separable
convolutional residual network with squeeze-and-excitation and center loss"
(shared/papers/p4-*.txt). Architecture after Xception (Chollet 2017) + SE (Hu et al. 2018),
center loss after Wen et al. 2016.

Table 1 at 48x48 grayscale (spatial sizes 46, 44, 22, 11, 6, 3, 1):
  conv3x3 valid 32 + SE (46) -> conv3x3 valid 64 + SE (44)
  -> [sepconv 128 + SE, sepconv 128 + SE, maxpool 3x3/2 pad 1] (22)
  -> [sepconv 256 + SE x2, pool] (11) -> [sepconv 512 + SE x2, pool] (6)
  -> [sepconv 1024 + SE x2, pool] (3) -> sepconv 3x3 valid 1024 + SE (1x1x1024)
  -> dropout 0.5 -> 1x1 projection to 7 -> global pooling -> logits.
Separable conv = depthwise 3x3 + pointwise 1x1 (+BN). Activation SELU (the paper's "ELU"
with delta = 1.6732...). SE = global pool -> FC (reduction 4) -> ReLU -> FC -> sigmoid.
Residual structure (Fig. 3): Xception-style 1x1 stride-2 conv (+BN) shortcut around each
separable pair + its pooling (``shortcut="pair"``, the natural reading); ``"none"`` removes it.

``forward_head(forward_features(x), pre_logits=True)`` gives the 1024-d vector (after the last
SE) that the center loss uses; ``num_features`` is its size. With width_mult=1 the parameter count is 5,834,335 vs the
paper's 5,835,265 (the paper does not say where it keeps BN/biases).
"""

from __future__ import annotations

import torch
from torch import nn

from ferapp.zoo.registry import ModelCfg, Paper, Recipe, register_model


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
        return x * s[:, :, None, None]


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1 + BN."""

    def __init__(self, cin: int, cout: int, padding: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=padding, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )


class SepPair(nn.Module):
    """sepconv+SE, SELU, sepconv+SE, maxpool 3x3/2 (pad 1), + 1x1/2 projection shortcut."""

    def __init__(self, cin: int, cout: int, se_reduction: int = 4, shortcut: bool = True) -> None:
        super().__init__()
        self.sep1 = SeparableConv(cin, cout)
        self.se1 = SqueezeExcite(cout, se_reduction)
        self.sep2 = SeparableConv(cout, cout)
        self.se2 = SqueezeExcite(cout, se_reduction)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.act = nn.SELU()
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
            if shortcut
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.se1(self.sep1(x)))
        y = self.se2(self.sep2(y))
        y = self.pool(y)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.act(y)


class DSCSEResNet(nn.Module):
    """Table 1 network.

    Args:
        width_mult: multiplies every width (32, 64, 128, 256, 512, 1024); 1.0 = the paper.
        se_reduction: SE bottleneck reduction (4).
        shortcut: "pair" (1x1 strided shortcut around each separable pair) or "none".
        dropout: before the 1x1 projection (0.5).
        num_classes, in_chans: 7, 1.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        width_mult: float = 1.0,
        se_reduction: int = 4,
        shortcut: str = "pair",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if shortcut not in ("pair", "none"):
            raise ValueError("shortcut must be 'pair' or 'none'")

        def w(c: int) -> int:
            return max(4, int(round(c * width_mult)))

        self.act = nn.SELU()
        self.conv1 = nn.Sequential(nn.Conv2d(in_chans, w(32), 3, bias=False), nn.BatchNorm2d(w(32)))
        self.se1 = SqueezeExcite(w(32), se_reduction)
        self.conv2 = nn.Sequential(nn.Conv2d(w(32), w(64), 3, bias=False), nn.BatchNorm2d(w(64)))
        self.se2 = SqueezeExcite(w(64), se_reduction)
        widths = [w(64), w(128), w(256), w(512), w(1024)]
        self.stages = nn.Sequential(
            *[SepPair(widths[i], widths[i + 1], se_reduction, shortcut == "pair") for i in range(4)]
        )
        self.final_sep = SeparableConv(widths[-1], widths[-1], padding=0)
        self.final_se = SqueezeExcite(widths[-1], se_reduction)
        self.num_features = widths[-1]
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Conv2d(widths[-1], num_classes, 1)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every Table-1 row's output (for the shape test): 46, 44, 22, 11, 6, 3, 1."""
        outs = []
        x = self.act(self.se1(self.conv1(x)))
        outs.append(x)
        x = self.act(self.se2(self.conv2(x)))
        outs.append(x)
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        x = self.act(self.final_se(self.final_sep(x)))
        outs.append(x)
        return outs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_intermediates(x)[-1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits; with ``pre_logits`` the pooled (N, num_features) embedding the center loss uses."""
        if pre_logits:
            return x.mean(dim=(2, 3))
        return self.proj(self.drop(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


_CITE = (
    "Li Jiaqian et al. Facial expression recognition based on depthwise separable convolution, "
    "SE residual network and center loss."
)
# CK+ 10-fold (made subject-independent)
PAPER = Paper("P4", "separable SE ResNet, center loss", protocols=("p4",))
_RECIPE = Recipe(
    optimizer="sgd",
    lr=0.01,
    momentum=0.9,
    weight_decay=0.0,
    schedule="plateau10",
    min_lr=1e-5,
    batch_size=32,
    epochs=30,
    loss="ce+center",
    algorithm="backprop",
    augment=("mirror", "crop", "rotate"),
    extra={"center_weight": 0.01, "center_lr": 0.5},
)


@register_model(
    ModelCfg(
        name="dsc_se_resnet",
        input_size=(48, 48),
        channels=1,
        mean=0.5,
        std=0.5,
        citation=_CITE,
        description="Depthwise-separable SE residual net (Table 1, 46->1), SELU, center loss",
        reported={"params": 5835265, "CK+": 97.57, "JAFFE": 96.24, "Oulu-CASIA": 94.09},
    ),
    recipe=_RECIPE,
    paper=PAPER,
)
def dsc_se_resnet(**kwargs) -> DSCSEResNet:
    return DSCSEResNet(**kwargs)


@register_model(
    ModelCfg(
        name="dsc_se_resnet_s",
        input_size=(48, 48),
        channels=1,
        mean=0.5,
        std=0.5,
        citation=_CITE,
        description="P4 network at width_mult=0.5 (CPU real-time variant; not in the paper)",
        reported={},
    ),
    recipe=_RECIPE,
    paper=PAPER,
    bench_quick=True,
)
def dsc_se_resnet_s(**kwargs) -> DSCSEResNet:
    kwargs.setdefault("width_mult", 0.5)
    return DSCSEResNet(**kwargs)


__all__ = ["DSCSEResNet", "SepPair", "SeparableConv", "SqueezeExcite", "dsc_se_resnet", "dsc_se_resnet_s"]
