"""``modeltel replay``: rows of a Parquet or CSV file sent as the agent sends predictions.

For backfills, demos and load tests: each row becomes one ``modeltel.prediction`` OTLP log
record (docs/semconv.md), optionally followed by ``modeltel.label`` records, posted as
OTLP/HTTP protobuf batches to a collector.

:mod:`.table` reads the file and splits its columns, :mod:`.timestamps` turns a time column
into nanoseconds, :mod:`.records` builds OTLP requests, :mod:`.pacing` holds the rate,
:mod:`.sender` posts with retries and :mod:`.run` ties them together with progress output.
"""
