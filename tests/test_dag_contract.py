"""Contract between dvc.yaml and the Snakemake rules.

- stage outputs are disjoint;
- every params key a stage declares exists in params.yaml;
- every file (and log) the workflow can produce lies under exactly one stage's outputs,
  and that stage's `--allowed-rules` contains the rule that produces it;
- every stage's target names a rule it is allowed to run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scratch import copy_workflow

BIN = Path(sys.executable).parent


def expand_stages(repo: Path) -> dict[str, dict]:
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    stages = {}
    for name, spec in dvc["stages"].items():
        if "foreach" not in spec:
            stages[name] = spec
            continue
        source = spec["foreach"].strip("${} ")
        keys = params
        for part in source.split("."):
            keys = keys[part]
        for key in keys:
            text = yaml.safe_dump(spec["do"]).replace("${key}", key)
            stages[f"{name}@{key}"] = yaml.safe_load(text)
    return stages


def outs(stage: dict) -> list[str]:
    items = list(stage.get("outs", [])) + list(stage.get("metrics", []))
    return [next(iter(o)) if isinstance(o, dict) else o for o in items]


def allowed_rules(stage: dict) -> tuple[set[str], list[str]]:
    cmd = " ".join(stage["cmd"].split())
    m = re.search(r"--allowed-rules (.*?) -- (.*)$", cmd)
    assert m, f"stage cmd must be 'snakemake ... --allowed-rules <rules> -- <targets>': {cmd}"
    return set(m.group(1).split()), m.group(2).split()


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@pytest.fixture(scope="module")
def stages(repo_root):
    return expand_stages(repo_root)


def test_stage_outputs_are_disjoint(stages):
    all_outs = [(name, o) for name, s in stages.items() for o in outs(s)]
    for i, (a, oa) in enumerate(all_outs):
        for b, ob in all_outs[i + 1:]:
            assert not (under(oa, ob) or under(ob, oa)), f"{a}:{oa} overlaps {b}:{ob}"


def test_stage_params_exist(stages, repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    for name, s in stages.items():
        for key in s.get("params", []):
            node = params
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: params key {key} not in params.yaml"
                node = node[part]


@pytest.mark.parametrize("overlay", [None, "config/demo.yaml"])
def test_every_output_belongs_to_one_stage_that_may_run_its_rule(stages, repo_root, tmp_path, overlay):
    copy_workflow(repo_root, tmp_path)
    args = [str(BIN / "snakemake"), "--cores", "1", "--summary"]
    if overlay:
        args += ["--configfile", overlay]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run([*args, "--", "all"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [ln.split("\t") for ln in out.stdout.splitlines()[1:] if "\t" in ln]
    assert len(rows) > 20
    for output_file, _, rule, logs, *_ in rows:
        files = [output_file] + ([lf for lf in logs.split(",") if lf.strip() and lf != "-"])
        for f in files:
            owners = [n for n, s in stages.items() if any(under(f.strip(), o) for o in outs(s))]
            assert len(owners) == 1, f"{f} (rule {rule}) is owned by {owners or 'no stage'}"
            allowed, _ = allowed_rules(stages[owners[0]])
            assert rule in allowed, f"{f}: stage {owners[0]} may not run rule {rule}"


def test_stage_targets_are_allowed(stages):
    for name, s in stages.items():
        allowed, targets = allowed_rules(s)
        for t in targets:
            if "/" not in t:
                assert t in allowed, f"{name}: target rule {t} is not in --allowed-rules"


def test_stage_names_are_the_targets_they_run(stages):
    """`<stage>` runs the Snakemake target `<stage>`, `<stage>@<key>` the target `<stage>_<key>`."""
    for name, s in stages.items():
        _, targets = allowed_rules(s)
        assert targets == [name.replace("@", "_")], f"stage {name} runs targets {targets}"


# ---------------------------------------------------------------- params coverage
def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], node


def _perturbed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 0.1
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list):
        return [*value, value[-1]] if value else [1]
    return 1


def _set(cfg: dict, key: str, value) -> dict:
    import copy

    out = copy.deepcopy(cfg)
    node = out
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return out


def _stage_paths(name: str, cfg: dict) -> list[str]:
    """The digest-carrying paths a stage's rules write, computed by auscult.layout."""
    from auscult import layout

    kind, _, key = name.partition("@")
    if kind == "data":
        return [layout.raw_dir(cfg, key), layout.manifest_path(cfg, key)]
    if kind == "features":
        recipes = {cfg[p]["features"] for p in ("audiofuse", "koike") if p in cfg["papers"]}
        recipes |= set(layout.dataset_recipes(cfg, key))
        return [layout.features_dir(cfg, key, r) for r in sorted(recipes)]
    if kind in ("floor_audiofuse", "floor_koike"):
        paper = kind.removeprefix("floor_")
        return [layout.floor_dir(cfg, paper, s) for s in cfg[paper]["seeds"]]
    if kind == "audiofuse_train":
        return [layout.run_dir(cfg, "audiofuse", key, s) for s in cfg["audiofuse"]["seeds"]]
    if kind == "audiofuse_evaluate":
        return [layout.result_dir(cfg, "audiofuse", key, s) for s in cfg["audiofuse"]["seeds"]]
    if kind == "cross_dataset":
        return [layout.cross_scores(cfg, f) for f in layout.cross_models(cfg)]
    if kind == "koike_train":
        return [layout.run_dir(cfg, "koike", f"{key}_{inp}", s)
                for inp in cfg["koike"]["models"][key]["inputs"] for s in cfg["koike"]["seeds"]]
    return []


def test_stage_params_cover_what_its_rules_read(stages, repo_root):
    """Change any params.yaml value a stage does not declare: the paths its rules write (which
    carry a digest of exactly the slice they read) stay the same, unless an upstream stage
    the stage depends on declares that key (DVC then sees the change through that dep)."""
    from auscult.params import load_params

    base = load_params(repo_root / "params.yaml")

    def declared(stage: dict, key: str) -> bool:
        return any(key == p or key.startswith(p + ".") for p in stage.get("params", []))

    def upstream(name: str) -> list[str]:
        deps = [d for d in stages[name].get("deps", []) if not d.startswith(("workflow/", "src/"))]
        return [n for n, s in stages.items() if n != name
                and any(under(o, d) or under(d, o) for o in outs(s) for d in deps)]

    checked = 0
    for name, stage in stages.items():
        before = _stage_paths(name, base)
        if not before:
            continue
        ups = upstream(name)
        for key, value in _leaves(base):
            if declared(stage, key) or any(declared(stages[u], key) for u in ups):
                continue
            try:
                after = _stage_paths(name, _set(base, key, _perturbed(value)))
            except (KeyError, TypeError, ValueError):
                after = None  # the key shapes the variant set itself; reported below
            assert after == before, f"{name}: its rules read {key}, which the stage does not declare"
            checked += 1
    assert checked > 100


def test_rule_code_inputs_are_stage_deps(stages, repo_root):
    """The modules a rule runs (auscult.codedeps: one list per rule) are deps of every DVC
    stage that may run the rule, so DVC re-runs the stage when that code changes."""
    from auscult import codedeps, layout

    rules = {*codedeps.SHARED, *(f"floor_{p}_run" for p in layout.floor_capable())}
    checked = 0
    for name, stage in stages.items():
        allowed, _ = allowed_rules(stage)
        deps = stage.get("deps", [])
        for rule in sorted(allowed):
            try:
                modules = codedeps.rule_code(rule)
            except KeyError:
                continue  # a target-only rule: it runs no code
            rules.discard(rule)
            for m in modules:
                path = f"src/auscult/{m}.py"
                assert (repo_root / path).is_file(), f"{rule}: {path} does not exist"
                assert any(under(path, d) for d in deps), f"stage {name} runs rule {rule}, whose code {path} is not a dep"
                checked += 1
    assert checked > 50


def test_rules_take_their_code_inputs_from_the_one_list(repo_root):
    files = [*repo_root.glob("workflow/rules/*.smk"), *repo_root.glob("src/auscult/papers/*/rules.smk")]
    assert len(files) > 8
    for f in files:
        assert "src_files(" not in f.read_text(), f"{f}: code inputs come from rule_code(<rule>) (auscult.codedeps)"
