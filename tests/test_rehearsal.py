"""The rehearsal budget (config/rehearsal.yaml) is the paper budget with only optimizer steps,
evaluation records and seeds capped: every other key of the merged config equals params.yaml,
and the tables' footers list exactly those deviations."""

from __future__ import annotations

import re

import pytest

from auscult import forecast, layout
from auscult.params import deep_merge, load_params, read_yaml
from auscult.reporting.provenance import deviations, flatten, paper_prefixes

PAPERS = ("audiofuse", "koike", "ast_sam")
# The key paths the rehearsal may change (dotted, as in the table footers) and how
ALLOWED = {
    r"budget": "label",
    r"(audiofuse|koike|ast_sam)\.seeds": "seeds",
    r"(audiofuse|koike|ast_sam)\.(.+\.)?training\.max_steps": "steps",
    r"(koike|audiofuse)\.max_eval_records": "records",
    r"cross_dataset\.max_records": "records",
    r"ast_sam\.split\.max_(val|test)_cycles": "records",
}


def kind_of(key: str) -> str | None:
    return next((kind for pattern, kind in ALLOWED.items() if re.fullmatch(pattern, key)), None)


def not_a_cap(base: dict, merged: dict) -> list[str]:
    """Every key where ``merged`` differs from ``base`` other than by a cap on steps,
    evaluation records or seeds (a smaller non-empty subset of the seeds, a lower record cap,
    a step cap where there was none)."""
    a, b = flatten(base), flatten(merged)
    bad = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "∅") == b.get(key, "∅"):
            continue
        kind, was, now = kind_of(key), a.get(key), b.get(key)
        ok = {
            "label": key == "budget" and now == "rehearsal",
            "seeds": isinstance(now, list) and 0 < len(now) < len(was or []) and set(now) <= set(was or []),
            "steps": key not in a and isinstance(now, int) and now > 0,
            "records": isinstance(now, int) and now > 0 and (was is None or now < was),
        }.get(kind, False)
        if not ok:
            bad.append(f"{key}: {was!r} -> {now!r}")
    return bad


@pytest.fixture(scope="module")
def base(repo_root):
    return load_params(repo_root / "params.yaml")


@pytest.fixture(scope="module")
def rehearsal(repo_root):
    return load_params(repo_root / "params.yaml", [repo_root / "config" / "rehearsal.yaml"])


def test_rehearsal_changes_only_steps_evaluation_records_and_seeds(base, rehearsal):
    assert rehearsal["budget"] == "rehearsal"
    assert not_a_cap(base, rehearsal) == []
    for paper in PAPERS:  # every paper is capped: one seed, a step cap on every training block
        assert len(rehearsal[paper]["seeds"]) == 1
        assert rehearsal[paper]["training"]["max_steps"] > 0
    assert rehearsal["audiofuse"]["head_retrain"]["training"]["max_steps"] > 0


@pytest.mark.parametrize("change", [
    {"audiofuse": {"training": {"batch_size": 16}}},            # a batch size
    {"koike": {"training": {"max_epochs": 1}}},                 # a schedule
    {"audiofuse": {"model": {"wave_cnn": {"stride": 4}}}},      # an architecture
    {"features": {"koike": {"clip_seconds": 10.0}}},            # an input recipe
    {"koike": {"max_train_records": 64}},                       # training records
    {"ast_sam": {"split": {"max_train_cycles": 100}}},          # training records
    {"audiofuse": {"seeds": [7]}},                              # a seed the paper does not run
    {"audiofuse": {"head_retrain": {"seed": 7}}},               # a split
    {"audiofuse": {"evaluation": {"bootstrap": {"n_boot": 10}}}},  # the protocol
])
def test_the_check_fails_on_any_other_change(repo_root, base, change):
    overlay = deep_merge(read_yaml(repo_root / "config" / "rehearsal.yaml"), change)
    merged = deep_merge(read_yaml(repo_root / "params.yaml"), overlay)
    assert not_a_cap(base, merged), change


def test_footers_list_exactly_the_caps(base, rehearsal, repo_root):
    overlay = flatten(read_yaml(repo_root / "config" / "rehearsal.yaml"))
    for paper in PAPERS:
        datasets = [rehearsal[paper]["train_dataset"]]
        got = deviations(rehearsal, base, paper_prefixes(rehearsal, paper, datasets))
        keys = [d.split(":", 1)[0] for d in got]
        want = sorted(["budget", *(k for k in overlay if k.startswith(paper + "."))])
        assert keys == want, paper
        assert all(kind_of(k) for k in keys)
    assert "budget: paper → rehearsal" in got
    assert "ast_sam.training.max_steps: ∅ → 2" in got


def test_same_shapes_models_and_batches_as_the_paper(base, rehearsal):
    for paper in PAPERS:
        assert forecast.input_shapes(rehearsal, paper) == forecast.input_shapes(base, paper)
        assert layout.paper_features_dir(rehearsal, paper) == layout.paper_features_dir(base, paper)
        assert layout.variants(rehearsal, paper) == layout.variants(base, paper)
        assert layout.table_variants(rehearsal, paper) == layout.table_variants(base, paper)
        for v in layout.variants(base, paper):
            a, b = layout.train_slice(base, paper, v), layout.train_slice(rehearsal, paper, v)
            assert b["model"] == a["model"]
            assert {k: x for k, x in b["training"].items() if k != "max_steps"} == a["training"]
            # the cap is part of a run's identity: its artifacts never mix with the paper's
            assert layout.train_digest(rehearsal, paper, v) != layout.train_digest(base, paper, v)
    assert layout.raw_dir(rehearsal, "physionet2016") == layout.raw_dir(base, "physionet2016")


def test_make_rehearsal_runs_the_overlay(repo_root):
    text = (repo_root / "Makefile").read_text()
    rule = re.search(r"^rehearsal: install\n\t(.+)$", text, re.M)
    assert rule and "--configfile config/rehearsal.yaml" in rule.group(1) and "snakemake" in rule.group(1)
    assert re.search(r"^\.PHONY:.*\brehearsal\b", text, re.M)


def test_a_capped_evaluation_says_so_in_the_audiofuse_tables(base, rehearsal):
    """The AudioFuse notes name the uncapped protocol's counts (301 test, 585 PASCAL); a budget
    that caps the evaluation records gets a note saying they are subsamples, others do not."""
    from auscult.papers import audiofuse
    from auscult.papers.audiofuse.tables import cap_note

    assert "max_eval_records" not in audiofuse.table_params(base)
    assert audiofuse.table_params(rehearsal)["max_eval_records"] == 64
    assert "at most 64 recordings" in cap_note(64) and "audiofuse.max_eval_records = 64" in cap_note(64)


@pytest.mark.parametrize("change, key", [
    ({"audiofuse": {"max_eval_records": 4}}, "audiofuse.max_eval_records"),  # too few for the PASCAL carve
    ({"cross_dataset": {"max_records": 1}}, "max_records"),                  # one record cannot hold both classes
])
def test_a_record_cap_too_small_for_the_splits_fails_at_configuration(repo_root, tmp_path, change, key):
    from auscult.params import ParamsError

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(__import__("yaml").safe_dump(change))
    with pytest.raises(ParamsError, match=key):
        load_params(repo_root / "params.yaml", [repo_root / "config" / "rehearsal.yaml", overlay])
