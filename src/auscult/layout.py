"""Where every artifact lives: paths that carry a digest of the parameters behind them.

Each digest covers the stage's own parameter slice *and* the digests upstream of it, so a
change anywhere in the chain yields new paths downstream and nothing stale is ever reused,
whatever Snakemake's metadata or file timestamps say (a fresh clone or ``dvc pull`` has
neither). Demo, quick and paper outputs have different digests and never collide.

    data/raw/<dataset>/<d>/                       acquired recordings (or synthetic ones)
    data/manifests/<dataset>/<d>.csv              one row per recording
    data/features/<dataset>/<recipe>-<d>/         sharded feature cache
    runs/<paper>/<variant>/<d>/seed<k>/           model, history, training summary
                                                  (Koike: runs/koike/<model>/<input>/<d>/seed<k>/)
    results/<paper>/<variant>/<d>/seed<k>/        metrics.json, predictions.csv
    .checkpoints/<paper>/<variant>/<d>/seed<k>/   resumable last.pt (not versioned)

``paper`` is a top-level key of params.yaml and a name in the paper registry
(:mod:`auscult.papers`); every paper block names its ``train_dataset`` and feature recipe
(``features``). What differs between papers (variants, parameter slices, result folders,
the floor's protocol) is the paper module's; the functions here build the paths from it
and never name a paper. Overview: ``docs/architecture.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from auscult import registry
from auscult.params import digest


def dataset_digest(config: Mapping, dataset: str) -> str:
    """Digest of a dataset's parameter slice *and* of its content (:func:`content_identity`),
    so fixing or changing any file of the source gives new paths from the manifest down."""
    params = config["datasets"][dataset]
    # any generated audio (a synthetic dataset, or ICBHI recordings filled in) carries its
    # generator's version, so a generator change never reuses old audio
    if params["source"] == "synthetic" or params.get("missing_audio") == "synthesise":
        from auscult.datasets.synthetic import generator_version

        params = {**params, "generator_version": generator_version(dataset)}
    if params["source"] == "canonical":
        folder = params.get("kind") == "folder"
        params = {**params, "content": folder_identity(dataset, params) if folder else content_identity(dataset)}
    return digest({"dataset": dataset, **params})


SOURCE_FILE = "SOURCE.json"


def folder_identity(dataset: str, params: Mapping) -> dict:
    """What a ``kind: folder`` dataset holds, known before acquisition and independent of
    where it lies: the sha256 of its ``SHA256SUMS`` when it has one, else of the sorted
    (path, sha256) list of its files (cached per file by mtime and size); without a location
    the identity recorded by the last acquisition (``data/raw/<dataset>/SOURCE.json``)."""
    import hashlib
    import json
    from pathlib import Path

    from auscult.datasets.acquire import MissingFileError
    from auscult.datasets.source import folder_source

    try:
        root = folder_source(dataset, dict(params))
    except MissingFileError:
        recorded = Path("data/raw") / dataset / SOURCE_FILE
        try:
            return json.loads(recorded.read_text())["content"]
        except (ValueError, KeyError, OSError):
            return {"folder": "missing"}
    if not root.is_dir():
        return {"folder": "missing"}
    if (root / "SHA256SUMS").is_file():
        return {"folder_sha256sums": _file_sha(root / "SHA256SUMS"), "folder_files": _listing(root)}
    lines = sorted(f"{p.relative_to(root).as_posix()}\t{_file_sha(p)}" for p in root.rglob("*") if p.is_file())
    return {"folder_content": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def content_identity(dataset: str) -> dict:
    """What the canonical recordings of ``dataset`` are, known before acquisition.

    - ``pins``: the sha256 of the checksums pinned in the package (every copy is verified
      against them when its manifest is built);
    - with ``$AUSCULT_DATA_MIRROR``: the sha256 of the mirror's ``SHA256SUMS`` (which must
      list every file), so a fixed or changed mirror file gives a new dataset digest;
    - without it: the identity recorded by the last acquisition in
      ``data/raw/<dataset>/SOURCE.json`` (a ``dvc pull``ed copy, or one made from a mirror
      that is no longer set), else the canonical archives (URLs and published sha256s; the
      download is verified against the pins, and ``ACQUIRED.json`` records its sha256).
    """
    import json
    import os
    from pathlib import Path

    from auscult.datasets import get_dataset
    from auscult.datasets.acquire import MIRROR_ENV
    from auscult.datasets.pinned import pins_digest

    out: dict = {"pins": pins_digest(dataset)}
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        out["mirror_sha256sums"] = _file_sha(Path(mirror) / dataset / "SHA256SUMS")
        # and which files it holds (names, sizes): a mirror edited without refreshing its
        # SHA256SUMS gets a new copy too, whose verification then names what changed,
        # rather than a rerun on the old copy repeating the old error
        out["mirror_files"] = _listing(Path(mirror) / dataset)
        return out
    recorded = Path("data/raw") / dataset / SOURCE_FILE
    if recorded.is_file():
        try:
            return json.loads(recorded.read_text())["content"]
        except (ValueError, KeyError, OSError):
            pass
    out["archives"] = [[s["url"], s.get("sha256")] for s in get_dataset(dataset).SOURCES]
    return out


_LISTINGS: dict[str, tuple[dict[str, int], str]] = {}


def _listing(root) -> str:
    """sha256 of the sorted (relative path, size) list of ``root``'s files. Cached per
    process while no folder's mtime changes (a file added, removed or renamed)."""
    import hashlib
    import os

    key = str(root)
    cached = _LISTINGS.get(key)
    if cached is not None:
        dirs, value = cached
        try:
            if all(os.stat(d).st_mtime_ns == m for d, m in dirs.items()):
                return value
        except OSError:
            pass
    if not os.path.isdir(root):
        return "missing"
    dirs, lines, stack = {}, [], [key]
    while stack:
        d = stack.pop()
        dirs[d] = os.stat(d).st_mtime_ns
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    lines.append(f"{os.path.relpath(e.path, key)}\t{e.stat().st_size}")
    value = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    _LISTINGS[key] = (dirs, value)
    return value


def _file_sha(path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"  # acquire then fails, naming the file
    return _file_sha_cached(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _file_sha_cached(path: str, mtime_ns: int, size: int) -> str:
    from auscult.audio import sha256_file

    return sha256_file(path)


def raw_dir(config: Mapping, dataset: str) -> str:
    return f"data/raw/{dataset}/{dataset_digest(config, dataset)}"


def manifest_path(config: Mapping, dataset: str) -> str:
    return f"data/manifests/{dataset}/{dataset_digest(config, dataset)}.csv"


def features_digest(config: Mapping, dataset: str, recipe: str) -> str:
    return digest(
        {"data": dataset_digest(config, dataset), "recipe": recipe, "params": config["features"][recipe]}
    )


def features_dir(config: Mapping, dataset: str, recipe: str) -> str:
    return f"data/features/{dataset}/{recipe}-{features_digest(config, dataset, recipe)}"


def paper_features_dir(config: Mapping, paper: str) -> str:
    p = config[paper]
    return features_dir(config, p["train_dataset"], p["features"])


def _paper(name: str):
    """The module of paper ``name`` (:mod:`auscult.registry`; the paper modules build on this
    one and register themselves)."""
    return registry.get(name)


def variants(config: Mapping, paper: str) -> list[str]:
    return _paper(paper).variants(config)


def seeds(config: Mapping, paper: str, variant: str | None = None) -> list[int]:
    """The seeds ``variant`` runs with: the paper's ``seeds``, or the variant's own where the
    paper allows it (e.g. ``audiofuse.variants.<v>.seeds``)."""
    return _paper(paper).seeds(config, variant)


def variant_model_config(config: Mapping, paper: str, variant: str) -> dict:
    return _paper(paper).model_config(config, variant)


def train_slice(config: Mapping, paper: str, variant: str) -> dict:
    """Exactly the parameters a training job of ``variant`` uses (seed excluded): the paper
    module's ``train_slice``."""
    return _paper(paper).train_slice(config, variant)


def train_digest(config: Mapping, paper: str, variant: str) -> str:
    return digest({"features": features_digest(config, config[paper]["train_dataset"], config[paper]["features"]),
                   **train_slice(config, paper, variant)})


def variant_path(config: Mapping, paper: str, variant: str) -> str:
    """``<variant>``, or where the paper nests them (Koike: ``<model>/<input>``, so that one DVC
    stage owns a model's runs on both inputs)."""
    return _paper(paper).variant_path(config, variant)


def run_dir(config: Mapping, paper: str, variant: str, seed: int) -> str:
    return f"runs/{paper}/{variant_path(config, paper, variant)}/{train_digest(config, paper, variant)}/seed{seed}"


def train_job(config: Mapping, paper: str, variant: str) -> str:
    """The training job ``variant``'s runs belong to: the variant itself, unless the paper
    trains several variants in one job (its optional ``train_job(config, variant)``; Koike:
    one job per model trains every input)."""
    hook = getattr(_paper(paper), "train_job", None)
    return variant if hook is None else hook(config, variant)


def train_benchmark(config: Mapping, paper: str, variant: str, seed: int) -> str:
    """The benchmark file of the job that trains ``variant``'s run for ``seed`` (the rule's
    named log ``benchmark``): beside the run folder, or the paper's ``train_job_artifact``."""
    hook = getattr(_paper(paper), "train_job_artifact", None)
    return benchmark_path(run_dir(config, paper, variant, seed) if hook is None else hook(config, variant, seed))


def checkpoint_dir(config: Mapping, paper: str, variant: str, seed: int) -> str:
    """Resumable training state of one run. Kept outside ``runs/`` on purpose: DVC versions
    only final artifacts, so a stage restored from the run cache can never be mixed with a
    stale half-finished checkpoint, and ``dvc push`` never uploads one."""
    return f".checkpoints/{paper}/{variant_path(config, paper, variant)}/{train_digest(config, paper, variant)}/seed{seed}"


def result_dir(config: Mapping, paper: str, variant: str, seed: int) -> str:
    """``results/<paper>/<variant>/<d>/seed<k>``: what the paper's evaluation job writes (the
    digest is the paper's to choose: AudioFuse training + evaluation parameters, AST+SAM the
    training digest). A paper whose training job scores the test part has none."""
    out = _paper(paper).result_dir(config, variant, seed)
    if out is None:
        raise ValueError(f"{paper}: its training jobs write the results (see run_dir)")
    return out


def table_variants(config: Mapping, paper: str) -> list[str]:
    """Variants any table of ``paper`` needs, in first-mention order (Koike tables list
    models; each model brings all its inputs)."""
    return _paper(paper).table_variants(config)


def variant_run_files(config: Mapping, paper: str, variant: str, names: Sequence[str]) -> list[str]:
    """``<run_dir>/<name>`` for every seed of ``variant`` and every name (seed by seed): what
    the variant's aggregate rule, and so its DVC stage, waits for."""
    return [f"{run_dir(config, paper, variant, s)}/{n}" for s in seeds(config, paper, variant) for n in names]


def variant_result_files(config: Mapping, paper: str, variant: str, names: Sequence[str]) -> list[str]:
    """``<result_dir>/<name>`` for every seed of ``variant`` and every name (seed by seed)."""
    return [f"{result_dir(config, paper, variant, s)}/{n}" for s in seeds(config, paper, variant) for n in names]


# ---------------------------------------------------------------- job logs and benchmarks
def _job_file(artifact: str, kind: str, ext: str, depth: int) -> str:
    parts = artifact.rstrip("/").split("/")
    rest = "-".join(parts[depth:])
    for suffix in (".csv", ".json"):
        rest = rest.removesuffix(suffix)
    return f"{'/'.join(parts[:depth])}/{kind}/{rest}.{ext}"


def benchmark_path(artifact: str, depth: int = 3) -> str:
    """The benchmark file of the job that writes ``artifact`` (a folder or file path, or a
    Snakemake pattern of one): inside the folder its DVC stage versions (the first ``depth``
    parts), named by the rest, joined by '-'. ``runs/koike/<m>/<inp>/<d>/seed<k>`` ->
    ``runs/koike/<m>/benchmarks/<inp>-<d>-seed<k>.tsv``; ``data/manifests/<ds>/<d>.csv`` ->
    ``data/manifests/<ds>/benchmarks/<d>.tsv``."""
    return _job_file(artifact, "benchmarks", "tsv", depth)


def log_path(artifact: str, depth: int = 3) -> str:
    """The log file of the job that writes ``artifact`` (as :func:`benchmark_path`, in ``logs/``)."""
    return _job_file(artifact, "logs", "log", depth)


CROSS_DEPTH = 2  # cross-dataset jobs keep their logs and benchmarks in results/cross_dataset/


# ---------------------------------------------------------------- reference floor
FLOOR = "floor"  # the floor's variant name in result paths and tables (no model may use it)


def floor_papers(config: Mapping) -> list[str]:
    """Papers whose tables get the reference-floor row: ``floor.papers`` that are enabled."""
    return [p for p in config["floor"]["papers"] if p in config["papers"]]


def floor_datasets(config: Mapping, paper: str) -> list[str]:
    return _paper(paper).datasets(config)


def floor_slice(config: Mapping, paper: str) -> dict:
    """Exactly the parameters one floor job of ``paper`` reads (seed excluded): the selected
    classifier's settings, and the paper's own split, caps and decision rule."""
    f, p = config["floor"], config[paper]
    kind = f["model"]["kind"]
    out = {"model": {"kind": kind, kind: f["model"][kind], "class_weight": f["class_weight"]},
           "split": p["split"], "max_train_records": p["max_train_records"]}
    out.update(_paper(paper).floor_protocol(config))
    return out


def floor_digest(config: Mapping, paper: str) -> str:
    recipe = config["floor"]["features"]
    return digest({"features": [features_digest(config, ds, recipe) for ds in floor_datasets(config, paper)],
                   **floor_slice(config, paper)})


def floor_dir(config: Mapping, paper: str, seed: int) -> str:
    """Where the paper's floor job writes what its own jobs write (AudioFuse:
    ``results/audiofuse/floor/<d>/seed<k>``, as evaluation; Koike:
    ``runs/koike/floor/<recipe>/<d>/seed<k>``, as training)."""
    return _paper(paper).floor_dir(config, floor_digest(config, paper), seed)


def floor_capable() -> list[str]:
    """Registered papers whose module names a ``FLOOR`` function (rule ``floor_<name>_run``)."""
    return [n for n, m in registry.REGISTRY.items() if getattr(m, "FLOOR", None)]


def floor_template(config: Mapping, paper: str) -> str:
    """The floor folder of ``paper`` with ``{dig}`` and ``{seed}`` wildcards (its rule's outputs)."""
    return _paper(paper).floor_dir(config, "{dig}", "{seed}")


def floor_code(paper: str) -> list[str]:
    """The code a floor job of ``paper`` runs: the shared floor (``src/auscult/<m>.py`` as
    ``<m>``), and the paper's floor and protocol: a built-in paper's ``papers/<name>/floor`` and
    ``papers/<name>/train``; an external paper's files (paths ending ``.py``) of the modules its
    ``FLOOR`` and ``PROTOCOL`` (else ``TRAIN``) name."""
    out = ["training/floor", "evaluation/metrics", "splits", "features/store"]
    module = _paper(paper)
    if registry.is_builtin(module):
        return [*out, f"papers/{paper}/floor", f"papers/{paper}/train"]
    import importlib.util

    for attr in ("FLOOR", "PROTOCOL" if getattr(module, "PROTOCOL", None) else "TRAIN"):
        spec = getattr(module, attr, None)
        found = importlib.util.find_spec(spec.partition(":")[0]) if isinstance(spec, str) else None
        if found is not None and found.origin and found.origin not in out:
            out.append(found.origin)
    return out


def floor_seed_files(config: Mapping, paper: str, names: Sequence[str]) -> list[str]:
    """``<floor_dir>/<name>`` for every seed of ``paper`` and every name (seed by seed); none
    when the paper's floor is off."""
    if paper not in floor_papers(config):
        return []
    return [f"{floor_dir(config, paper, s)}/{n}" for s in config[paper]["seeds"] for n in names]


def _enabled(config: Mapping):
    return registry.enabled(config)


def dataset_recipes(config: Mapping, dataset: str) -> list[str]:
    """Feature recipes of ``dataset`` that the enabled papers (and their floors) use."""
    out = []
    for paper in _enabled(config):
        p = config[paper.NAME]
        if dataset in (p["train_dataset"], p.get("transfer_dataset")):
            out.append(p["features"])
    if any(dataset in floor_datasets(config, p) for p in floor_papers(config)):
        out.append(config["floor"]["features"])
    if dataset in cross_datasets(config):  # targets of the cross-dataset table
        out += [cross_recipe(config, f) for f in cross_models(config)]
    return list(dict.fromkeys(out))


def dataset_features_dirs(config: Mapping, dataset: str) -> list[str]:
    """The feature caches of ``dataset`` that the enabled papers (and their floors) use."""
    return [features_dir(config, dataset, recipe) for recipe in dataset_recipes(config, dataset)]


# ---------------------------------------------------------------- cross-dataset table
def cross_families() -> list[str]:
    """Every model family the cross-dataset table can score: each paper whose module says
    ``CROSS_FAMILY``, and the reference floor (fitted under the protocol of the paper whose
    module says ``CROSS_FLOOR``)."""
    return [n for n, m in registry.REGISTRY.items() if getattr(m, "CROSS_FAMILY", False)] + [FLOOR]


def cross_floor_paper() -> str:
    """The paper under whose protocol the floor the cross-dataset table scores was fitted."""
    return next(n for n, m in registry.REGISTRY.items() if getattr(m, "CROSS_FLOOR", False))


def cross_targets(config: Mapping) -> list[tuple[str, str, str]]:
    """(target, dataset, subset) of every ``cross_dataset.targets`` entry (subset '' = all)."""
    out = []
    for t in config["cross_dataset"]["targets"]:
        ds, _, subset = t.partition("/")
        out.append((t, ds, subset))
    return out


def cross_models(config: Mapping) -> list[str]:
    """The model families of ``cross_dataset.models`` whose models this config trains."""
    on = {f: f in config["papers"] for f in cross_families()}
    on[FLOOR] = cross_floor_paper() in floor_papers(config)
    return [m for m in config["cross_dataset"]["models"] if on[m]]


def cross_recipe(config: Mapping, family: str) -> str:
    return config["floor"]["features"] if family == FLOOR else config[family]["features"]


def cross_datasets(config: Mapping) -> list[str]:
    return list(dict.fromkeys(ds for _, ds, _ in cross_targets(config))) if cross_models(config) else []


def cross_runs(config: Mapping, family: str) -> list[tuple[str, int, str]]:
    """(variant, seed, folder) of every run of ``family`` the table scores (the paper
    module's ``cross_variants``, e.g. AudioFuse T1 variants and every Koike table variant:
    their run folders, with model card), the floor's per-seed result folders."""
    if family == FLOOR:
        host = cross_floor_paper()
        return [(FLOOR, s, floor_dir(config, host, s)) for s in config[host]["seeds"]]
    variants = _paper(family).cross_variants(config)
    return [(v, s, run_dir(config, family, v, s)) for v in variants for s in seeds(config, family, v)]


def cross_slice(config: Mapping, family: str) -> dict:
    """The parameters a cross-dataset job of ``family`` reads (besides its runs)."""
    out = {"targets": config["cross_dataset"]["targets"]}
    if config["cross_dataset"].get("max_records") is not None:  # a rehearsal's cap; absent otherwise
        out["max_records"] = config["cross_dataset"]["max_records"]
    if family == FLOOR:
        out["floor"] = floor_slice(config, cross_floor_paper())
    else:
        out.update(_paper(family).cross_slice(config))
    return out


def cross_digest(config: Mapping, family: str) -> str:
    recipe = cross_recipe(config, family)
    runs = [r[2] for r in cross_runs(config, family)]
    return digest({"runs": runs, "recipe": recipe,
                   "targets": {ds: features_digest(config, ds, recipe) for ds in cross_datasets(config)},
                   **cross_slice(config, family)})


def cross_scores(config: Mapping, family: str) -> str:
    """``results/cross_dataset/<family>/<d>/scores.csv``."""
    return f"results/cross_dataset/{family}/{cross_digest(config, family)}/scores.csv"


def dataset_used(config: Mapping, dataset: str) -> bool:
    """Whether anything enabled reads ``dataset`` (an unused folder dataset is never acquired)."""
    if dataset in cross_datasets(config):
        return True
    return any(dataset in (config[p.NAME]["train_dataset"], config[p.NAME].get("transfer_dataset"))
               for p in _enabled(config))
