"""Statistics behind the tables' intervals and the claims' verdicts.

- :mod:`auscult.stats.paired`: one model's interval and the paired comparison of two models
  scored on the same recordings, over seeds (test sampling and seed spread together);
- :mod:`auscult.stats.delong`: DeLong's test for two correlated AUCs (the reference the
  paired engine is checked against);
- :mod:`auscult.stats.simulate`: binormal scores with a known AUC difference, for the
  engine's calibration (false-positive rate, power).

numpy and scipy only.
"""
