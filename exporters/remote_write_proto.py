"""Prometheus remote-write 1.0 messages (``prometheus.WriteRequest``), built at import time.

The schema is Prometheus's ``prompb/remote.proto`` and ``prompb/types.proto`` (the subset
remote write 1.0 sends: labels, float samples, exemplars, metadata), frozen by the remote-write
1.0 specification. It is declared here as a ``FileDescriptorProto`` and turned into message
classes by protobuf's own ``message_factory``: no generated code to keep in step with the
protobuf runtime, and no build step. The one PyPI package shipping generated ``prompb`` code
(opentelemetry-exporter-prometheus-remote-write) pins an old protobuf major version.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: int, repeated: bool = False, type_name: str = "") -> _F:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:  # set only for message and enum fields (proto2 presence)
        field.type_name = type_name
    return field


def _message(name: str, *fields: _F) -> descriptor_pb2.DescriptorProto:
    return descriptor_pb2.DescriptorProto(name=name, field=list(fields))


def _file() -> descriptor_pb2.FileDescriptorProto:
    metric_type = descriptor_pb2.EnumDescriptorProto(
        name="MetricType",
        value=[
            descriptor_pb2.EnumValueDescriptorProto(name=name, number=number)
            for number, name in enumerate(
                ["UNKNOWN", "COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY", "INFO", "STATESET"]
            )
        ],
    )
    metadata = _message(
        "MetricMetadata",
        _field("type", 1, _F.TYPE_ENUM, type_name=".prometheus.MetricMetadata.MetricType"),
        _field("metric_family_name", 2, _F.TYPE_STRING),
        _field("help", 4, _F.TYPE_STRING),
        _field("unit", 5, _F.TYPE_STRING),
    )
    metadata.enum_type.append(metric_type)
    return descriptor_pb2.FileDescriptorProto(
        name="modeltel/prometheus_remote_write.proto",
        package="prometheus",
        syntax="proto3",
        message_type=[
            _message("Label", _field("name", 1, _F.TYPE_STRING), _field("value", 2, _F.TYPE_STRING)),
            _message("Sample", _field("value", 1, _F.TYPE_DOUBLE), _field("timestamp", 2, _F.TYPE_INT64)),
            _message(
                "Exemplar",
                _field("labels", 1, _F.TYPE_MESSAGE, True, ".prometheus.Label"),
                _field("value", 2, _F.TYPE_DOUBLE),
                _field("timestamp", 3, _F.TYPE_INT64),
            ),
            _message(
                "TimeSeries",
                _field("labels", 1, _F.TYPE_MESSAGE, True, ".prometheus.Label"),
                _field("samples", 2, _F.TYPE_MESSAGE, True, ".prometheus.Sample"),
                _field("exemplars", 3, _F.TYPE_MESSAGE, True, ".prometheus.Exemplar"),
            ),
            metadata,
            _message(
                "WriteRequest",
                _field("timeseries", 1, _F.TYPE_MESSAGE, True, ".prometheus.TimeSeries"),
                _field("metadata", 3, _F.TYPE_MESSAGE, True, ".prometheus.MetricMetadata"),
            ),
        ],
    )


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())


def _class(name: str) -> type:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"prometheus.{name}"))


Label = _class("Label")
Sample = _class("Sample")
Exemplar = _class("Exemplar")
TimeSeries = _class("TimeSeries")
MetricMetadata = _class("MetricMetadata")
WriteRequest = _class("WriteRequest")
