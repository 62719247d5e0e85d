"""Cost of capturing a scikit-learn call: ``capture.observe`` + describe, per call and per row.

A LogisticRegression on 25 features, called with 1 and 1000 rows through ``predict`` and
``predict_proba``. Variants, interleaved within each repeat so machine drift hits all alike:

- ``model``: the original (unwrapped) method;
- ``wrapped``: the wrapped method, with one no-op listener; the capture core's own work
  after describe (spans, metrics, log records) is not included: bench/overhead.py measures
  the whole agent;
- ``capture``: ``capture.observe`` + describe around a function returning the precomputed
  result, i.e. the capture overhead without the model's own (noisy) run time;
- ``all dicts``: building every row's probability dict, what a consumer recording 100 % of
  rows pays on top (ClassProbabilities builds them only for rows that are read).

Figures are the minimum and median over repeats of the mean over a block of calls.

    python bench/capture_describe.py [--repeats 30]
"""

import argparse
import statistics
import time

import numpy as np
import sklearn.base
from sklearn.linear_model import LogisticRegression

from modeltel.agent import capture
from modeltel.agent.frameworks import sklearn as sklearn_hook
from modeltel.agent.frameworks.describe import describe_estimator_call

FEATURES = 25


def per_call_us(function, calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        function()
    return (time.perf_counter_ns() - started) / calls / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    options = parser.parse_args()

    sklearn_hook.install(sklearn.base)
    capture.add_listener(lambda model, call, duration_ns: None)
    rng = np.random.default_rng(0)
    train = rng.normal(size=(2000, FEATURES))
    model = LogisticRegression(max_iter=500).fit(train, (train[:, 0] + train[:, 1] > 0).astype(int))

    print(f"{FEATURES} features; µs per call as min / median over {options.repeats} repeats")
    header = ("method", "rows", "model", "wrapped", "capture", "capture/row", "capture/model", "all dicts")
    print("".join(f"{h:>16}" for h in header))
    for method in ("predict", "predict_proba"):
        wrapped = getattr(model, method)
        original = getattr(type(model), method).__wrapped__
        for rows in (1, 1000):
            batch = rng.normal(size=(rows, FEATURES))
            result = wrapped(batch)
            calls = 500 if rows == 1 else 100

            def captured(b=batch, r=result, m=method):
                return capture.observe(
                    model, m, lambda _model, _batch: r, (model, b), {}, describe_estimator_call
                )

            described = describe_estimator_call(model, method, (batch,), {}, result)

            def all_dicts(call=described):
                return None if call.probabilities is None else list(call.probabilities)

            variants = {
                "model": lambda o=original, b=batch: o(model, b),
                "wrapped": lambda w=wrapped, b=batch: w(b),
                "capture": captured,
                "all dicts": all_dicts,
            }
            samples: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(options.repeats):
                for name, function in variants.items():
                    samples[name].append(per_call_us(function, calls))
            low = {name: min(values) for name, values in samples.items()}
            mid = {name: statistics.median(values) for name, values in samples.items()}
            cells = [
                method,
                str(rows),
                *(f"{low[n]:.1f}/{mid[n]:.1f}" for n in ("model", "wrapped", "capture")),
                f"{low['capture'] / rows:.3f}",
                f"{low['capture'] / low['model']:.1%}",
                f"{low['all dicts']:.1f}" if method == "predict_proba" else "-",
            ]
            print("".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
