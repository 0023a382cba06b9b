"""Claims get verdicts from the tables' own intervals; synthetic data never confirm one."""

import pandas as pd
import pytest

from auscult.reporting import claims
from auscult.reporting.tables import LONG_COLUMNS

CTX = {"data": "real", "weights": "scratch", "budget": "cpu"}


def frame(table, rows, metric="auc", protocol="test"):
    """rows: {variant: (mean, ci_low, ci_high)}."""
    recs = [{"table": table, "row": v, "variant": v, "metric": metric, "protocol": protocol, "mean": m,
             "std": 0.0, "n_seeds": 2, "ci_low": lo, "ci_high": hi, "paper": None, "delta": None, **CTX}
            for v, (m, lo, hi) in rows.items()]
    return pd.DataFrame(recs, columns=LONG_COLUMNS)


ORDER = {"id": "o", "claim": "a > b > c", "kind": "order", "table": "t", "metric": "auc", "protocol": "test",
         "variants": ["a", "b", "c"]}


@pytest.mark.parametrize("rows, verdict", [
    ({"a": (0.9, 0.85, 0.95), "b": (0.8, 0.75, 0.84), "c": (0.6, 0.55, 0.65)}, "holds"),
    ({"a": (0.9, 0.85, 0.95), "b": (0.8, 0.70, 0.86), "c": (0.6, 0.55, 0.65)}, "inconclusive"),
    ({"a": (0.6, 0.55, 0.65), "b": (0.8, 0.75, 0.84), "c": (0.5, 0.45, 0.52)}, "does not hold"),
    ({"a": (0.9, 0.85, 0.95), "b": (0.8, 0.75, 0.84)}, "inconclusive"),  # row c missing
])
def test_order_verdicts(rows, verdict):
    out = claims.evaluate({"t": frame("t", rows)}, {"p": [ORDER]})
    assert out["verdict"].tolist() == [verdict]


def test_synthetic_data_confirm_nothing():
    f = frame("t", {"a": (0.9, 0.85, 0.95), "b": (0.8, 0.75, 0.84), "c": (0.6, 0.55, 0.65)})
    f["data"] = "synthetic"
    out = claims.evaluate({"t": f}, {"p": [ORDER]})
    assert out["verdict"].tolist() == ["inconclusive"] and "synthetic" in out["evidence"][0]


def test_best_majority_and_floor():
    rows = {"a_logmel": (80, 75, 85), "a_linear": (60, 55, 65), "b_logmel": (70, 60, 80),
            "b_linear": (72, 62, 82), "floor_floor_stats": (65, 62, 68)}
    f = frame("t4", rows, metric="uar_%", protocol="log-mel")
    spec = {"p": [
        {"id": "best", "claim": "", "kind": "best", "table": "t4", "metric": "uar_%", "protocol": None,
         "variant": "a_logmel"},
        {"id": "maj", "claim": "", "kind": "majority", "table": "t4", "metric": "uar_%", "protocol": None,
         "pairs": [["a_logmel", "a_linear"], ["b_logmel", "b_linear"]]},
        {"id": "floor", "claim": "", "kind": "beats_floor", "table": "t4", "metric": "uar_%", "protocol": None},
    ]}
    out = claims.evaluate({"t4": f}, spec).set_index("id")["verdict"]
    # a_logmel vs b_linear: 75 > 82 fails to separate -> inconclusive; 1 of 2 pairs -> inconclusive
    assert out.to_dict() == {"best": "inconclusive", "maj": "inconclusive", "floor": "holds"}


def test_cells_without_ci_use_seed_spread_and_one_seed_is_inconclusive():
    f = frame("t", {"a": (-10.0, None, None), "b": (-30.0, None, None)}, metric="rel")
    f["std"] = [1.0, 1.0]
    spec = {"p": [{"id": "x", "claim": "", "kind": "best", "table": "t", "metric": "rel", "protocol": "test",
                   "variant": "a"}]}
    assert claims.evaluate({"t": f}, spec)["verdict"].tolist() == ["holds"]
    f["n_seeds"] = 1
    assert claims.evaluate({"t": f}, spec)["verdict"].tolist() == ["inconclusive"]


def test_shipped_claims_parse_and_name_real_tables(tmp_path):
    from auscult.reporting.tables import paper_values

    spec = claims.load_claims()
    tables = set(paper_values())
    assert {"audiofuse", "koike", "ast_sam"} <= set(spec)
    for paper_claims in spec.values():
        for c in paper_claims:
            assert c["table"] in tables, c["id"]
    out = claims.evaluate({}, spec)
    assert out.empty  # no table built: nothing claimed either way
    claims.write_claims(claims.evaluate({"t": frame("t", {"a": (0.9, 0.85, 0.95), "b": (0.8, 0.7, 0.84),
                                                          "c": (0.6, 0.5, 0.65)})}, {"p": [ORDER]}),
                        tmp_path / "c.md", tmp_path / "c.csv")
    assert "**holds**" in (tmp_path / "c.md").read_text()
    assert pd.read_csv(tmp_path / "c.csv")["verdict"].tolist() == ["holds"]


def test_bad_claim_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("p:\n  - {id: x, claim: y, kind: sideways, table: t, metric: auc}\n")
    with pytest.raises(ValueError, match="kind must be one of"):
        claims.load_claims(p)


def test_rows_with_different_seed_counts_are_inconclusive():
    """T3 at a CPU budget: extra rows run fewer seeds than the T1 row they are compared with."""
    f = frame("t", {"a": (0.9, 0.85, 0.95), "b": (0.8, 0.75, 0.84), "c": (0.6, 0.55, 0.65)})
    assert claims.evaluate({"t": f}, {"p": [ORDER]})["verdict"].tolist() == ["holds"]
    f.loc[f["variant"] != "a", "n_seeds"] = 1
    out = claims.evaluate({"t": f}, {"p": [ORDER]})
    assert out["verdict"].tolist() == ["inconclusive"] and "different numbers of seeds" in out["evidence"][0]


def test_cells_over_fewer_seeds_say_so():
    from auscult.reporting.tables import render_markdown

    f = frame("t", {"a": (0.9, 0.85, 0.95), "b": (0.8, 0.75, 0.84)})
    f.loc[f["variant"] == "b", "n_seeds"] = 1
    md = render_markdown(f, title="t", notes=[], provenance={})
    assert "0.800 [0.750, 0.840] (1 seed)" in md and "0.900" in md and "0.900 [0.850, 0.950] (" not in md
    assert "over fewer" in md


def test_evidence_shows_fractions_with_3_decimals_and_percentages_with_1():
    from auscult.reporting.claims import Interval
    from auscult.reporting.tables import metric_digits

    assert metric_digits("auc") == 3 and metric_digits("mcc") == 3 and metric_digits("f1") == 3
    assert metric_digits("uar_%") == 1 and metric_digits("rel_change_%") == 1 and metric_digits("Score_any") == 1
    assert Interval("v", "AudioFuse", 0.8, 0.7491, 0.8444, decimals=3).text() == "AudioFuse 0.800 [0.749, 0.844]"
    assert Interval("v", "CNN14", 71.06, 62.6, 79.0, decimals=1).text() == "CNN14 71.1 [62.6, 79.0]"
    assert Interval("v", "AST", 50.0, None, None, decimals=1).text() == "AST 50.0 (no interval)"
