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
    try:
        asyncio.run(Service(loaded).run())
    except OSError as error:  # a listener could not bind: say which, without a traceback
        typer.echo(f"collector could not start: {error}", err=True)
        raise typer.Exit(1) from None


profile_app = typer.Typer(help="Reference profiles for drift and data-quality checks.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


def _names(values: list[str] | None) -> list[str]:
    """Column names from repeated and/or comma-separated options."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


@profile_app.command("build")
def profile_build(
    data: Annotated[Path, typer.Argument(help="Reference data: Parquet (.parquet) or CSV.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the profile JSON.")],
    model: Annotated[str, typer.Option("--model", help="Model name.")] = "",
    version: Annotated[str, typer.Option("--version", help="Model version.")] = "",
    categorical: Annotated[
        list[str] | None, typer.Option("--categorical", help="Columns to treat as categorical.")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Columns to leave out.")] = None,
    prediction_column: Annotated[
        list[str] | None, typer.Option("--prediction-column", help="Model output columns (predictions).")
    ] = None,
    score_column: Annotated[
        list[str] | None, typer.Option("--score-column", help="Model output columns (scores, probabilities).")
    ] = None,
    target_column: Annotated[str | None, typer.Option("--target-column", help="Ground-truth column.")] = None,
    bins: Annotated[
        int, typer.Option("--bins", min=2, max=200, help="Quantile bins per numeric feature.")
    ] = 20,
) -> None:
    """Profile reference data: per column kind, missing rate, range, quantile bins or top categories."""
    from modeltel.drift import ProfileError, build_profile
    from modeltel.drift.tables import DataError

    try:
        built = build_profile(
            data,
            model=model,
            version=version,
            categorical=_names(categorical),
            exclude=_names(exclude),
            prediction_columns=_names(prediction_column),
            score_columns=_names(score_column),
            target_column=target_column,
            n_bins=bins,
        )
        built.save(output)
    except (DataError, ProfileError, OSError) as error:
        typer.echo(f"modeltel profile build: {error}", err=True)
        raise typer.Exit(2) from None
    kinds = ", ".join(f"{f.name}:{f.kind}" for f in built.features)
    typer.echo(f"{output}: {int(built.rows)} rows, {len(built.features)} columns ({kinds})")


@app.command()
def check(
    data: Annotated[Path, typer.Argument(help="Data to check: Parquet (.parquet) or CSV.")],
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Reference profile JSON.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or html.")] = "table",
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="drift, quality (drift or quality) or never.")
    ] = "drift",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")
    ] = None,
) -> None:
    """Check data against a reference profile: drift and data quality per feature.

    Exit code 1 when the --fail-on condition holds, 2 on unusable input."""
    from modeltel.drift import Profile, ProfileError
    from modeltel.drift.check import failed, render, run_check
    from modeltel.drift.tables import DataError

    if fmt not in ("table", "json", "html"):
        typer.echo(f"modeltel check: --format must be table, json or html, not {fmt!r}", err=True)
        raise typer.Exit(2)
    if fail_on not in ("drift", "quality", "never"):
        typer.echo(f"modeltel check: --fail-on must be drift, quality or never, not {fail_on!r}", err=True)
        raise typer.Exit(2)
    try:
        report = run_check(Profile.load(profile), data)
        text = render(report, fmt)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text)
    except (DataError, ProfileError, OSError) as error:
        typer.echo(f"modeltel check: {error}", err=True)
        raise typer.Exit(2) from None
    if failed(report, fail_on):  # type: ignore[arg-type]
        raise typer.Exit(1)


def main() -> None:
    app()
