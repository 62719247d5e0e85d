"""Exporters: where the collector's pipelines deliver batches."""
