# One image for the collector, the example model server and the traffic generator.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY agent ./agent
COPY collector ./collector
COPY exporters ./exporters
COPY drift ./drift
COPY examples ./examples
RUN pip install --no-cache-dir ".[examples]"
EXPOSE 4317 4318 9464 8000
CMD ["modeltel", "collector"]
