"""A model is one file: a toy sixth paper, declared only in this test module (registered for the
test, removed after it), shows up in the GUI's dropdown groups, the training wizard's protocol
choices, `ferapp models`, the quick bench and the reproduction script, and the generic
model-folder code stores and loads its weights through the sidecar it declares. No file of
ferapp names it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

import ferapp.zoo.models
from ferapp.cli import main
from ferapp.data.assemble import make_dataset
from ferapp.data.planning import BASIC_PROTOCOLS, choose_protocol
from ferapp.labels import LABELS
from ferapp.zoo import (
    ModelCfg,
    Paper,
    create_model,
    get_model_cfg,
    get_paper,
    list_models,
    list_papers,
    quick_bench_models,
    register_model,
    unregister_model,
    weight_sidecar,
)
from ferapp.zoo.errors import CheckpointError
from ferapp.zoo.io import load_model_dir, save_model_dir
from ferapp.zoo.store import user_models_dir

TOY = "toy6"
TOY_PAPER = Paper("P6", "toy network of the registry test", protocols=("holdout-25",))


class ToyNet(nn.Module):
    """3x3 conv, global average pool, linear head: a few hundred parameters."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.head = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).relu().mean((2, 3)))


class ToySidecar:
    """A stand-in for P5's 1-bit file: every weight lives only in model.toy.npz, and the fast
    path is a network rebuilt from that file alone (marked, so the test can see it ran)."""

    filename = "model.toy.npz"

    def keys(self, model: nn.Module) -> list[str]:
        return sorted(model.state_dict())

    def save(self, model: nn.Module, path) -> dict:
        arrays = {k.replace(".", "__"): v.detach().numpy() for k, v in model.state_dict().items()}
        np.savez(path, **arrays)
        return {"toy_sidecar": {"arrays": len(arrays)}}

    def load(self, path) -> dict[str, torch.Tensor]:
        with np.load(path, allow_pickle=False) as z:
            return {k.replace("__", "."): torch.from_numpy(z[k]) for k in z.files}

    def fast_model(self, path, cfg) -> nn.Module:
        net = ToyNet(num_classes=cfg.num_classes)
        net.load_state_dict(self.load(path))
        net.fast = True
        return net.eval()


@pytest.fixture
def toy():
    register_model(
        ModelCfg(name=TOY, input_size=(16, 16), description="toy sixth paper"),
        paper=TOY_PAPER,
        bench_quick=True,
        sidecar=ToySidecar(),
    )(ToyNet)
    try:
        yield TOY
    finally:
        unregister_model(TOY)
    assert TOY not in list_models() and get_paper("P6") is None  # other tests never see it


def _save_trained_toy(name: str = "toy6_tiny"):
    torch.manual_seed(0)
    return save_model_dir(
        user_models_dir() / name,
        create_model(TOY),
        meta={"trained": True, "privatetest_acc": 0.4321, "latency_ms": 0.2},
    )


def test_the_toy_paper_is_registered_after_the_five(toy):
    assert TOY in list_models() and get_model_cfg(TOY).paper == "P6"
    assert [p.key for p in list_papers()][-1] == "P6" and get_paper("P6") is TOY_PAPER
    assert TOY in quick_bench_models() and isinstance(weight_sidecar(TOY), ToySidecar)


def test_a_sixth_paper_gets_its_own_group_in_the_model_dropdown(toy):
    from ferapp.gui.models import model_choices, paper_groups

    _save_trained_toy()
    groups = paper_groups()
    assert (
        list(groups)[-3:] == ["P6", "ensemble", ""]
        and groups["P6"] == "P6 · toy network of the registry test"
    )
    choices = model_choices()
    texts = [c.text for c in choices]
    header = texts.index("P6 · toy network of the registry test")
    assert choices[header].is_header and choices[header + 1].ref == "toy6_tiny"
    assert "43.2% FER2013 PrivateTest" in choices[header + 1].text
    # in the registry's order: after every registered paper that has a trained model
    headers = [c.text for c in choices if c.is_header]
    order = list(groups.values())
    assert headers == sorted(headers, key=order.index)


def test_a_sixth_paper_offers_its_protocols_in_the_training_wizard(toy):
    labels = np.repeat(np.arange(7), 8).astype(np.int64)
    n = len(labels)
    ds = make_dataset(
        "toy",
        "/data/toy",
        np.zeros((n, 4, 4), np.uint8),
        labels,
        LABELS,
        np.asarray([""] * n),
        np.asarray([f"S{i % 4}" for i in range(n)]),
        [f"row:{i}" for i in range(n)],
        [],
        [],
    )
    choice = choose_protocol(ds, get_model_cfg(TOY).paper)  # what the wizard's settings page asks
    assert choice.paper_presets == ("holdout-25",)
    assert choice.items == (*BASIC_PROTOCOLS, "holdout-25")
    assert choice.default == "holdout-25" and choice.paper_fits


def test_a_sixth_paper_is_listed_by_ferapp_models(toy, capsys):
    _save_trained_toy()
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(" toy6_tiny " in ln and "acc 43.21% FER2013 PrivateTest" in ln for ln in out)
    header = next(i for i, ln in enumerate(out) if "P6 · toy network of the registry test" in ln)
    assert "paper protocols: holdout-25" in out[header] and out[header + 1].split()[0] == TOY
    assert main(["models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {
        "key": "P6",
        "title": TOY_PAPER.title,
        "protocols": ["holdout-25"],
        "architectures": [TOY],
    } in data["papers"]


def test_the_quick_bench_and_the_reproduction_script_read_the_registry(toy, monkeypatch):
    import ferapp.bench
    from tests.conftest import REPO

    measured: list[str] = []
    monkeypatch.setattr(
        ferapp.bench, "bench_models", lambda names, device, quick: measured.extend(names) or []
    )
    ferapp.bench.run_bench(quick=True, sections=("models",))
    assert measured == quick_bench_models() and TOY in measured

    monkeypatch.syspath_prepend(str(REPO))
    from training.make_reproduction import paper_sections

    lines = paper_sections(load=lambda recipe: None)
    i = lines.index("## P6 · toy network of the registry test")
    assert "No reproduction run yet" in lines[i + 2] and "`holdout-25`" in lines[i + 2]
    assert "## P5 · binarized dense CNN: FER2013, five-crop voting" in lines[:i]


def test_the_generic_model_folder_code_uses_the_models_own_sidecar(toy, tmp_path):
    folder = _save_trained_toy()
    assert (folder / "model.toy.npz").is_file()
    pt = torch.load(folder / "model.pt", weights_only=True)
    assert pt["state_dict"] == {} and pt["packed_keys"] == [
        "conv.bias",
        "conv.weight",
        "head.bias",
        "head.weight",
    ]
    assert json.loads((folder / "config.json").read_text())["meta"]["toy_sidecar"] == {"arrays": 4}
    x = torch.rand(3, 1, 16, 16)
    torch.manual_seed(0)
    reference = create_model(TOY).eval()(x)
    loaded = load_model_dir(folder)
    assert torch.equal(loaded.model(x), reference)  # the weights came back from the sidecar
    assert loaded.packed_path == folder / "model.toy.npz"
    fast = loaded.packed_model()
    assert getattr(fast.model, "fast", False) and torch.equal(fast.model(x), reference)
    (folder / "model.toy.npz").unlink()
    with pytest.raises(CheckpointError, match="model.toy.npz missing"):
        load_model_dir(folder)


def test_a_new_file_in_the_models_package_is_found_without_editing_a_list(tmp_path, monkeypatch):
    (tmp_path / "p9_dropped_in.py").write_text(
        "from torch import nn\n"
        "from ferapp.zoo.registry import ModelCfg, Paper, register_model\n"
        "PAPER = Paper('P9', 'a file dropped into ferapp/zoo/models', protocols=('kfold-4',))\n"
        "@register_model(ModelCfg(name='dropped_in', input_size=(16, 16)), paper=PAPER)\n"
        "def dropped_in(num_classes=7, in_chans=1):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * 256, num_classes))\n"
    )
    monkeypatch.setattr(ferapp.zoo.models, "__path__", [*ferapp.zoo.models.__path__, str(tmp_path)])
    try:
        assert "p9_dropped_in" in ferapp.zoo.models.import_all()
        assert get_model_cfg("dropped_in").paper == "P9" and get_paper("P9").protocols == ("kfold-4",)
    finally:
        unregister_model("dropped_in")
        sys.modules.pop("ferapp.zoo.models.p9_dropped_in", None)
    assert "dropped_in" not in list_models() and get_paper("P9") is None


def test_a_paper_is_declared_once_and_a_model_names_only_a_registered_paper():
    list_models()
    with pytest.raises(ValueError, match="declared twice"):
        register_model(ModelCfg(name="clash"), paper=Paper("P5", "another title"))
    with pytest.raises(ValueError, match="not registered"):
        register_model(ModelCfg(name="orphan", paper="P42"))
    with pytest.raises(ValueError, match="disagrees"):
        register_model(ModelCfg(name="mixed", paper="P1"), paper=TOY_PAPER)
    for bad in ("", "ensemble", "P 6"):
        with pytest.raises(ValueError, match="paper key"):
            Paper(bad, "title")
    with pytest.raises(ValueError, match="tuple"):
        Paper("P7", "title", protocols="p5")
    assert "clash" not in list_models() and get_paper("P42") is None
    # a second module may add a network to a paper another module declared
    register_model(ModelCfg(name="p1_extra", paper="P1", input_size=(16, 16)))(ToyNet)
    try:
        assert get_model_cfg("p1_extra").paper == "P1" and get_paper("P1").title == "cross-connected LeNet-5"
    finally:
        unregister_model("p1_extra")
    assert get_paper("P1") is not None  # its own models still name it
