"""Labelled reference data for the example iris model, for its drift and performance profile.

    python examples/iris_reference.py -o iris-reference.csv
    modeltel profile build iris-reference.csv -o deploy/profiles/iris-classifier-1.json \
        --model iris-classifier --version 1 --prediction-column prediction --target-column species

The rows are what examples/traffic.py sends before it drifts (the same generator, another seed),
scored by the model examples/iris_server.py trains, with each row's true species: the profile
then holds the traffic's own undrifted distribution, the model's baseline performance on it and
the calibration that label-free estimation needs. The columns are named as the collector sees
them on the wire: the request fields, ``prediction`` and ``proba_<species>``.
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from iris_server import train
from traffic import FEATURES, rows


def reference_table(count: int, seed: int) -> pa.Table:
    samples, truth = zip(*itertools.islice(rows(seed), count), strict=True)
    features = np.vstack(samples)
    model = train()
    probabilities = model.predict_proba(features)
    columns = {name: features[:, i] for i, name in enumerate(FEATURES)}
    columns["prediction"] = model.classes_[probabilities.argmax(axis=1)]
    for i, species in enumerate(model.classes_):
        columns[f"proba_{species}"] = probabilities[:, i].round(6)
    columns["species"] = np.asarray(truth)
    return pa.table(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1001, help="not traffic.py's default, so the rows differ")
    args = parser.parse_args()
    pyarrow.csv.write_csv(reference_table(args.rows, args.seed), args.output)
    print(f"{args.rows} reference rows written to {args.output}")


if __name__ == "__main__":
    main()
