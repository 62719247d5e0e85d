"""Receivers: turn requests on the wire into OTLP batches for the pipelines."""
