"""Traffic generator for the example server: iris rows with a little noise, at a steady rate.

python examples/traffic.py --url http://127.0.0.1:8000 --rate 20 --seconds 60 [--drift-after 300]
    [--labels-to http://127.0.0.1:4318 --label-share 0.5]

With ``--drift-after SECONDS`` the rows change after that long, the way real inputs drift: the
petals grow (petal_length +DRIFT cm, petal_width +DRIFT/2 cm) and sepals widen (x1.15), so the
collector's drift processor flags those features, and the predicted species shift with them
(prediction drift), while sepal_length stays as it was (a feature that must not be flagged).

With ``--labels-to OTLP_ENDPOINT`` it also plays the source of ground truth: for a share of the
requests it sends the true species of the row as a ``modeltel.label`` record (docs/semconv.md)
for the prediction id the server returned in ``x-modeltel-prediction-id``, once a second, so
the collector can join labels to predictions. The truth does not drift with the inputs, so the
model's realized accuracy drops once they do.
"""

import argparse
import time
from collections.abc import Iterator

import httpx
import numpy as np
from sklearn.datasets import load_iris

from modeltel.replay.records import event_request, label_bodies, replay_resource
from modeltel.semconv import LABEL_EVENT

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# What drift does to a row, per feature: (multiplier, added centimetres per unit of --drift).
DRIFT_EFFECT = {"sepal_width": (1.15, 0.0), "petal_length": (1.0, 1.0), "petal_width": (1.0, 0.5)}


def rows(seed: int) -> Iterator[tuple[np.ndarray, str]]:
    """Noisy iris rows and the true species of each."""
    iris = load_iris()
    rng = np.random.default_rng(seed)
    while True:
        index = rng.integers(len(iris.data))
        sample = iris.data[index] + rng.normal(0.0, 0.05, size=iris.data.shape[1])
        yield np.round(sample, 2), str(iris.target_names[iris.target[index]])


class LabelSender:
    """Ground truth for the predictions, batched into one OTLP request a second."""

    def __init__(self, endpoint: str, model: str, version: str | None) -> None:
        self._url = endpoint.rstrip("/") + "/v1/logs"
        self._model, self._version = model, version
        self._resource = replay_resource("traffic-labels", "traffic")
        self._pending: list[tuple[str, str]] = []
        self._flushed = time.monotonic()
        self.sent = 0

    def add(self, client: httpx.Client, prediction_id: str, truth: str) -> None:
        self._pending.append((prediction_id, truth))
        if time.monotonic() - self._flushed >= 1.0:
            self.flush(client)

    def flush(self, client: httpx.Client) -> None:
        self._flushed = time.monotonic()
        if not self._pending:
            return
        ids, labels = zip(*self._pending, strict=True)
        now = time.time_ns()
        request = event_request(
            self._resource, LABEL_EVENT, label_bodies(labels), ids,
            np.full(len(ids), now, dtype=np.int64), now, self._model, self._version,
        )  # fmt: skip
        self._pending.clear()
        try:
            client.post(
                self._url, content=request.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
            ).raise_for_status()  # fmt: skip
            self.sent += len(ids)
        except httpx.HTTPError as error:
            print(f"traffic: {len(ids)} labels not sent: {error}", flush=True)


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
    parser.add_argument("--labels-to", help="OTLP/HTTP endpoint to send ground-truth labels to")
    parser.add_argument("--label-share", type=float, default=0.5, help="share of predictions labelled")
    parser.add_argument("--model", default="iris-classifier", help="model name on the label records")
    parser.add_argument("--model-version", default="1", help="model version on the label records")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    labels = LabelSender(args.labels_to, args.model, args.model_version) if args.labels_to else None
    choose = np.random.default_rng(args.seed + 1)

    started = time.monotonic()
    deadline = started + args.seconds if args.seconds > 0 else float("inf")
    drift_at = started + args.drift_after if args.drift_after > 0 else float("inf")
    interval = 1.0 / args.rate
    sent = failed = shifted = 0
    with httpx.Client(base_url=args.url, timeout=5.0) as client:
        next_send = time.monotonic()
        for sample, truth in rows(args.seed):
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= drift_at:
                if not shifted:
                    print(f"traffic: inputs drift from now on ({now - started:.0f} s)", flush=True)
                sample = drifted(sample, args.drift)
                shifted += 1
            try:
                response = client.post("/predict", json=dict(zip(FEATURES, sample.tolist(), strict=True)))
                response.raise_for_status()
                sent += 1
            except httpx.HTTPError:
                failed += 1
            else:
                prediction_id = response.headers.get("x-modeltel-prediction-id")
                if labels is not None and prediction_id and choose.random() < args.label_share:
                    labels.add(client, prediction_id, truth)
            next_send += interval
            time.sleep(max(0.0, next_send - time.monotonic()))
        if labels is not None:
            labels.flush(client)
    labelled = f", {labels.sent} labelled" if labels is not None else ""
    print(f"traffic: {sent} requests sent ({shifted} drifted){labelled}, {failed} failed")


if __name__ == "__main__":
    main()
