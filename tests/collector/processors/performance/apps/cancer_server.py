"""A model server with no monitoring code: a scikit-learn classifier on the breast-cancer data
set (shipped with scikit-learn), trained at start-up on a seeded split, plus a feedback route
that records ground truth with ``record_label`` (the agent's ``modeltel.label`` events).

Started with ``MODELTEL_ENABLED=1``, each ``predict_proba`` row becomes a prediction record
with its probabilities, and the response header carries the prediction ids.
"""

import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeltel.agent import record_label

MODEL, VERSION = "cancer", "1"


def split() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    return train_test_split(data.data, data.target.to_numpy(), test_size=0.4, random_state=7)


train_x, _, train_y, _ = split()
model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000)).fit(train_x, train_y)
app = FastAPI(title="breast-cancer example")


class Rows(BaseModel):
    rows: list[dict[str, float]]


class Feedback(BaseModel):
    prediction_id: str
    label: int


@app.post("/predict")
def predict(request: Rows) -> dict[str, list[float]]:
    frame = pd.DataFrame(request.rows, columns=train_x.columns)
    return {"malignant_probability": model.predict_proba(frame)[:, 0].tolist()}


@app.post("/feedback")
def feedback(request: Feedback) -> dict[str, bool]:
    return {"recorded": record_label(request.prediction_id, request.label, model=MODEL, version=VERSION)}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
