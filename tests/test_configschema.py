"""One source per config setting: the modules check their configs against the committed params
schema (auscult.configcheck), and keep no key list or value check of their own."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pandas as pd
import pytest

from auscult import configcheck
from auscult.params import load_params

SRC = Path(__file__).resolve().parents[1] / "src" / "auscult"
OVERLAYS = ("demo", "quick", "cpu", "rehearsal")


def _check_calls() -> dict[str, str]:
    """``configcheck.check(what, cfg, "<name>")`` calls in src/auscult: name -> module."""
    out = {}
    for f in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "configcheck"):
                assert len(node.args) == 3 and isinstance(node.args[2], ast.Constant), f"{f}: {ast.unparse(node)}"
                out[node.args[2].value] = str(f.relative_to(SRC))
    return out


def test_every_schema_entry_the_modules_use_exists():
    used = _check_calls()
    assert {"training", "ast_training", "cnn14_config", "imagenet_model", "ast_model", "audiofuse_model",
            "floor_features", "koike_features", "icbhi_features", "icbhi_split"} <= set(used)
    for name, module in used.items():
        assert configcheck.definition(name)["type"] == "object", (name, module)


def test_no_module_keeps_a_hand_kept_key_set():
    """No ``*KEYS = {...}`` (set, list, tuple or dict of key names) outside the claims file's
    premises, which are no params setting."""
    found = []
    for f in SRC.rglob("*.py"):
        if f.relative_to(SRC).as_posix() == "reporting/claims.py":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if (isinstance(t, ast.Name) and t.id.endswith("KEYS")
                            and isinstance(node.value, (ast.Set, ast.List, ast.Tuple, ast.Dict))):
                        found.append(f"{f.relative_to(SRC)}:{node.lineno} {t.id}")
    assert not found, found


def test_the_checker_knows_every_keyword_of_the_schema():
    seen: set[str] = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                seen.add(k)
                for sub in (v.values() if k in ("properties", "$defs") else [v]):
                    walk(sub)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(configcheck.schema())
    assert seen <= configcheck._KNOWN, sorted(seen - configcheck._KNOWN)


def test_the_schema_lists_what_the_code_implements():
    from auscult.audio import FIX_LENGTH_MODES
    from auscult.features.floor import STATS
    from auscult.models.imagenet import NAMES
    from auscult.papers.audiofuse import BRANCH_SECTIONS
    from auscult.papers.audiofuse.model import BRANCHES

    d = configcheck.definition
    assert d("imagenet_model")["properties"]["name"]["enum"] == list(NAMES)
    assert d("floor_features")["properties"]["stats"]["items"]["enum"] == list(STATS)
    assert d("icbhi_features")["properties"]["pad_mode"]["enum"] == list(FIX_LENGTH_MODES)
    assert d("branches")["items"]["enum"] == list(BRANCHES) == list(BRANCH_SECTIONS)


# --------------------------------------------------------------------------- every module, real blocks
def _split(cfg):
    from auscult.splits import icbhi_protocol_splits

    empty = pd.DataFrame({"official_split": pd.Series([], dtype=str)})
    with pytest.raises(ValueError, match="feature index needs"):  # past the config check
        icbhi_protocol_splits(empty, cfg)


def _raise_split(cfg):
    from auscult.splits import icbhi_protocol_splits

    icbhi_protocol_splits(pd.DataFrame({"official_split": pd.Series([], dtype=str)}), cfg)


def _validators():
    from auscult.features import floor
    from auscult.models import ast as ast_model
    from auscult.models import cnn14, imagenet
    from auscult.papers.ast_sam import features as ast_features
    from auscult.papers.ast_sam import train as ast_train
    from auscult.papers.audiofuse import model as audiofuse_model
    from auscult.papers.koike import features as koike_features
    from auscult.training import validate_train_cfg

    return {
        "floor_features": floor.validate_config, "koike_features": koike_features.validate_config,
        "icbhi_features": ast_features.validate_config, "cnn14": cnn14.validate_config,
        "imagenet": imagenet.validate_config, "ast": ast_model.validate_config,
        "audiofuse": audiofuse_model.validate_config, "training": validate_train_cfg,
        "ast_training": ast_train.validate_train_cfg, "icbhi_split": _raise_split,
    }


def _blocks(config) -> list[tuple[str, str, dict]]:
    """(validator, label, config) for every config the modules are given under ``config``."""
    from auscult import registry

    out = [("floor_features", "features.floor_stats", config["features"]["floor_stats"]),
           ("koike_features", "features.koike", config["features"]["koike"]),
           ("icbhi_features", "features.ast_sam", config["features"]["ast_sam"]),
           ("icbhi_split", "ast_sam.split", config["ast_sam"]["split"]),
           ("training", "audiofuse.head_retrain.training", config["audiofuse"]["head_retrain"]["training"])]
    for name in ("audiofuse", "koike", "ast_sam"):
        paper = registry.REGISTRY[name]
        for v in paper.variants(config):
            sl = paper.train_slice(config, v)
            out.append((sl["model"]["arch"], f"{name} {v} model", sl["model"]))
            out.append(("ast_training" if name == "ast_sam" else "training", f"{name} {v} training", sl["training"]))
    return out


@pytest.fixture(scope="module")
def configs(repo_root):
    return {"paper": load_params(repo_root / "params.yaml"),
            **{o: load_params(repo_root / "params.yaml", [repo_root / "config" / f"{o}.yaml"]) for o in OVERLAYS}}


def test_the_modules_accept_every_real_block(configs):
    validators = _validators()
    for budget, config in configs.items():
        for kind, label, cfg in _blocks(config):
            if kind == "icbhi_split":
                _split(cfg)
                continue
            try:
                validators[kind](copy.deepcopy(cfg))
            except (KeyError, ValueError) as e:
                pytest.fail(f"{budget}: {label}: {e}")


def test_each_module_names_an_unknown_and_a_missing_key(configs):
    validators = _validators()
    done = set()
    for kind, label, cfg in _blocks(configs["paper"]):
        if kind in done:
            continue
        done.add(kind)
        check = validators[kind]
        with pytest.raises(ValueError, match=r"unknown key\(s\) in '<top level>': \['typo_key'\]; allowed: \[") as e:
            check({**cfg, "typo_key": 1})
        assert "\n" not in str(e.value), label
        first = next(iter(cfg))
        with pytest.raises(KeyError, match=rf"missing key\(s\) in '<top level>': \['{first}'\]"):
            check({k: v for k, v in cfg.items() if k != first})
    assert done == set(_validators())


def test_nested_blocks_are_closed_too(paper):
    from auscult.models.cnn14 import validate_config as cnn14
    from auscult.papers.ast_sam.train import validate_train_cfg as ast_train
    from auscult.training import validate_train_cfg

    cfg = next(m["config"] for m in paper["koike"]["models"].values() if m["config"]["arch"] == "cnn14")
    with pytest.raises(ValueError, match=r"cnn14 config: unknown key\(s\) in 'spec_augment': \['x'\]; allowed: "):
        cnn14({**cfg, "spec_augment": {**cfg["spec_augment"], "x": 1}})
    with pytest.raises(ValueError, match=r"cnn14 config: spec_augment must be null or a mapping, got 3"):
        cnn14({**cfg, "spec_augment": 3})
    tr = paper["koike"]["training"]
    with pytest.raises(KeyError, match=r"training config: missing key\(s\) in 'lr_plateau': \['min_lr'\]"):
        validate_train_cfg({**tr, "lr_plateau": {"factor": 0.5, "patience": 2}})
    with pytest.raises(KeyError, match=r"missing key\(s\) in 'sam': \['rho', 'adaptive'\]"):
        ast_train({**paper["ast_sam"]["training"], "sam": {"enabled": True}})


# --------------------------------------------------------------------------- the checker itself
@pytest.mark.parametrize("value, ok", [
    (True, True), (False, True), ("bf16", True), (1, False), (0, False), ("fp32", False), (None, False),
])
def test_enum_tells_true_from_one(value, ok):
    sch = {"enum": [True, False, "fp16", "bf16"]}
    assert (configcheck._first_error(value, sch, ("amp",)) is None) is ok


@pytest.mark.parametrize("value, message", [
    (0, "n must be an integer >= 1, got 0"),
    (2.0, "n must be null or an integer >= 1, got 2.0"),
    (True, "n must be null or an integer >= 1, got True"),
    ("x", "n must be null or an integer >= 1, got 'x'"),
])
def test_scalar_messages(value, message):
    sch = {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/positive_int"}]}
    exc, msg = configcheck._first_error(value, sch, ("n",))
    assert exc is ValueError and msg == message


def test_number_bounds_and_lists():
    frac = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    assert configcheck._first_error(0.5, frac, ("f",)) is None
    assert configcheck._first_error(1, frac, ("f",))[1] == "f must be a number > 0 and < 1, got 1"
    assert configcheck._first_error(float("nan"), frac, ("f",))[1].startswith("f must be a number")
    lst = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": ["a", "b"]}}
    assert configcheck._first_error(("a", "b"), lst, ("l",)) is None
    assert configcheck._first_error([], lst, ("l",))[1] == "l must have at least 1 item(s), got []"
    assert configcheck._first_error(["a", "a"], lst, ("l",))[1] == "l must not repeat items, got ['a', 'a']"
    assert configcheck._first_error(["a", "c"], lst, ("l",))[1] == "l[1] must be one of ['a', 'b'], got 'c'"
    assert configcheck._first_error("ab", lst, ("l",))[1] == "l must be a list, got 'ab'"


def test_a_dotted_path_and_an_unknown_name():
    assert configcheck.definition("ast_sam.split") == configcheck.definition("icbhi_split")
    assert configcheck.definition("features.floor_stats") == configcheck.definition("floor_features")
    with pytest.raises(KeyError, match="no \\$defs/nope"):
        configcheck.check("x", {}, "nope")


def test_the_checker_agrees_with_jsonschema(paper):
    """Mutations of real blocks: the stdlib checker refuses exactly what jsonschema refuses."""
    import jsonschema

    defs = configcheck.schema()["$defs"]
    tr = paper["koike"]["training"]
    ast_tr = paper["ast_sam"]["training"]
    cases = [
        ("training", tr), ("training", {**tr, "max_steps": None}), ("training", {**tr, "max_steps": 0}),
        ("training", {**tr, "amp": "fp32"}), ("training", {**tr, "amp": False}), ("training", {**tr, "lr": 0}),
        ("training", {**tr, "lr_plateau": {**tr["lr_plateau"], "factor": 1}}),
        ("training", {**tr, "extra": 1}), ("ast_training", ast_tr),
        ("ast_training", {**ast_tr, "sam": {"enabled": True}}), ("ast_training", {**ast_tr, "sampler": "x"}),
        ("icbhi_split", paper["ast_sam"]["split"]), ("icbhi_split", {**paper["ast_sam"]["split"], "max_val_cycles": 5}),
        ("icbhi_split", {**paper["ast_sam"]["split"], "val_fraction": 1.0}),
        ("floor_features", {**paper["features"]["floor_stats"], "stats": ["mean", "mean"]}),
        ("koike_features", {**paper["features"]["koike"], "outputs": ["wave", "mfcc"]}),
        ("dataset", paper["datasets"]["pascal"]),
        ("dataset", {**paper["datasets"]["pascal"], "source": "synthetic"}),
    ]
    for name, cfg in cases:
        theirs = next(jsonschema.Draft202012Validator({**defs[name], "$defs": defs}).iter_errors(cfg), None)
        ours = configcheck._first_error(cfg, defs[name], ())
        assert (theirs is None) == (ours is None), (name, cfg, theirs and theirs.message, ours)
