"""Every timestamp form the replay docs accept, and the errors for the rest."""

from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from modeltel.replay.timestamps import TimestampError, to_unix_nanos

NOON = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z


def column(values: list, kind: pa.DataType | None = None) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values, type=kind)])


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["2024-05-01T12:00:00Z"], None),
        (["2024-05-01T14:00:00+02:00"], None),
        (["2024-05-01 12:00:00"], None),  # no zone: UTC
        ([datetime(2024, 5, 1, 12)], pa.timestamp("us")),  # naive Arrow/Parquet time: UTC
        ([datetime(2024, 5, 1, 14, tzinfo=timezone.utc).replace(hour=12)], pa.timestamp("ms", "UTC")),
        ([1_714_564_800], pa.int64()),  # seconds
        ([1_714_564_800.0], pa.float64()),
        ([1_714_564_800_000], pa.int64()),  # milliseconds
        ([1_714_564_800_000_000], pa.int64()),  # microseconds
        ([NOON], pa.int64()),  # nanoseconds
    ],
)
def test_accepted_forms(values: list, kind: pa.DataType | None) -> None:
    assert to_unix_nanos(column(values, kind), "t").tolist() == [NOON]


def test_dates_fractions_and_mixed_zones() -> None:
    assert to_unix_nanos(column([date(2024, 5, 1)]), "t").tolist() == [NOON - 12 * 3600 * 10**9]
    assert to_unix_nanos(column([1_714_564_800.25]), "t").tolist() == [NOON + 250_000_000]
    mixed = ["2024-05-01T12:00:00.5Z", "2024-05-01T13:00:00+01:00"]
    assert to_unix_nanos(column(mixed), "t").tolist() == [NOON + 500_000_000, NOON]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["2024-05-01", "soon"], "row 2: t is 'soon', not an ISO 8601 time"),
        (["2024-05-01", None], "row 2: t is empty"),
        ([1.0, float("nan")], "row 2: t is nan, not a time"),
        ([1.0, float("inf")], "row 2: t is inf, not a time"),
        ([True], "expected times, ISO 8601 text or epoch numbers"),
    ],
)
def test_bad_cells_name_their_row(values: list, message: str) -> None:
    with pytest.raises(TimestampError, match=message.replace("(", r"\(")):
        to_unix_nanos(column(values), "t")
