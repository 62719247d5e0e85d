"""The ``modeltel`` command."""

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="modeltel",
    help="OpenTelemetry-native monitoring for ML model servers.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from modeltel import __version__

        typer.echo(f"modeltel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """OpenTelemetry-native monitoring for ML model servers."""


@app.command()
def collector(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", exists=True, dir_okay=False, help="YAML config; built-in defaults without it."
        ),
    ] = None,
    validate: Annotated[bool, typer.Option("--validate", help="Check the config and exit.")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run the collector: OTLP in on gRPC 4317 and HTTP 4318, metrics out on 9464."""
    from modeltel.collector.config import ConfigError, load_config
    from modeltel.collector.factories import builtin_factories
    from modeltel.collector.service import Service

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        loaded = load_config(config, builtin_factories())
    except ConfigError as error:
        typer.echo(f"invalid configuration: {error}", err=True)
        raise typer.Exit(2) from None
    if validate:
        typer.echo(f"{config or 'built-in defaults'}: valid ({', '.join(loaded.pipelines)})")
        return
    if loaded.telemetry.logs.encoding == "json":
        from modeltel.collector.json_logs import use_json_logs

        use_json_logs()
    try:
        asyncio.run(Service(loaded).run())
    except OSError as error:  # a listener could not bind: say which, without a traceback
        typer.echo(f"collector could not start: {error}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    app()
