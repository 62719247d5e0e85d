"""The example server plus a warm-up prediction at import time, as many servers do.

Under ``gunicorn --preload`` this runs once in the master, before the workers are forked,
so the master records a prediction and starts exporting before any worker exists.
"""

from iris_server import app, model

model.predict_proba([[5.1, 3.5, 1.4, 0.2]])

__all__ = ["app"]
