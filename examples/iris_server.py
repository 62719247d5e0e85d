"""Example model server: FastAPI serving a scikit-learn classifier trained at start-up.

The iris data set ships with scikit-learn, so nothing is downloaded. Run it with the
agent enabled and nothing else changed:

    MODELTEL_ENABLED=1 uvicorn iris_server:app --app-dir examples --port 8000
"""

import os

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modeltel.agent import record_prediction

MODEL_NAME = os.environ.get("MODEL_NAME", "iris-classifier")
MODEL_VERSION = os.environ.get("MODEL_VERSION", "1")


class IrisFeatures(BaseModel):
    sepal_length: float = Field(description="cm")
    sepal_width: float = Field(description="cm")
    petal_length: float = Field(description="cm")
    petal_width: float = Field(description="cm")


class Prediction(BaseModel):
    prediction_id: str
    species: str
    probabilities: dict[str, float]


def train() -> tuple[LogisticRegression, list[str]]:
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    return model, [str(name) for name in iris.target_names]


model, species_names = train()
app = FastAPI(title="iris example")


@app.post("/predict", response_model=Prediction)
def predict(features: IrisFeatures) -> Prediction:
    row = np.array(
        [[features.sepal_length, features.sepal_width, features.petal_length, features.petal_width]]
    )
    probabilities = dict(zip(species_names, model.predict_proba(row)[0].round(6).tolist(), strict=True))
    species = max(probabilities, key=probabilities.__getitem__)
    prediction_id = record_prediction(
        features, species, model=MODEL_NAME, version=MODEL_VERSION, probabilities=probabilities
    )
    return Prediction(prediction_id=prediction_id, species=species, probabilities=probabilities)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
