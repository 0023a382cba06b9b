"""`make install` fills librosa's numba cache by running every feature recipe once."""

from auscult.features import warmup
from auscult.params import load_params


def test_warmup_runs_every_recipe_of_params():
    seconds = warmup.warm("params.yaml")
    assert set(seconds) == set(load_params("params.yaml")["features"])
    assert all(s >= 0 for s in seconds.values())
