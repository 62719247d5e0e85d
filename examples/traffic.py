"""Traffic generator for the example server: iris rows with a little noise, at a steady rate.

python examples/traffic.py --url http://127.0.0.1:8000 --rate 20 --seconds 60 [--drift-after 300]

With ``--drift-after SECONDS`` the rows change after that long, the way real inputs drift: the
petals grow (petal_length +DRIFT cm, petal_width +DRIFT/2 cm) and sepals widen (x1.15), so the
collector's drift processor flags those features, and the predicted species shift with them
(prediction drift), while sepal_length stays as it was (a feature that must not be flagged).
"""

import argparse
import time
from collections.abc import Iterator

import httpx
import numpy as np
from sklearn.datasets import load_iris

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# What drift does to a row, per feature: (multiplier, added centimetres per unit of --drift).
DRIFT_EFFECT = {"sepal_width": (1.15, 0.0), "petal_length": (1.0, 1.0), "petal_width": (1.0, 0.5)}


def rows(seed: int) -> Iterator[np.ndarray]:
    data = load_iris().data
    rng = np.random.default_rng(seed)
    while True:
        sample = data[rng.integers(len(data))] + rng.normal(0.0, 0.05, size=data.shape[1])
        yield np.round(sample, 2)


def drifted(sample: np.ndarray, amount: float) -> np.ndarray:
    """``sample`` as it looks once the inputs have drifted by ``amount`` (cm)."""
    shifted = sample.copy()
    for name, (scale, shift) in DRIFT_EFFECT.items():
        index = FEATURES.index(name)
        shifted[index] = shifted[index] * scale + shift * amount
    return np.round(shifted, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="stop after this long (0: run until stopped)"
    )
    parser.add_argument(
        "--drift-after", type=float, default=0.0, help="shift the inputs after this long (0: never)"
    )
    parser.add_argument("--drift", type=float, default=1.5, help="size of the shift, in cm of petal length")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + args.seconds if args.seconds > 0 else float("inf")
    drift_at = started + args.drift_after if args.drift_after > 0 else float("inf")
    interval = 1.0 / args.rate
    sent = failed = shifted = 0
    with httpx.Client(base_url=args.url, timeout=5.0) as client:
        next_send = time.monotonic()
        for sample in rows(args.seed):
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= drift_at:
                if not shifted:
                    print(f"traffic: inputs drift from now on ({now - started:.0f} s)", flush=True)
                sample = drifted(sample, args.drift)
                shifted += 1
            try:
                client.post(
                    "/predict", json=dict(zip(FEATURES, sample.tolist(), strict=True))
                ).raise_for_status()
                sent += 1
            except httpx.HTTPError:
                failed += 1
            next_send += interval
            time.sleep(max(0.0, next_send - time.monotonic()))
    print(f"traffic: {sent} requests sent ({shifted} drifted), {failed} failed")


if __name__ == "__main__":
    main()
