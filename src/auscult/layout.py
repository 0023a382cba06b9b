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

``paper`` is a top-level key of params.yaml (``audiofuse``, ``koike``); every paper block
names its ``train_dataset`` and feature recipe (``features``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from auscult.params import digest, koike_model_config, koike_variants, model_config

PAPERS = ("audiofuse", "koike", "ast_sam")


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


def variants(config: Mapping, paper: str) -> list[str]:
    p = config[paper]
    return list(koike_variants(p)) if paper == "koike" else list(p["variants"])


def seeds(config: Mapping, paper: str, variant: str | None = None) -> list[int]:
    """The seeds ``variant`` runs with: the paper's ``seeds``, or the AudioFuse variant's own
    (``audiofuse.variants.<v>.seeds``, e.g. fewer for T3's extra rows at a CPU budget)."""
    p = config[paper]
    if paper == "audiofuse" and variant in p["variants"]:
        return list((p["variants"][variant] or {}).get("seeds", p["seeds"]))
    return list(p["seeds"])


def variant_model_config(config: Mapping, paper: str, variant: str) -> dict:
    p = config[paper]
    if paper == "ast_sam":
        return ast_sam_slice(p, variant)["model"]
    return koike_model_config(p, variant) if paper == "koike" else model_config(p, variant)


def ast_sam_slice(paper_cfg: Mapping, variant: str) -> dict:
    """{model, training, split} of an AST+SAM variant (its overrides deep-merged)."""
    from auscult.params import ParamsError, deep_merge

    try:
        overrides = paper_cfg["variants"][variant] or {}
    except KeyError:
        raise ParamsError(f"unknown ast_sam variant {variant!r}; defined: {sorted(paper_cfg['variants'])}") from None
    return {"model": deep_merge(paper_cfg["model"], overrides.get("model", {})),
            "training": deep_merge(paper_cfg["training"], overrides.get("training", {})),
            "split": paper_cfg["split"]}


def train_slice(config: Mapping, paper: str, variant: str) -> dict:
    """Exactly the parameters a training job of ``variant`` uses (seed excluded)."""
    p = config[paper]
    if paper == "ast_sam":
        return ast_sam_slice(p, variant)
    training = p["training"]
    from auscult.params import deep_merge

    max_train = p["max_train_records"]
    if paper == "koike":  # a model may override training settings (e.g. its own lr) and its train cap
        spec = p["models"][koike_variants(p)[variant][0]]
        training = deep_merge(training, spec.get("training", {}))
        max_train = spec.get("max_train_records", max_train)
    elif paper == "audiofuse":  # so may a variant (e.g. more epochs for the ViT)
        training = deep_merge(training, (p["variants"][variant] or {}).get("training", {}))
    out = {
        "model": variant_model_config(config, paper, variant),
        "training": training,
        "split": p["split"],
        "max_train_records": max_train,
    }
    if paper == "koike":
        out.update(max_eval_records=p["max_eval_records"], weights=p["weights"])
    return out


def train_digest(config: Mapping, paper: str, variant: str) -> str:
    return digest({"features": features_digest(config, config[paper]["train_dataset"], config[paper]["features"]),
                   **train_slice(config, paper, variant)})


def variant_path(config: Mapping, paper: str, variant: str) -> str:
    """``<variant>``; Koike variants nest as ``<model>/<input>`` so that one DVC stage owns a
    model's runs on both inputs (``runs/koike/<model>``)."""
    if paper == "koike":
        model, inp = koike_variants(config["koike"])[variant]
        return f"{model}/{inp}"
    return variant


def run_dir(config: Mapping, paper: str, variant: str, seed: int) -> str:
    return f"runs/{paper}/{variant_path(config, paper, variant)}/{train_digest(config, paper, variant)}/seed{seed}"


def checkpoint_dir(config: Mapping, paper: str, variant: str, seed: int) -> str:
    """Resumable training state of one run. Kept outside ``runs/`` on purpose: DVC versions
    only final artifacts, so a stage restored from the run cache can never be mixed with a
    stale half-finished checkpoint, and ``dvc push`` never uploads one."""
    return f".checkpoints/{paper}/{variant_path(config, paper, variant)}/{train_digest(config, paper, variant)}/seed{seed}"


def eval_slice(config: Mapping) -> dict:
    """The AudioFuse evaluation parameters (Koike runs score their test part at training)."""
    p = config["audiofuse"]
    return {"evaluation": p["evaluation"], "head_retrain": p["head_retrain"], "split": p["split"]}


def eval_digest(config: Mapping, variant: str) -> str:
    p = config["audiofuse"]
    return digest(
        {
            "train": train_digest(config, "audiofuse", variant),
            "transfer": features_digest(config, p["transfer_dataset"], p["features"]),
            **eval_slice(config),
        }
    )


def result_dir(config: Mapping, variant: str, seed: int, paper: str = "audiofuse") -> str:
    """AudioFuse: digest of training + evaluation parameters. AST+SAM evaluation has no
    parameters of its own: its results sit under the training digest."""
    if paper == "ast_sam":
        return f"results/ast_sam/{variant}/{train_digest(config, paper, variant)}/seed{seed}"
    return f"results/audiofuse/{variant}/{eval_digest(config, variant)}/seed{seed}"


def table_variants(config: Mapping, paper: str = "audiofuse") -> list[str]:
    """Variants any table of ``paper`` needs, in first-mention order. Koike tables list
    models; each model brings all its inputs."""
    p = config[paper]
    seen: dict[str, None] = {}
    for rows in p["tables"].values():
        seen.update(dict.fromkeys(rows))
    if paper == "koike":
        return [v for v, (m, _) in koike_variants(p).items() if m in seen]
    return list(seen)


# ---------------------------------------------------------------- reference floor
FLOOR = "floor"  # the floor's variant name in result paths and tables (no model may use it)


def floor_papers(config: Mapping) -> list[str]:
    """Papers whose tables get the reference-floor row: ``floor.papers`` that are enabled."""
    return [p for p in config["floor"]["papers"] if p in config["papers"]]


def floor_datasets(config: Mapping, paper: str) -> list[str]:
    p = config[paper]
    return [p["train_dataset"], p["transfer_dataset"]] if paper == "audiofuse" else [p["train_dataset"]]


def floor_slice(config: Mapping, paper: str) -> dict:
    """Exactly the parameters one floor job of ``paper`` reads (seed excluded): the selected
    classifier's settings, and the paper's own split, caps and decision rule."""
    f, p = config["floor"], config[paper]
    kind = f["model"]["kind"]
    out = {"model": {"kind": kind, kind: f["model"][kind], "class_weight": f["class_weight"]},
           "split": p["split"], "max_train_records": p["max_train_records"]}
    if paper == "audiofuse":
        hr = p["head_retrain"]
        out.update(threshold_rule=p["evaluation"]["threshold_rule"],
                   head_retrain={k: hr[k] for k in ("test_fraction", "val_fraction", "seed")})
    else:
        out.update(max_eval_records=p["max_eval_records"])
    return out


def floor_digest(config: Mapping, paper: str) -> str:
    recipe = config["floor"]["features"]
    return digest({"features": [features_digest(config, ds, recipe) for ds in floor_datasets(config, paper)],
                   **floor_slice(config, paper)})


def floor_dir(config: Mapping, paper: str, seed: int) -> str:
    """AudioFuse: ``results/audiofuse/floor/<d>/seed<k>`` (metrics.json, predictions.csv, as
    the deep models' evaluation); Koike: ``runs/koike/floor/<recipe>/<d>/seed<k>``
    (train_summary.json, predictions.csv, split.csv, as koike_train)."""
    d = floor_digest(config, paper)
    if paper == "koike":
        return f"runs/koike/{FLOOR}/{config['floor']['features']}/{d}/seed{seed}"
    return f"results/{paper}/{FLOOR}/{d}/seed{seed}"


def dataset_recipes(config: Mapping, dataset: str) -> list[str]:
    """Feature recipes of ``dataset`` that the enabled papers (and their floors) use."""
    out = []
    for paper in ("audiofuse", "koike", "ast_sam"):
        if paper not in config["papers"]:
            continue
        p = config[paper]
        if dataset in (p["train_dataset"], p.get("transfer_dataset")):
            out.append(p["features"])
    if any(dataset in floor_datasets(config, p) for p in floor_papers(config)):
        out.append(config["floor"]["features"])
    if dataset in cross_datasets(config):  # targets of the cross-dataset table
        out += [cross_recipe(config, f) for f in cross_models(config)]
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------- cross-dataset table
CROSS_MODELS = ("audiofuse", "koike", "floor")


def cross_targets(config: Mapping) -> list[tuple[str, str, str]]:
    """(target, dataset, subset) of every ``cross_dataset.targets`` entry (subset '' = all)."""
    out = []
    for t in config["cross_dataset"]["targets"]:
        ds, _, subset = t.partition("/")
        out.append((t, ds, subset))
    return out


def cross_models(config: Mapping) -> list[str]:
    """The model families of ``cross_dataset.models`` whose models this config trains."""
    on = {"audiofuse": "audiofuse" in config["papers"], "koike": "koike" in config["papers"],
          "floor": "audiofuse" in floor_papers(config)}
    return [m for m in config["cross_dataset"]["models"] if on[m]]


def cross_recipe(config: Mapping, family: str) -> str:
    return config["floor"]["features"] if family == "floor" else config[family]["features"]


def cross_datasets(config: Mapping) -> list[str]:
    return list(dict.fromkeys(ds for _, ds, _ in cross_targets(config))) if cross_models(config) else []


def cross_runs(config: Mapping, family: str) -> list[tuple[str, int, str]]:
    """(variant, seed, folder) of every run of ``family`` the table scores: AudioFuse T1
    variants and every Koike table variant (their run folders, with model card), the floor's
    per-seed result folders (AudioFuse protocol)."""
    if family == "floor":
        return [(FLOOR, s, floor_dir(config, "audiofuse", s)) for s in config["audiofuse"]["seeds"]]
    if family == "audiofuse":
        variants = list(dict.fromkeys(config["audiofuse"]["tables"]["t1_physionet"]))
    else:
        only = config["cross_dataset"]["koike_models"]
        variants = [v for v in table_variants(config, "koike")
                    if only is None or koike_variants(config["koike"])[v][0] in only]
    return [(v, s, run_dir(config, family, v, s)) for v in variants for s in seeds(config, family, v)]


def cross_slice(config: Mapping, family: str) -> dict:
    """The parameters a cross-dataset job of ``family`` reads (besides its runs)."""
    out = {"targets": config["cross_dataset"]["targets"]}
    if family == "audiofuse":
        out["threshold_rule"] = config["audiofuse"]["evaluation"]["threshold_rule"]
    if family == "floor":
        out["floor"] = floor_slice(config, "audiofuse")
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
    return any(dataset in (config[p]["train_dataset"], config[p].get("transfer_dataset"))
               for p in ("audiofuse", "koike", "ast_sam") if p in config["papers"])
