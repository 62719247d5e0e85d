"""``modeltel check`` throughput against exact scipy KS + chi-square per feature, same data.

A reference and a current table of ``--rows`` rows each, ``--features`` columns (4 of 5
numeric of varied shapes, 1 of 5 categorical). Baseline: ``scipy.stats.ks_2samp`` (exact
two-sample KS) per numeric column and ``scipy.stats.chi2_contingency`` on the category counts
per categorical column, on the raw rows of both sides. modeltel: the ``check`` engine
(``run_check``: ingest the current rows into the profile's bins, evaluate with BH, quality
and PCA) against a profile built once from the reference; the profile build is timed and
printed too, and the ratio is also given for build + check. Runs alternate; medians reported.
Last, the streaming accumulator's ingest rate on the same rows given as raw JSON value lists.

    python bench/check.py [--rows 100000] [--features 25] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np
from scipy import stats

from modeltel.drift import WindowCounts, build_profile
from modeltel.drift.check import run_check

CATEGORIES = np.array([f"cat{i}" for i in range(40)], dtype=object)


def make_table(seed: int, rows: int, features: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    table: dict[str, np.ndarray] = {}
    weights = 1.0 / np.arange(1, CATEGORIES.size + 1)
    weights /= weights.sum()
    for i in range(features):
        kind = i % 5
        if kind == 0:
            table[f"f{i}"] = rng.normal(0, 1, rows)
        elif kind == 1:
            table[f"f{i}"] = rng.lognormal(0, 1, rows)
        elif kind == 2:
            table[f"f{i}"] = rng.poisson(5, rows).astype(np.float64)
        elif kind == 3:
            table[f"f{i}"] = np.where(rng.random(rows) < 0.6, 0.0, rng.exponential(2, rows))
        else:
            table[f"f{i}"] = CATEGORIES[rng.choice(CATEGORIES.size, rows, p=weights)]
    return table


def scipy_baseline(reference: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> int:
    """Exact per-feature tests on raw rows; returns the number of p < 0.05 (kept, not used)."""
    flagged = 0
    for name, ref in reference.items():
        cur = current[name]
        if ref.dtype.kind == "f":
            p = stats.ks_2samp(ref, cur).pvalue
        else:
            cats, inverse = np.unique(np.concatenate([ref, cur]), return_inverse=True)
            table = np.stack(
                [
                    np.bincount(inverse[: ref.size], minlength=cats.size),
                    np.bincount(inverse[ref.size :], minlength=cats.size),
                ]
            )
            p = stats.chi2_contingency(table).pvalue
        flagged += p < 0.05
    return flagged


def ingest_lists(profile, current: dict[str, np.ndarray], batch: int) -> float:
    """Seconds to add the current rows as raw JSON-value lists (what a decoded OTLP batch
    gives the streaming processor), ``batch`` records at a time, weighted; decode excluded."""
    rows = next(iter(current.values())).size
    batches = [{k: v[i : i + batch].tolist() for k, v in current.items()} for i in range(0, rows, batch)]
    weights = np.full(batch, 2.0)
    window = WindowCounts(profile)
    start = time.perf_counter()
    for columns in batches:
        window.add(columns, weights=weights[: len(next(iter(columns.values())))])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="records per add() in the ingest figure")
    args = parser.parse_args()
    reference = make_table(1, args.rows, args.features)
    current = make_table(2, args.rows, args.features)

    build_times, check_times, baseline_times = [], [], []
    profile = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        scipy_baseline(reference, current)
        baseline_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        profile = build_profile(reference)
        build_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        report = run_check(profile, current)
        check_times.append(time.perf_counter() - start)
    baseline, build, check = (statistics.median(t) for t in (baseline_times, build_times, check_times))
    ingest = statistics.median(ingest_lists(profile, current, args.batch) for _ in range(args.repeats))
    print(f"data: {args.rows:,} rows per side, {args.features} features, median of {args.repeats} runs")
    print(
        f"scipy exact KS + chi-square per feature : {baseline:7.3f} s  {args.rows / baseline:>12,.0f} rows/s"
    )
    print(f"modeltel check (profile ready)          : {check:7.3f} s  {args.rows / check:>12,.0f} rows/s")
    print(f"modeltel profile build (reference)      : {build:7.3f} s  {args.rows / build:>12,.0f} rows/s")
    print(f"ratio check / scipy                     : {baseline / check:7.1f}x faster")
    print(f"ratio (build + check) / scipy           : {baseline / (build + check):7.1f}x")
    print(f"streaming ingest, raw JSON lists, {args.batch:>5}/add : {args.rows / ingest:>12,.0f} records/s")
    print(f"verdict on same-distribution data       : {len(report.drifted_features)} drifted features")


if __name__ == "__main__":
    main()
