"""Interpreter start-up cost of having modeltel installed, with MODELTEL_ENABLED unset and set.

Two bare virtual environments from the same interpreter: ``baseline`` holds nothing,
``installed`` holds exactly what the modeltel wheel puts at the root of site-packages
(``modeltel.pth``, ``modeltel.start``, the ``modeltel`` package). Runs of ``python -c pass``
alternate between them so drift on the machine affects both alike; the figure is the
difference of medians. The enabled case runs in the current environment (it needs the
dependencies) against the same environment unset.

    python bench/startup.py [--runs 200]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from pathlib import Path


def site_packages(env_dir: Path) -> Path:
    scheme = sysconfig.get_paths(vars={"base": str(env_dir), "platbase": str(env_dir)})
    return Path(scheme["purelib"])


def make_env(root: Path, name: str) -> Path:
    env_dir = root / name
    venv.EnvBuilder(with_pip=False).create(env_dir)
    return env_dir / "bin" / "python"


def install_modeltel_files(env_python: Path) -> None:
    """Copy what the wheel installs at the site-packages root from the current environment."""
    import modeltel

    source_site = Path(modeltel.__file__).resolve().parent.parent
    target = site_packages(env_python.parent.parent)
    for name in ("modeltel.pth", "modeltel.start"):
        shutil.copy2(source_site / name, target / name)
    shutil.copytree(
        source_site / "modeltel", target / "modeltel", ignore=shutil.ignore_patterns("__pycache__")
    )


def time_run(python: Path | str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(python), "-c", "pass"], env=env, check=True)
    return time.perf_counter() - started


def compare(a: tuple[Path | str, dict], b: tuple[Path | str, dict], runs: int) -> tuple[float, float]:
    times_a, times_b = [], []
    for _ in range(5):  # warm the page cache
        time_run(*a), time_run(*b)
    for _ in range(runs):
        times_a.append(time_run(*a))
        times_b.append(time_run(*b))
    return statistics.median(times_a), statistics.median(times_b)


def report(label: str, seconds: float, baseline: float | None = None) -> None:
    line = f"  {label:<24}{seconds * 1e3:7.2f} ms"
    if baseline is not None:
        line += f"   difference {1e3 * (seconds - baseline):+.2f} ms, ratio {seconds / baseline:.3f}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description="modeltel start-up overhead")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    unset = {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}

    with tempfile.TemporaryDirectory() as tmp:
        baseline = make_env(Path(tmp), "baseline")
        installed = make_env(Path(tmp), "installed")
        install_modeltel_files(installed)
        base, inst = compare((baseline, unset), (installed, unset), args.runs)
    print(f"python -c pass, MODELTEL_ENABLED unset ({args.runs} runs each, medians)")
    report("without modeltel", base)
    report("with modeltel", inst, base)

    enabled = {**unset, "MODELTEL_ENABLED": "1"}
    off, on = compare((sys.executable, unset), (sys.executable, enabled), args.runs // 2)
    print(f"python -c pass in this environment ({args.runs // 2} runs each, medians)")
    report("MODELTEL_ENABLED unset", off)
    report("MODELTEL_ENABLED=1", on, off)


if __name__ == "__main__":
    main()
