"""Claims are tested paired, on the rows' own predictions, after their premises: a failed
premise reads 'not testable here', never 'does not hold'."""

import numpy as np
import pandas as pd
import pytest

from auscult.reporting import claims
from auscult.reporting.tables import LONG_COLUMNS
from auscult.stats.paired import Runs
from auscult.stats.simulate import simulate_pair

CTX = {"data": "real", "weights": "scratch", "budget": "cpu"}
ORDER = {"id": "o", "claim": "a > b > c", "kind": "order", "table": "t", "metric": "auc", "protocol": "test",
         "variants": ["a", "b", "c"], "premises": {"weights": "scratch"}}
BOOT = {"n_boot": 400, "seed": 0, "alpha": 0.05}


def frame(variants, ctx=CTX, metric="auc", paper=None):
    recs = [{"table": "t", "row": v, "variant": v, "metric": metric, "protocol": "test", "mean": 0.0,
             "std": float("nan"), "n_seeds": 3, "ci_low": None, "ci_high": None,
             "paper": (paper or {}).get(v), "delta": None, **ctx, "flag": ""} for v in variants]
    return pd.DataFrame(recs, columns=LONG_COLUMNS)


def runs_for(aucs, n_seeds=3, n_records=301, seed=0):
    """{variant: {'test': Runs}} with the given AUCs, all on the same recordings."""
    rng = np.random.default_rng(seed)
    names = list(aucs)
    base, _ = simulate_pair(rng, n_records=n_records, auc_a=0.7, n_seeds=n_seeds)
    out = {}
    for v in names:
        a, _ = simulate_pair(np.random.default_rng([seed, len(out)]), n_records=n_records, auc_a=aucs[v],
                             n_seeds=n_seeds, rho=0.6)
        out[v] = {"test": Runs(base.record_ids, base.labels, a.scores, np.full(n_seeds, 0.0))}
    return out


def run(claim, runs, ctx=CTX, budgets=None, **kw):
    out = claims.evaluate({"t": frame(list(runs), ctx, **kw)}, {"p": [claim]}, {"t": runs}, {"t": budgets or {}},
                          boot=BOOT)
    return out.iloc[0]


@pytest.mark.parametrize("aucs, n, verdict", [
    ({"a": 0.93, "b": 0.80, "c": 0.62}, 301, "holds"),
    ({"a": 0.62, "b": 0.80, "c": 0.55}, 301, "does not hold"),
    ({"a": 0.80, "b": 0.80, "c": 0.62}, 60, "inconclusive"),  # a = b, on few recordings
])
def test_order_verdicts_are_paired_and_say_their_budget(aucs, n, verdict):
    line = run(ORDER, runs_for(aucs, n_records=n))
    assert line["verdict"] == f"{verdict} at budget cpu"
    assert pd.notna(line["effect"]) and pd.notna(line["mde"]) and line["premises"]
    if verdict == "inconclusive":
        assert "detects Δ ≥" in line["reason"]


def test_a_failed_premise_is_not_testable_never_does_not_hold():
    r = runs_for({"a": 0.55, "b": 0.95, "c": 0.50})  # would read 'does not hold'
    pre = run({**ORDER, "premises": {"weights": "pretrained"}}, r)
    assert pre["verdict"] == "not testable here" and "pretrained weights" in pre["reason"]
    syn = run(ORDER, r, ctx={**CTX, "data": "synthetic"})
    assert syn["verdict"] == "not testable here" and "real data" in syn["reason"]
    one = run(ORDER, runs_for({"a": 0.55, "b": 0.95, "c": 0.50}, n_seeds=1))
    assert one["verdict"] == "not testable here" and ">= 3 seeds" in one["reason"]
    budgets = {"a": {"max_epochs": 2, "max_train_records": None}, "b": {"max_epochs": 6, "max_train_records": None},
               "c": {"max_epochs": 2, "max_train_records": None}}
    unmatched = run(ORDER, r, budgets=budgets)
    assert unmatched["verdict"] == "not testable here" and "matched training budgets" in unmatched["reason"]


def test_constant_predictors_and_identical_rows():
    r = runs_for({"a": 0.9, "b": 0.8, "c": 0.6})
    c = r["c"]["test"]
    r["c"]["test"] = Runs(c.record_ids, c.labels, np.ones_like(c.scores), c.thresholds)
    assert "constant predictor" in run(ORDER, r)["reason"]
    twin = runs_for({"a": 0.9, "b": 0.6})
    twin["b2"] = twin["b"]
    best = {"id": "b", "claim": "a best", "kind": "best", "table": "t", "metric": "auc", "protocol": "test",
            "variant": "a", "premises": {"weights": "scratch"}}
    line = run(best, twin)
    assert line["n_comparisons"] == 1 and "b2 merged with b" in line["evidence"]


def test_transfer_claims_need_in_domain_competence():
    r = runs_for({"a": 0.8, "b": 0.7})
    claim = {"id": "x", "claim": "a transfers best", "kind": "best", "table": "t", "metric": "auc",
             "protocol": "test", "variant": "a",
             "premises": {"weights": "scratch", "in_domain": {"table": "t1", "protocol": "test"}}}
    weak = runs_for({"a": 0.9, "b": 0.5}, seed=3)
    out = claims.evaluate({"t": frame(list(r))}, {"p": [claim]}, {"t": r, "t1": weak}, boot=BOOT).iloc[0]
    assert out["verdict"] == "not testable here" and "in-domain competence" in out["reason"] and "b AUC" in out["reason"]
    good = runs_for({"a": 0.9, "b": 0.85}, seed=3)
    out = claims.evaluate({"t": frame(list(r))}, {"p": [claim]}, {"t": r, "t1": good}, boot=BOOT).iloc[0]
    assert out["verdict"] != "not testable here"


def test_beats_floor_uses_the_designated_model_not_the_best_row():
    r = runs_for({"paper_model": 0.62, "other": 0.95, "floor": 0.85})
    claim = {"id": "f", "claim": "beats floor", "kind": "beats_floor", "table": "t", "metric": "auc",
             "protocol": "test", "variant": "paper_model", "premises": {"weights": "scratch"}}
    line = run(claim, r)
    assert line["verdict"] == "does not hold at budget cpu"
    assert "paper_model − floor" in line["evidence"] and "other" not in line["evidence"]


def test_holm_and_the_paper_gap():
    assert claims.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    line = run(ORDER, runs_for({"a": 0.80, "b": 0.80, "c": 0.62}, n_records=60),
               paper={"a": 0.861, "b": 0.822, "c": 0.807})
    assert line["verdict"].startswith("inconclusive") and "the paper reports +0.039" in line["reason"]


def test_shipped_claims_parse_with_premises(tmp_path):
    from auscult.reporting.tables import paper_values

    spec = claims.load_claims()
    tables = set(paper_values())
    for paper_claims in spec.values():
        for c in paper_claims:
            assert c["table"] in tables, c["id"]
            assert c.get("premises", {}).get("weights") in ("scratch", "pretrained"), c["id"]
    t2 = [c for c in spec["audiofuse"] if c["table"] == "audiofuse_t2_pascal"]
    assert t2 and all(c["metric"] == "retention_within" and c["premises"]["in_domain"] for c in t2)
    assert claims.evaluate({}, spec).empty  # no table built: nothing claimed either way
    out = claims.evaluate({"t": frame(["a", "b", "c"])}, {"p": [ORDER]},
                          {"t": runs_for({"a": 0.9, "b": 0.8, "c": 0.6})}, boot=BOOT)
    claims.write_claims(out, tmp_path / "c.md", tmp_path / "c.csv")
    back = pd.read_csv(tmp_path / "c.csv")
    assert {"reason", "premises", "mde", "effect", "ci_low", "ci_high", "p_value"} <= set(back.columns)
    md = (tmp_path / "c.md").read_text()
    assert "not testable here" in md and "Holm" in md


def test_unknown_premise_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("p:\n  - {id: x, claim: c, kind: order, table: t, metric: auc, variants: [a, b], "
                 "premises: {wieghts: scratch}}\n")
    with pytest.raises(ValueError, match="unknown premise"):
        claims.load_claims(p)
    p.write_text("p:\n  - {id: x, claim: c, kind: order, table: t, metric: auc, variants: [a, b], "
                 "premises: [scratch]}\n")
    with pytest.raises(ValueError, match="premises must be a mapping"):
        claims.load_claims(p)


def test_percent_metrics_and_a_null_protocol():
    """Koike-style rows: each variant has one input (its protocol), UAR in percent at 0.5."""
    r = runs_for({"m_logmel": 0.95, "m_linear": 0.6})
    r = {v: {("log-mel" if v.endswith("logmel") else "spectrogram"): rr["test"]} for v, rr in r.items()}
    claim = {"id": "k", "claim": "log-mel wins", "kind": "majority", "table": "t", "metric": "uar_%",
             "protocol": None, "pairs": [["m_logmel", "m_linear"]], "premises": {"weights": "scratch"}}
    line = claims.evaluate({"t": frame(list(r), metric="uar_%")}, {"p": [claim]}, {"t": r}, boot=BOOT).iloc[0]
    assert line["verdict"] == "holds at budget cpu"
    assert 1 < line["effect"] < 100  # percentage points, not a fraction
