"""Collector configuration: YAML in the OpenTelemetry Collector's shape, validated up front.

::

    receivers:  {<type>[/<name>]: <config>}
    processors: {<type>[/<name>]: <config>}
    exporters:  {<type>[/<name>]: <config>}
    service:
      telemetry: {address: 127.0.0.1:9464}
      pipelines: {<signal>[/<name>]: {receivers: [...], processors: [...], exporters: [...]}}

Every error names the key path that is wrong. With no file, :data:`DEFAULT_CONFIG` runs.
String values may reference the environment as the OTel Collector allows: ``${env:VAR}``,
``${env:VAR:-default}``; ``$$`` is a literal ``$``. A value that is only a reference takes
the YAML type of what it expands to (``port: ${env:PORT}`` is an int).
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from modeltel.collector.component import ComponentConfig, Factory, Kind
from modeltel.collector.signals import Signal

DEFAULT_CONFIG_YAML = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
      http:
        endpoint: 127.0.0.1:4318
processors:
  predictions: {}
  drift: {}
  performance: {}
exporters:
  prometheus: {}
  debug: {}
service:
  telemetry:
    address: 127.0.0.1:9464
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
    logs:
      receivers: [otlp]
      processors: [predictions, drift, performance]
      exporters: [debug]
"""


class ConfigError(ValueError):
    """A configuration problem, with the path of the offending key in the message."""


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receivers: list[str] = Field(min_length=1)
    processors: list[str] = []
    exporters: list[str] = Field(min_length=1)


def split_host_port(address: str) -> tuple[str, int]:
    host, separator, port = address.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def _valid_host_port(address: str) -> str:
    split_host_port(address)
    return address


HostPort = Annotated[str, AfterValidator(_valid_host_port)]
"""A listen address such as ``127.0.0.1:4317`` or ``[::1]:9464``."""


class TelemetryLogsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: Literal["console", "json"] = "console"


class TelemetryConfig(BaseModel):
    """The collector's own HTTP endpoint (/metrics, /healthz, /readyz) and log format."""

    model_config = ConfigDict(extra="forbid")

    address: HostPort = "127.0.0.1:9464"
    logs: TelemetryLogsConfig = TelemetryLogsConfig()


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    telemetry: TelemetryConfig = TelemetryConfig()
    pipelines: dict[str, PipelineConfig] = Field(min_length=1)


class RawConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receivers: dict[str, dict[str, Any] | None] = {}
    processors: dict[str, dict[str, Any] | None] = {}
    exporters: dict[str, dict[str, Any] | None] = {}
    service: ServiceConfig


class ComponentSettings(BaseModel):
    """One configured component: its id, factory and validated config."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    factory: Factory
    config: ComponentConfig


class CollectorConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    receivers: dict[str, ComponentSettings]
    processors: dict[str, ComponentSettings]
    exporters: dict[str, ComponentSettings]
    pipelines: dict[str, PipelineConfig]
    telemetry: TelemetryConfig


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def pipeline_signal(pipeline_id: str) -> Signal:
    name = component_type(pipeline_id)
    try:
        return Signal(name)
    except ValueError:
        raise ConfigError(
            f"service.pipelines.{pipeline_id}: a pipeline id is <signal>[/<name>] with signal one of "
            f"{', '.join(s.value for s in Signal)}"
        ) from None


def _format_validation_error(prefix: str, error: ValidationError) -> str:
    lines = []
    for detail in error.errors():
        location = ".".join(str(part) for part in (prefix, *detail["loc"]) if part != "")
        lines.append(f"{location}: {detail['msg']}")
    return "; ".join(lines)


def _settings(
    kind: Kind, section: str, raw: dict[str, dict[str, Any] | None], factories: dict[str, Factory]
) -> dict[str, ComponentSettings]:
    settings = {}
    for component_id, body in raw.items():
        type_name = component_type(component_id)
        of_kind = {f.type: f for f in factories.values() if f.kind == kind}  # e.g. otlp receiver/exporter
        factory = of_kind.get(type_name)
        if factory is None:
            known = ", ".join(sorted(of_kind)) or "none"
            raise ConfigError(f"{section}.{component_id}: unknown {kind} type {type_name!r} (known: {known})")
        try:
            config = factory.config.model_validate(body or {})
        except ValidationError as error:
            raise ConfigError(_format_validation_error(f"{section}.{component_id}", error)) from None
        settings[component_id] = ComponentSettings(id=component_id, factory=factory, config=config)
    return settings


def _check_pipelines(config: CollectorConfig) -> None:
    sections: dict[str, dict[str, ComponentSettings]] = {
        "receivers": config.receivers,
        "processors": config.processors,
        "exporters": config.exporters,
    }
    for pipeline_id, pipeline in config.pipelines.items():
        signal = pipeline_signal(pipeline_id)
        for section, configured in sections.items():
            ids: list[str] = getattr(pipeline, section)
            for component_id in ids:
                settings = configured.get(component_id)
                if settings is None:
                    raise ConfigError(
                        f"service.pipelines.{pipeline_id}.{section}: {component_id!r} is not configured "
                        f"under top-level {section}"
                    )
                if signal not in settings.factory.signals:
                    supported = ", ".join(sorted(s.value for s in settings.factory.signals))
                    raise ConfigError(
                        f"service.pipelines.{pipeline_id}.{section}: {component_id!r} does not support "
                        f"{signal.value} (it supports {supported})"
                    )
            if len(set(ids)) != len(ids):
                raise ConfigError(f"service.pipelines.{pipeline_id}.{section}: a component is listed twice")


def build_config(document: Any, factories: dict[str, Factory]) -> CollectorConfig:
    if not isinstance(document, dict):
        raise ConfigError(
            "the configuration must be a mapping with receivers, processors, exporters and service"
        )
    try:
        raw = RawConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(_format_validation_error("", error)) from None
    config = CollectorConfig(
        receivers=_settings("receiver", "receivers", raw.receivers, factories),
        processors=_settings("processor", "processors", raw.processors, factories),
        exporters=_settings("exporter", "exporters", raw.exporters, factories),
        pipelines=raw.service.pipelines,
        telemetry=raw.service.telemetry,
    )
    _check_pipelines(config)
    return config


_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_REFERENCE = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def _expand_string(value: str, where: str, environ: Mapping[str, str]) -> Any:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        reference = _ENV_REFERENCE.fullmatch(match.group(1))
        if reference is None:
            raise ConfigError(f"{where}: unsupported reference {match.group(0)!r}; use ${{env:NAME}}")
        name, default = reference.groups()
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: environment variable {name} is not set (and {match.group(0)} has no :-default)"
        )

    expanded = _REFERENCE.sub(replace, value)
    if expanded == value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole is not None and whole.group(0) != "$$":
        try:
            return yaml.safe_load(expanded) if expanded.strip() else expanded
        except yaml.YAMLError:
            return expanded
    return expanded


def expand_env(node: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """Replace ``${env:VAR}`` references in every string value of a parsed document."""
    if isinstance(node, dict):
        return {
            key: expand_env(value, environ, f"{where}.{key}" if where else str(key))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [expand_env(value, environ, f"{where}[{index}]") for index, value in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        return _expand_string(node, where or "<root>", environ)
    return node


def load_config(
    path: Path | None, factories: dict[str, Factory], environ: Mapping[str, str] | None = None
) -> CollectorConfig:
    """Read ``path`` (or the defaults when None), expand ``${env:...}``, validate against ``factories``."""
    text = DEFAULT_CONFIG_YAML if path is None else path.read_text()
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    document = expand_env(document, os.environ if environ is None else environ)
    return build_config(document, factories)
