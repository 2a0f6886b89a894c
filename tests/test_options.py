"""The training-option schema: one definition for the CLI flags, the wizard's form and recipe
validation; unknown keys are errors; every option is read by the training code."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from ferapp.train.options import (
    OPTIONS,
    TrainConfig,
    add_cli_flags,
    check_recipe_file,
    cli_overrides,
    relevant,
    validate,
)
from ferapp.train.schedules import Cosine, Step
from ferapp.zoo import get_model_cfg, get_recipe, list_models
from ferapp.zoo.registry import ModelCfg, Recipe

REPO = Path(__file__).resolve().parents[1]


def test_every_field_is_an_option_with_a_valid_default():
    import dataclasses

    assert [f.name for f in dataclasses.fields(TrainConfig)] == list(OPTIONS)
    for name, o in OPTIONS.items():
        assert o.name == name and o.help, name
        default = TrainConfig.__dataclass_fields__[name].default
        assert o.check(default) == default, name  # the default passes its own check
        if o.choices and o.kind == "str":
            assert default in o.choices


@pytest.mark.parametrize(
    "values, match",
    [
        ({"epochz": 3}, "unknown training option 'epochz' \\(did you mean 'epochs'\\?\\)"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam, adamw"),
        ({"epochs": 0}, "epochs must be from 1 to 10000"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"augment": ["mirror", "twirl"]}, "augment: unknown value"),
        ({"amp": "maybe"}, "amp must be true or false"),
        ({"seed": True}, "seed must be a number"),
    ],
)
def test_validate_rejects_with_the_key_named(values, match):
    with pytest.raises(ValueError, match=match):
        validate(values)
    with pytest.raises(ValueError, match=match.split(" ")[0]):
        TrainConfig.from_recipe(None, **values)


def test_validate_normalises_types():
    v = validate({"epochs": 3.0, "lr": 1, "augment": "mirror,crop", "amp": "false", "hsic_sigma": None})
    assert v == {"epochs": 3, "lr": 1.0, "augment": ("mirror", "crop"), "amp": False, "hsic_sigma": None}
    assert validate({"augment": "none"}) == {"augment": ()}


@pytest.mark.parametrize("name", list_models())
def test_every_paper_recipe_is_valid(name):
    recipe = get_recipe(name)
    t = TrainConfig.from_recipe(recipe)  # raises on an unknown extra key
    for f in dataclasses.fields(recipe):  # every recipe field lands in the config under its own name
        if f.name != "extra":
            assert getattr(t, f.name) == getattr(recipe, f.name) or (f.name, t.algorithm) == ("loss", "bnn")
    for k, v in (recipe.extra or {}).items():
        assert getattr(t, k) == v  # every extra key lands in the config (none is dropped)


def test_recipe_fields_are_training_options():
    """TrainConfig.from_recipe copies the fields Recipe and TrainConfig share by name: each one
    (``extra`` aside) must be an option, or the recipe would silently lose it."""
    options = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f.name for f in dataclasses.fields(Recipe)} - {"extra"} <= options
    r = Recipe(
        optimizer="adam",
        lr=0.123,
        momentum=0.5,
        weight_decay=0.01,
        schedule="step",
        min_lr=0.001,
        batch_size=17,
        epochs=5,
        loss="ce+center",
        algorithm="backprop",
        augment=("crop",),
    )
    t = TrainConfig.from_recipe(r)
    assert {f.name: getattr(t, f.name) for f in dataclasses.fields(r) if f.name != "extra"} == {
        f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "extra"
    }


def test_every_shipped_config_and_recipe_file_is_valid():
    from ferapp.zoo.io import config_to_cfg

    for p in sorted((REPO / "models").glob("*/config.json")):
        raw = json.loads(p.read_text())
        if "ensemble" in raw:
            continue
        cfg = config_to_cfg(raw)
        TrainConfig.from_recipe(get_recipe(cfg.name))
    files = sorted((REPO / "training" / "recipes").glob("*.json"))
    assert files
    for p in files:
        r = check_recipe_file(json.loads(p.read_text()))
        TrainConfig.from_recipe(get_recipe(r["arch"]), **r["overrides"])


def test_recipe_files_with_unknown_keys_are_errors():
    base = {"arch": "resnet20", "data": "x.csv"}
    with pytest.raises(ValueError, match="unknown recipe key"):
        check_recipe_file({**base, "epochs": 3})  # belongs in overrides
    with pytest.raises(ValueError, match="unknown recipe override 'sigma'"):
        check_recipe_file({**base, "overrides": {"sigma": 5.0}})
    assert check_recipe_file({**base, "overrides": {"hsic_sigma": 5}})["overrides"] == {"hsic_sigma": 5.0}


def test_model_config_unknown_keys_are_errors_and_legacy_keys_migrate():
    d = get_model_cfg("hsic_densenet").to_dict()
    with pytest.raises(ValueError, match="unknown model config key"):
        ModelCfg.from_dict({**d, "flip_ttta": True})
    r = get_recipe("hsic_densenet").to_dict()
    with pytest.raises(ValueError, match="unknown recipe key"):
        Recipe.from_dict({**r, "epoch": 3})
    old = {**r, "extra": {"hsic_beta": 100.0, "sigma": 5.0, "steps": 10000, "kernel": "gaussian"}}
    assert Recipe.from_dict(old).extra == {"hsic_beta": 100.0, "hsic_sigma": 5.0}
    # a config.json of an earlier version held the recipe too: it still loads (the recipe dropped)
    assert ModelCfg.from_dict({**d, "recipe": old}) == ModelCfg.from_dict(d)


def test_every_option_is_read_by_the_training_code():
    """No option is written into reports and never read (the clip_latent / steps / kernel kind)."""
    src = "\n".join(p.read_text() for p in (REPO / "ferapp" / "train").glob("*.py") if p.name != "options.py")
    unread = [
        n for n in OPTIONS if not re.search(rf"\b(t|tcfg|self\.t|self\.tcfg|trainer\.tcfg)\.{n}\b", src)
    ]
    assert unread == []


def test_cli_flags_are_generated_from_the_schema():
    p = argparse.ArgumentParser()
    add_cli_flags(p)
    helptext = p.format_help()
    for o in OPTIONS.values():
        if o.cli_flag:
            assert o.cli_flag in helptext
    assert "--out-dir" not in helptext and "--log-every" not in helptext  # internal
    args = p.parse_args(
        ["--optimizer", "adamw", "--threads", "2", "--augment", "mirror,affine", "--max-batches", "3"]
    )
    assert cli_overrides(args) == {
        "optimizer": "adamw",
        "num_threads": 2,
        "augment": ("mirror", "affine"),
        "max_batches_per_epoch": 3,
    }
    with pytest.raises(ValueError, match="--optimizer: optimizer must be one of"):
        cli_overrides(p.parse_args(["--optimizer", "rmsprop"]))


def test_ferapp_train_rejects_a_bad_option_before_reading_data(capsys):
    from ferapp.cli import main

    assert main(["train", "--model", "resnet20", "--data", "/nonexistent.csv", "--schedule", "linear"]) == 2
    assert "schedule must be one of cosine, plateau10, step, constant" in capsys.readouterr().err


def test_relevance_of_paper_specific_options():
    assert relevant(OPTIONS["hsic_beta"], "hsic", "ce", False)
    assert not relevant(OPTIONS["hsic_beta"], "backprop", "ce", False)
    assert relevant(OPTIONS["center_weight"], "backprop", "ce+center", False)
    assert not relevant(OPTIONS["five_crop"], "bnn", "squared_hinge", False)
    assert relevant(OPTIONS["five_crop"], "bnn", "squared_hinge", True)
    assert relevant(OPTIONS["epochs"], "hsic", "ce", False)


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_torch_schedules_keep_group_ratios_and_resume():
    w = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(
        [
            {"params": [w[0]], "lr": 0.1, "lr_scale": 1.0},
            {"params": [w[1]], "lr": 0.1 * 20, "lr_scale": 20.0},
        ],
        lr=0.1,
    )
    s = Cosine([opt], 0.1, epochs=4, min_lr=0.01)
    for e in range(2):
        s.step(e, None)
    assert s.lr == pytest.approx(0.01 + 0.5 * 0.09 * (1 + torch.cos(torch.tensor(torch.pi / 2)).item()))
    assert opt.param_groups[1]["lr"] == pytest.approx(20 * opt.param_groups[0]["lr"])  # ratio kept, floor too
    state = s.state_dict()
    opt2 = torch.optim.SGD(
        [
            {"params": [w[0]], "lr": 0.1, "lr_scale": 1.0},
            {"params": [w[1]], "lr": 0.1 * 20, "lr_scale": 20.0},
        ],
        lr=0.1,
    )
    opt2.load_state_dict(opt.state_dict())  # as the trainer does on resume
    s2 = Cosine([opt2], 0.1, epochs=4, min_lr=0.01)
    s2.load_state_dict(state)
    s.step(2, None)
    s2.step(2, None)
    assert s2.lr == pytest.approx(s.lr) and opt2.param_groups[0]["lr"] == pytest.approx(
        opt.param_groups[0]["lr"]
    )
    s.step(3, None)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01) and opt.param_groups[1]["lr"] == pytest.approx(
        0.2
    )
    opt3 = torch.optim.SGD([w[0]], lr=1.0)
    st = Step([opt3], 1.0, step_size=2, gamma=0.5)
    lrs = []
    for e in range(5):
        st.step(e, None)
        lrs.append(opt3.param_groups[0]["lr"])
    assert lrs == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25]) and st.lr == pytest.approx(0.25)
