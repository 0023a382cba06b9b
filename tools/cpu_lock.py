"""requirements-cpu.lock from requirements.lock: the same pins, torch/torchaudio/torchvision as
their ``+cpu`` builds from the PyTorch CPU index, and none of the CUDA-only packages.

    python tools/cpu_lock.py requirements.lock requirements-cpu.lock   (run by `make lock`)

requirements.lock is written by pip-compile (`make lock`) with ``# via`` annotations. The
CUDA-only packages are found from them: the nvidia-*, cuda-* and triton distributions that
torch requires (its Linux CUDA build does; its +cpu build does not), then every package
required only by packages already dropped. Everything else keeps its exact version.

The CPU lock carries no hashes: pip checks hashes for every requirement or for none, and the
+cpu wheels' hashes come from download.pytorch.org, which was not reachable where this lock
was made (docs/packaging.md). Uses the standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_STACK = ("torch", "torchaudio", "torchvision")
CUDA_NAME = re.compile(r"^(nvidia-.+|cuda-.+|triton)$")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> dict[str, dict]:
    """{name: {"version", "via": [parents]}} of a pip-compile output ('-r file' parents
    are kept as written)."""
    out: dict[str, dict] = {}
    current = None
    in_via = False
    for line in text.splitlines():
        if m := _PIN.match(line):
            current = normalise(m.group(1))
            out[current] = {"name": m.group(1), "version": m.group(2), "via": []}
            in_via = False
        elif current and (m := re.match(r"^\s+#\s+via\s*(.*)$", line)):
            in_via = True
            if m.group(1).strip():
                out[current]["via"].append(m.group(1).strip())
        elif current and in_via and (m := re.match(r"^\s+#\s+(\S.*)$", line)):
            out[current]["via"].append(m.group(1).strip())
        elif not line.startswith((" ", "\t")):
            in_via = False
    for info in out.values():
        info["via"] = [v if v.startswith("-r ") else normalise(v) for v in info["via"]]
    return out


def cuda_only(pins: dict[str, dict]) -> set[str]:
    """The packages only torch's CUDA build needs: nvidia-*/cuda-*/triton that torch pulls
    in, then, until nothing changes, every package all of whose parents are dropped."""
    drop = {n for n, info in pins.items() if CUDA_NAME.match(n) and "torch" in info["via"]}
    while True:
        more = {n for n, info in pins.items()
                if n not in drop and info["via"] and all(p in drop for p in info["via"])}
        if not more:
            return drop
        drop |= more


def derive(text: str, source: str = "requirements.lock") -> str:
    """The CPU lock's text from requirements.lock's."""
    pins = parse(text)
    missing = [p for p in TORCH_STACK if p not in pins]
    if missing:
        raise ValueError(f"{source} pins no {', '.join(missing)}")
    drop = cuda_only(pins)
    lines = [
        f"# CPU-only variant of {source}, derived by tools/cpu_lock.py (`make lock`); do not edit.",
        "# Same pins; torch, torchaudio and torchvision as their +cpu builds from the PyTorch CPU",
        f"# index; without the CUDA-only packages ({len(drop)}: {', '.join(sorted(drop))}).",
        "# No hashes (pip checks all or none; the +cpu wheels' hashes were not reachable where it was made).",
        "#   make install LOCK=requirements-cpu.lock VENV=.venv-cpu     (docs/packaging.md)",
        f"--extra-index-url {CPU_INDEX}",
        "",
    ]
    for n in sorted(pins):
        if n in drop:
            continue
        info = pins[n]
        version = f"{info['version']}+cpu" if n in TORCH_STACK else info["version"]
        lines.append(f"{info['name']}=={version}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    src, dst = Path(argv[0]), Path(argv[1])
    dst.write_text(derive(src.read_text(), source=src.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
