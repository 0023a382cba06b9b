"""params.yaml + overlays validate; bad keys fail early, naming the key."""

import copy
import json
from pathlib import Path

import pytest

from auscult.params import ParamsError, deep_merge, digest, load_params, validate


@pytest.mark.parametrize("overlay", [[], ["config/demo.yaml"], ["config/quick.yaml"]])
def test_budgets_validate(repo_root, overlay):
    cfg = load_params(repo_root / "params.yaml", [repo_root / o for o in overlay])
    assert cfg["budget"] == (overlay[0].split("/")[1][:-5] if overlay else "paper")


def test_unknown_key_is_named(paper):
    cfg = copy.deepcopy(paper)
    cfg["audiofuse"]["training"]["lrate"] = 0.1
    with pytest.raises(ParamsError, match=r"audiofuse\.training: unknown key\(s\) \['lrate'\]"):
        validate(cfg)


def test_missing_key_is_named(paper):
    cfg = copy.deepcopy(paper)
    del cfg["audiofuse"]["training"]["patience"]
    with pytest.raises(ParamsError, match=r"audiofuse\.training: 'patience' is required"):
        validate(cfg)


def test_wrong_type_is_named(paper):
    cfg = copy.deepcopy(paper)
    cfg["audiofuse"]["training"]["batch_size"] = "32"
    with pytest.raises(ParamsError, match=r"audiofuse\.training\.batch_size"):
        validate(cfg)


def test_synthetic_settings_need_synthetic_source(paper):
    cfg = copy.deepcopy(paper)
    cfg["datasets"]["pascal"]["synthetic"] = {"n_records": 5, "seed": 0, "abnormal_fraction": 0.5}
    with pytest.raises(ParamsError, match="only allowed with source: synthetic"):
        validate(cfg)
    cfg["datasets"]["pascal"]["source"] = "synthetic"
    validate(cfg)
    del cfg["datasets"]["pascal"]["synthetic"]
    with pytest.raises(ParamsError, match=r"datasets\.pascal"):
        validate(cfg)


def test_table_rows_must_name_variants(paper):
    cfg = copy.deepcopy(paper)
    cfg["audiofuse"]["tables"]["t1_physionet"].append("nope")
    with pytest.raises(ParamsError, match="unknown variant"):
        validate(cfg)


def test_vit_ablation_rows_need_a_vit(paper):
    cfg = copy.deepcopy(paper)
    cfg["audiofuse"]["tables"]["t3_vit_ablation"] = ["cnn_only"]
    with pytest.raises(ParamsError, match="has no ViT"):
        validate(cfg)


def test_variant_override_cannot_invent_keys(paper):
    cfg = copy.deepcopy(paper)
    cfg["audiofuse"]["variants"]["vit_only"] = {"vit": {"depht": 3}}
    with pytest.raises(ParamsError, match="depht"):
        validate(cfg)


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ParamsError, match="p.yaml: not valid YAML"):
        load_params(bad)


def test_digest_is_order_insensitive_and_sensitive_to_values():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    assert len(digest({"a": 1})) == 8


def test_deep_merge_does_not_mutate():
    base = {"a": {"b": 1, "c": 2}}
    out = deep_merge(base, {"a": {"b": 5}})
    assert out == {"a": {"b": 5, "c": 2}} and base == {"a": {"b": 1, "c": 2}}


def test_committed_json_schema_is_the_composed_one():
    """src/auscult/schemas/params.schema.json is generated from the shared schema and every
    built-in paper's schema.yaml: regenerate it (`python -m auscult.params`) after editing them."""
    from auscult.params import full_schema

    committed = json.loads((Path(__file__).parents[1] / "src/auscult/schemas/params.schema.json").read_text())
    assert committed == full_schema(), "params.schema.json is stale: python -m auscult.params > src/auscult/schemas/params.schema.json"


def test_a_broken_paper_schema_part_is_one_clear_error(tmp_path):
    from types import SimpleNamespace

    from auscult.params import ParamsError, paper_schema

    (tmp_path / "p.py").write_text("")
    module = SimpleNamespace(__file__=str(tmp_path / "p.py"), SCHEMA={"type": "object"})
    assert paper_schema(module) == {"block": {"type": "object"}}
    (tmp_path / "schema.yaml").write_text("block: [unclosed\n")
    with pytest.raises(ParamsError, match="schema.yaml: not valid YAML"):
        paper_schema(module)
    (tmp_path / "schema.yaml").write_text("features: {}\n")
    with pytest.raises(ParamsError, match="needs a `block`"):
        paper_schema(module)
