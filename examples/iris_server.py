"""Example model server: FastAPI serving a scikit-learn classifier trained at start-up.

It has no monitoring code at all. Started with the agent enabled and nothing else changed,

    MODELTEL_ENABLED=1 MODELTEL_MODEL_NAME=iris-classifier MODELTEL_MODEL_VERSION=1 \
        uvicorn iris_server:app --app-dir examples --port 8000

each request gets a trace and RED metrics, and each ``predict_proba`` call one prediction log
per row, its features named after the request model's fields, its id in the
``x-modeltel-prediction-id`` response header. The iris data set ships with scikit-learn, so
nothing is downloaded.
"""

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


class IrisFeatures(BaseModel):
    sepal_length: float = Field(description="cm")
    sepal_width: float = Field(description="cm")
    petal_length: float = Field(description="cm")
    petal_width: float = Field(description="cm")


class Prediction(BaseModel):
    species: str
    probabilities: dict[str, float]


def train() -> LogisticRegression:
    iris = load_iris()
    species = np.asarray(iris.target_names)[iris.target]
    return LogisticRegression(max_iter=1000).fit(iris.data, species)


model = train()
app = FastAPI(title="iris example")


@app.post("/predict", response_model=Prediction)
def predict(features: IrisFeatures) -> Prediction:
    row = np.array(
        [[features.sepal_length, features.sepal_width, features.petal_length, features.petal_width]]
    )
    probabilities = dict(
        zip(model.classes_.tolist(), model.predict_proba(row)[0].round(6).tolist(), strict=True)
    )
    species = max(probabilities, key=probabilities.__getitem__)
    return Prediction(species=species, probabilities=probabilities)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
