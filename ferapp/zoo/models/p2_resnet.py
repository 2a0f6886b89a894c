"""P2 - Deep residual networks (and their plain counterparts) for expression recognition.

Lu Guanming, Zhu Hairui, Hao Qiang, Yan Jingjie, "Facial expression recognition based on
deep residual networks" (Nanjing Univ. of Posts and Telecommunications; shared/papers/p2-*.txt).

Stem conv 3x3 (+BN+ReLU); module 1 = n units A; modules 2 and 3 = one unit B (stride-2
downsampling with a 1x1 projection shortcut) + (n-1) units A at double width; global average
pooling; FC 7. Unit A = two 3x3 conv+BN with an identity shortcut. Depth 6n+2
(n = 3, 6, 9, 12 -> 20, 38, 56, 74). "Plain" nets are the same without shortcuts.

Choices the paper leaves open:
- base width: the text says the first conv has "4" kernels; CIFAR-style ResNets of this shape
  use 16, which is our default (``base_width``).
- input size: the paper feeds 128x128 (final maps 32x32). The network is size-agnostic (GAP);
  our registered configs use 48x48 (FER2013's native size); pass ``input_size=(128, 128)`` in
  the config to reproduce the paper's setting.
- init: MSRA (He) normal on convs, FC weight (and bias) zero, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from ferapp.zoo.registry import ModelCfg, Paper, Recipe, register_model


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class ResidualUnit(nn.Module):
    """Unit A (stride 1, identity shortcut) or unit B (stride 2 / width change, projection)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.use_shortcut = shortcut
        self.proj: nn.Module | None = None
        if shortcut and (stride != 1 or cin != cout):
            self.proj = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_shortcut:
            out = out + (self.proj(x) if self.proj is not None else x)
        return self.relu(out)


class FERResNet(nn.Module):
    """ResNet / plain net of depth 6n+2.

    Args:
        depth: 20, 38, 56, 74 (any 6n+2).
        base_width: width of module 1 (16; the paper's text says 4). Modules 2/3 use 2x, 4x.
        shortcut: True = ResNet, False = plain net.
        num_classes, in_chans: 7 outputs, 1 (grayscale) input channel.
        zero_init_fc: FC weights initialised to zero (the paper); False = default init.
        input_size: the side the net is meant for (48 here, 128 in the paper). Global average
            pooling makes the layers independent of it; it is recorded (``self.input_size``) and
            checked in ``forward_features`` when ``strict_input`` is True.
        strict_input: reject inputs of another size (off by default).
    """

    def __init__(
        self,
        depth: int = 20,
        base_width: int = 16,
        shortcut: bool = True,
        num_classes: int = 7,
        in_chans: int = 1,
        zero_init_fc: bool = True,
        input_size: int = 48,
        strict_input: bool = False,
    ) -> None:
        super().__init__()
        self.input_size, self.strict_input = int(input_size), strict_input
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 (got {depth})")
        n = (depth - 2) // 6
        self.depth = depth
        w = [base_width, base_width * 2, base_width * 4]
        self.stem = nn.Sequential(_conv3x3(in_chans, w[0]), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        stages = []
        cin = w[0]
        for i, cout in enumerate(w):
            units = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                units.append(ResidualUnit(cin, cout, stride, shortcut))
                cin = cout
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = w[2]
        self.fc = nn.Linear(w[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_fc:
            nn.init.zeros_(self.fc.weight)
            nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.strict_input and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"expected {self.input_size}x{self.input_size} input, got {tuple(x.shape[-2:])}")
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


_CITE = (
    "Lu Guanming, Zhu Hairui, Hao Qiang, Yan Jingjie. Facial expression recognition based on "
    "deep residual networks. Nanjing University of Posts and Telecommunications."
)
_RECIPE = Recipe(
    optimizer="sgd",
    lr=0.01,
    momentum=0.9,
    weight_decay=1e-4,
    schedule="step",
    batch_size=24,
    epochs=30,
    loss="ce",
    algorithm="backprop",
    augment=("mirror",),
)
# KDEF + CK+, 10-fold stratified by class
PAPER = Paper("P2", "deep residual networks", protocols=("p2",))
_REPORTED = {20: (86.77, 87.02), 38: (88.97, 87.20), 56: (89.48, 86.71), 74: (90.79, 86.23)}


def _register(depth: int, shortcut: bool):
    kind = "resnet" if shortcut else "plain"
    name = f"{kind}{depth}"
    acc = _REPORTED[depth][0 if shortcut else 1]

    @register_model(
        ModelCfg(
            name=name,
            input_size=(48, 48),
            channels=1,
            mean=0.5,
            std=0.5,
            citation=_CITE,
            description=(
                f"{'ResNet' if shortcut else 'Plain net'}-{depth} (6n+2, n={(depth - 2) // 6}), base width 16; "
                "paper input 128x128, ours 48x48"
            ),
            reported={"KDEF+CK+ 10-fold": acc, "paper_input_size": [128, 128]},
        ),
        recipe=_RECIPE,
        paper=PAPER,
        bench_quick=name == "resnet20",
    )
    def _entry(**kwargs) -> FERResNet:
        return FERResNet(depth=depth, shortcut=shortcut, **kwargs)

    _entry.__name__ = name
    return _entry


resnet20, plain20 = _register(20, True), _register(20, False)
resnet38, plain38 = _register(38, True), _register(38, False)
resnet56, plain56 = _register(56, True), _register(56, False)
resnet74, plain74 = _register(74, True), _register(74, False)

__all__ = ["FERResNet", "ResidualUnit"]
