"""The ``modeltel`` command."""

import asyncio
import logging
import os
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
    # Before numpy loads: the collector is one event loop, and BLAS helper threads contending
    # for the same cores made the drift processor's PCA projection up to ~15x slower. Set to override.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
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


@app.command()
def replay(
    data: Annotated[Path, typer.Argument(help="Parquet (.parquet/.pq) or CSV file, one prediction per row.")],
    model: Annotated[str, typer.Option("--model", help="ml.model.name of every record.")],
    version: Annotated[
        str | None, typer.Option("--version", help="ml.model.version (absent: unversioned).")
    ] = None,
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="OTLP/HTTP base URL; /v1/logs is appended.")
    ] = "http://127.0.0.1:4318",
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="Rows per second; 0 sends as fast as possible.")
    ] = 0.0,
    timestamp_column: Annotated[
        str | None,
        typer.Option(
            "--timestamp-column",
            help="Prediction times: datetimes, ISO 8601 text (UTC without a zone) or epoch s/ms/us/ns "
            "numbers (unit by magnitude). Absent: the time of sending.",
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option("--id-column", help="Prediction ids (32 hex digits or UUIDs). Absent: new ids."),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(
            "--label-column", help="Ground truth: sent as modeltel.label records after the predictions."
        ),
    ] = None,
    prediction_column: Annotated[
        str | None,
        typer.Option("--prediction-column", help="Model output (default: 'prediction' if the file has it)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="A column that is not a feature (repeatable).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Records per request.")
    ] = 512,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=64,
            help="Requests in flight at once (helps with a distant collector).",
        ),
    ] = 1,
    gzip: Annotated[bool, typer.Option("--gzip", help="Compress requests (Content-Encoding: gzip).")] = False,
    service_name: Annotated[
        str, typer.Option("--service-name", help="Resource service.name.")
    ] = "modeltel-replay",
    max_retry_seconds: Annotated[
        float, typer.Option("--max-retry-seconds", min=0, help="Give up on a batch after retrying this long.")
    ] = 300.0,
) -> None:
    """Send the rows of DATA to a collector exactly as the agent sends predictions.

    Columns other than the prediction, id, timestamp, label and --exclude ones are features.

    For backfills, demos and load tests.

    Exit code 2: bad input (nothing sent); 1: rows rejected or the collector unreachable.
    """
    from rich.console import Console

    from modeltel.replay.run import ReplayOptions, prepare
    from modeltel.replay.run import replay as run_replay
    from modeltel.replay.sender import SendError
    from modeltel.replay.table import InputError
    from modeltel.replay.timestamps import TimestampError

    options = ReplayOptions(
        path=data, model=model, version=version, endpoint=endpoint, rate=rate, batch_size=batch_size,
        compression="gzip" if gzip else "none", service_name=service_name,
        timestamp_column=timestamp_column, id_column=id_column, label_column=label_column,
        prediction_column=prediction_column, exclude=tuple(exclude or ()),
        max_retry_seconds=max_retry_seconds, concurrency=concurrency,
    )  # fmt: skip
    try:
        prepared = prepare(options)
    except (InputError, TimestampError) as error:
        typer.echo(f"replay: {error}", err=True)
        raise typer.Exit(2) from None
    if prepared.columns.prediction is None:
        typer.echo("replay: no prediction column; predictions are sent as null", err=True)
    try:
        summary = asyncio.run(run_replay(options, prepared, Console(stderr=True)))
    except SendError as error:
        typer.echo(f"replay: {error}", err=True)
        raise typer.Exit(1) from None
    accepted = summary.predictions_sent + summary.labels_sent - summary.rejected
    typer.echo(
        f"replayed {summary.predictions_sent} predictions and {summary.labels_sent} labels "
        f"({summary.labels_missing} rows without a label) of {summary.rows} rows in {summary.seconds:.2f} s "
        f"({summary.rows_per_second:.0f} rows/s); accepted {accepted}, rejected {summary.rejected}, "
        f"retries {summary.retries}"
    )
    for message in summary.messages:
        typer.echo(f"replay: collector said: {message}", err=True)
    if summary.rejected:
        raise typer.Exit(1)


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
    task: Annotated[str | None, typer.Option("--task", help="classification or regression.")] = None,
    positive_class: Annotated[
        str | None, typer.Option("--positive-class", help="Binary positive class.")
    ] = None,
) -> None:
    """Profile reference data: per column kind, missing rate, range, quantile bins or top categories."""
    from modeltel.drift import ProfileError, build_profile
    from modeltel.drift.tables import DataError

    if task not in (None, "classification", "regression"):
        typer.echo(
            f"modeltel profile build: --task must be classification or regression, not {task!r}", err=True
        )
        raise typer.Exit(2)
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
            task=task,  # type: ignore[arg-type]
            positive_class=positive_class,
        )
        built.save(output)
    except (DataError, ProfileError, OSError) as error:
        typer.echo(f"modeltel profile build: {error}", err=True)
        raise typer.Exit(2) from None
    kinds = ", ".join(f"{f.name}:{f.kind}" for f in built.features)
    typer.echo(f"{output}: {int(built.rows)} rows, {len(built.features)} columns ({kinds})")
    if built.performance is not None:
        baseline = ", ".join(f"{k} {v:.4g}" for k, v in built.performance.baseline.items())
        typer.echo(
            f"performance baseline ({built.performance.task}, {int(built.performance.rows)} rows): {baseline}"
        )


@app.command()
def check(
    data: Annotated[Path, typer.Argument(help="Data to check: Parquet (.parquet) or CSV.")],
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Reference profile JSON.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or html.")] = "table",
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on", help="drift, quality (drift or quality), performance (a degraded metric) or never."
        ),
    ] = "drift",
    tolerance: Annotated[
        float,
        typer.Option(
            "--performance-tolerance",
            min=0,
            max=1,
            help="Relative drop from the baseline that counts as degraded.",
        ),
    ] = 0.05,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")
    ] = None,
) -> None:
    """Check data against a reference profile: drift and data quality per feature, and
    performance (realized with labels, estimated from probabilities) when the profile has a baseline.

    Exit code 1 when the --fail-on condition holds, 2 on unusable input."""
    from modeltel.drift import Profile, ProfileError
    from modeltel.drift.check import failed, render, run_check
    from modeltel.drift.tables import DataError, columns
    from modeltel.performance.check import run_performance_check

    if fmt not in ("table", "json", "html"):
        typer.echo(f"modeltel check: --format must be table, json or html, not {fmt!r}", err=True)
        raise typer.Exit(2)
    if fail_on not in ("drift", "quality", "performance", "never"):
        typer.echo(
            f"modeltel check: --fail-on must be drift, quality, performance or never, not {fail_on!r}",
            err=True,
        )
        raise typer.Exit(2)
    try:
        reference = Profile.load(profile)
        if fail_on == "performance" and reference.performance is None:
            raise ProfileError(f"{profile} has no performance baseline (build it with --target-column)")
        table = columns(data)
        report = run_check(reference, data, table=table)
        performance = run_performance_check(reference, data, tolerance, table=table)
        text = render(report, fmt, performance)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text)
    except (DataError, ProfileError, OSError) as error:
        typer.echo(f"modeltel check: {error}", err=True)
        raise typer.Exit(2) from None
    if failed(report, fail_on, performance):  # type: ignore[arg-type]
        raise typer.Exit(1)


def main() -> None:
    app()
