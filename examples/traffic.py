"""Traffic generator for the example server: iris rows with a little noise, at a steady rate.

python examples/traffic.py --url http://127.0.0.1:8000 --rate 20 --seconds 60
"""

import argparse
import time

import httpx
import numpy as np
from sklearn.datasets import load_iris

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def rows(seed: int) -> "np.ndarray":
    data = load_iris().data
    rng = np.random.default_rng(seed)
    while True:
        sample = data[rng.integers(len(data))] + rng.normal(0.0, 0.05, size=data.shape[1])
        yield np.round(sample, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="stop after this long (0: run until stopped)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    deadline = time.monotonic() + args.seconds if args.seconds > 0 else float("inf")
    interval = 1.0 / args.rate
    sent = failed = 0
    with httpx.Client(base_url=args.url, timeout=5.0) as client:
        next_send = time.monotonic()
        for sample in rows(args.seed):
            if time.monotonic() >= deadline:
                break
            try:
                client.post(
                    "/predict", json=dict(zip(FEATURES, sample.tolist(), strict=True))
                ).raise_for_status()
                sent += 1
            except httpx.HTTPError:
                failed += 1
            next_send += interval
            time.sleep(max(0.0, next_send - time.monotonic()))
    print(f"traffic: {sent} requests sent, {failed} failed")


if __name__ == "__main__":
    main()
