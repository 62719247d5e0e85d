"""Processors: observe or transform batches between receivers and exporters."""
