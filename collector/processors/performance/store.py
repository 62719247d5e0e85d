"""The label join store: predictions waiting for (or joined to) their labels, in SQLite (WAL).

Why SQLite: labels arrive hours or weeks after their predictions, so the pairs must outlive
restarts; one embedded file needs no server, commits a batch atomically, and a second
connection reads consistent snapshots (WAL) while the first writes. Every write commits
before the batch that carried it is acknowledged, so an acknowledged prediction or label
survives SIGTERM and kill -9. ``fsync: false`` is ``synchronous=NORMAL``: WAL commits are in
the OS page cache, so a power loss or kernel crash can roll back the last transactions before it
(never corrupt the file); ``fsync: true`` (``synchronous=FULL``) syncs the WAL at every commit.

Layout: ``predictions`` is a rowid table, so a batch appends at its end (rowids grow with
arrival), with a unique index on the id (the duplicate check and the label lookups) and one on
(stream, prediction time) for window reads. Expiry and size eviction walk rowid order, so there
is no expiry index (measured: a WITHOUT ROWID table keyed by the random id plus an expiry index
cost about half again as much CPU per insert; docs/performance.md).

Rows are small: the prediction id as 16 bytes, a stream number (model, version), the
prediction time in ms, the predicted value, probabilities as float32 bytes in the stream's
class order, the weight (1/sample rate, NULL = 1), a segment-set number, and the label and its
time once joined. Predictions expire ``prediction_ttl`` after they arrived, labels that came
before their prediction ``label_ttl`` after they arrived; beyond ``max_predictions`` /
``max_pending_labels`` the oldest arrivals are evicted. A duplicate prediction id keeps the
first row; the **first label of a prediction wins**, later ones are duplicates (conflicting when
they differ), so replaying a batch of labels changes nothing.
"""

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np

from modeltel.collector.processors.performance.label_values import Scalar
from modeltel.drift.columns import category_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    classes TEXT NOT NULL DEFAULT '[]', UNIQUE (model, version));
CREATE TABLE IF NOT EXISTS segment_sets (
    id INTEGER PRIMARY KEY, stream INTEGER NOT NULL, value TEXT NOT NULL, UNIQUE (stream, value));
CREATE TABLE IF NOT EXISTS predictions (
    id BLOB NOT NULL, stream INTEGER NOT NULL, time INTEGER NOT NULL, expires INTEGER NOT NULL,
    predicted, proba BLOB, weight REAL, segment INTEGER, label, label_time INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS predictions_by_id ON predictions (id);
CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions (stream, time);
CREATE TABLE IF NOT EXISTS pending_labels (
    id BLOB PRIMARY KEY, label NOT NULL, label_time INTEGER NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_by_expiry ON pending_labels (expires);
"""

_LAYOUT = 1  # PRAGMA user_version of this schema; 0: the first layout (WITHOUT ROWID, expiry index)

_FROM_FIRST_LAYOUT = (
    """
ALTER TABLE predictions RENAME TO predictions_first_layout;
DROP INDEX IF EXISTS predictions_by_time;
DROP INDEX IF EXISTS predictions_by_expiry;
"""
    + _SCHEMA
    + """
INSERT INTO predictions (id, stream, time, expires, predicted, proba, weight, segment, label, label_time)
    SELECT id, stream, time, expires, predicted, proba, weight, segment, label, label_time
    FROM predictions_first_layout ORDER BY expires;
DROP TABLE predictions_first_layout;
"""
)

_CHUNK = 900  # ids per IN (...) query, under SQLite's smallest variable limit (999)


@dataclass
class Stream:
    """One (model, version) as the store numbers it, with the class order of its probabilities."""

    id: int
    model: str
    version: str
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.index = {name: position for position, name in enumerate(self.classes)}


@dataclass
class NewPredictions:
    """Parallel columns of one batch's predictions, ready to insert."""

    ids: list[bytes] = field(default_factory=list)
    streams: list[int] = field(default_factory=list)
    times_ms: list[int] = field(default_factory=list)
    predicted: list[Scalar | None] = field(default_factory=list)
    proba: list[bytes | None] = field(default_factory=list)
    weights: list[float | None] = field(default_factory=list)
    segments: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Join:
    """A label met its prediction: what the delay histogram and the evaluation need."""

    stream: int
    delay_s: float


@dataclass
class PredictionOutcome:
    inserted: int = 0
    duplicates: int = 0
    evicted: int = 0
    joins: list[Join] = field(default_factory=list)


LabelStatus = str  # "joined" | "pending" | "duplicate" | "conflicting_duplicate"


@dataclass
class LabelOutcome:
    statuses: list[LabelStatus]
    joins: list[Join]
    evicted: int = 0


@dataclass
class Expired:
    predictions: int = 0
    unlabelled_predictions: int = 0
    labels: int = 0


@dataclass(frozen=True)
class StoredRows:
    """A stream's predictions in a prediction-time range, as columns (one query, no per-row objects)."""

    times_ms: list[int]
    predicted: list[Scalar | None]
    proba: list[bytes | None]
    weights: list[float | None]
    segments: list[int | None]
    labels: list[Scalar | None]
    label_times_ms: list[int | None]


def _same(a: Scalar, b: Scalar) -> bool:
    """Whether two labels name the same class or value (``1``, ``1.0`` and ``"1"`` do)."""
    return a == b or category_key(a) == category_key(b)


def _connect(path: Path, fsync: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def _create_or_upgrade(db: sqlite3.Connection) -> None:
    """Create the tables, or rewrite a first-layout store's predictions into this layout (in
    arrival order, one transaction: a crash during it leaves the old layout intact)."""
    (layout,) = db.execute("PRAGMA user_version").fetchone()
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'predictions'").fetchall()
    if layout > _LAYOUT:
        raise RuntimeError(f"join store layout {layout} is newer than this modeltel's ({_LAYOUT})")
    if layout == _LAYOUT or not exists:
        db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {_LAYOUT}; COMMIT;")
        return
    db.executescript(f"BEGIN IMMEDIATE; {_FROM_FIRST_LAYOUT} PRAGMA user_version = {_LAYOUT}; COMMIT;")


def _in_id_order(rows: Iterable[tuple], ids: list[bytes]) -> list[tuple]:
    """The rows sorted by id (stable: the first of duplicate ids stays first, so it is the one
    kept), so the id index is walked left to right and a batch dirties fewer of its pages."""
    rows = list(rows)
    joined = b"".join(ids)
    if not ids or len(joined) != 16 * len(ids):
        return rows
    return [rows[position] for position in np.frombuffer(joined, dtype="S16").argsort(kind="stable").tolist()]


def _chunks(values: Sequence, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


class JoinStore:
    """One SQLite file. Writers call from one thread at a time; :meth:`reader` opens a
    connection for another thread (the evaluation), which sees committed snapshots."""

    def __init__(
        self,
        path: Path,
        prediction_ttl_s: float,
        label_ttl_s: float,
        max_predictions: int,
        max_pending_labels: int,
        fsync: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fsync = fsync
        self._db = _connect(path, fsync)
        _create_or_upgrade(self._db)
        self._prediction_ttl = prediction_ttl_s
        self._label_ttl = label_ttl_s
        self._max_predictions = max_predictions
        self._max_pending = max_pending_labels
        self.clock = clock
        self.streams: dict[tuple[str, str], Stream] = {}
        self.streams_by_id: dict[int, Stream] = {}
        for stream_id, model, version, classes in self._db.execute(
            "SELECT id, model, version, classes FROM streams"
        ):
            self._remember(Stream(stream_id, model, version, json.loads(classes)))
        self._segment_ids: dict[tuple[int, str], int] = {}
        self.segment_values: dict[int, dict[str, str]] = {}
        self.segment_streams: dict[int, int] = {}
        for segment_id, stream_id, value in self._db.execute("SELECT id, stream, value FROM segment_sets"):
            self._segment_ids[(stream_id, value)] = segment_id
            self.segment_values[segment_id] = json.loads(value)
            self.segment_streams[segment_id] = stream_id
        self.predictions = self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        self.awaiting = self._db.execute("SELECT COUNT(*) FROM predictions WHERE label IS NULL").fetchone()[0]
        self.pending = self._db.execute("SELECT COUNT(*) FROM pending_labels").fetchone()[0]

    def reader(self) -> sqlite3.Connection:
        return _connect(self.path, self._fsync)

    def close(self) -> None:
        self._db.close()

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())

    # catalog ----------------------------------------------------------------------------

    def _remember(self, stream: Stream) -> None:
        self.streams[(stream.model, stream.version)] = stream
        self.streams_by_id[stream.id] = stream

    def stream(self, model: str, version: str) -> Stream:
        """The stream of (model, version), created (and committed) the first time it is seen."""
        stream = self.streams.get((model, version))
        if stream is None:
            self._db.execute("INSERT OR IGNORE INTO streams (model, version) VALUES (?, ?)", (model, version))
            (stream_id,) = self._db.execute(
                "SELECT id FROM streams WHERE model = ? AND version = ?", (model, version)
            ).fetchone()
            stream = Stream(stream_id, model, version)
            self._remember(stream)
        return stream

    def add_classes(self, stream: Stream, names: Sequence[str]) -> None:
        """Append classes to the stream's probability order (older rows read as 0 for them)."""
        for name in names:
            if name not in stream.index:
                stream.index[name] = len(stream.classes)
                stream.classes.append(name)
        self._db.execute(
            "UPDATE streams SET classes = ? WHERE id = ?", (json.dumps(stream.classes), stream.id)
        )

    def segment_set(self, stream: Stream, values: dict[str, str]) -> int:
        key = (stream.id, json.dumps(values, sort_keys=True, separators=(",", ":")))
        segment_id = self._segment_ids.get(key)
        if segment_id is None:
            self._db.execute("INSERT OR IGNORE INTO segment_sets (stream, value) VALUES (?, ?)", key)
            (segment_id,) = self._db.execute(
                "SELECT id FROM segment_sets WHERE stream = ? AND value = ?", key
            ).fetchone()
            self._segment_ids[key] = segment_id
            self.segment_values[segment_id] = dict(values)
            self.segment_streams[segment_id] = stream.id
        return segment_id

    # writes ---------------------------------------------------------------------------

    def add_predictions(self, rows: NewPredictions) -> PredictionOutcome:
        """Insert a batch (first row per id wins), join labels that were waiting, in one transaction."""
        outcome = PredictionOutcome()
        if not len(rows):
            return outcome
        now = self.clock()
        expires = round((now + self._prediction_ttl) * 1000)  # ms: eviction follows arrival
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO predictions"
                " (id, stream, time, expires, predicted, proba, weight, segment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _in_id_order(zip(rows.ids, rows.streams, rows.times_ms, [expires] * len(rows), rows.predicted,
                                 rows.proba, rows.weights, rows.segments, strict=True), rows.ids),
            )  # fmt: skip
            outcome.inserted = db.total_changes - before
            outcome.duplicates = len(rows) - outcome.inserted
            self.predictions += outcome.inserted
            self.awaiting += outcome.inserted
            if self.pending:
                outcome.joins = self._join_pending(rows)
            outcome.evicted = self._evict_predictions()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return outcome

    def _join_pending(self, rows: NewPredictions) -> list[Join]:
        waiting = []
        for chunk in _chunks(rows.ids):
            waiting += self._db.execute(
                f"SELECT id, label, label_time FROM pending_labels WHERE id IN ({_placeholders(len(chunk))})",
                chunk,
            ).fetchall()
        if not waiting:
            return []
        found = {row[0]: row for row in waiting}
        where = {
            i: (s, t) for i, s, t in zip(rows.ids, rows.streams, rows.times_ms, strict=True) if i in found
        }
        joins = self._apply(list(found.values()), where)
        self._db.executemany("DELETE FROM pending_labels WHERE id = ?", [(i,) for i in found])
        self.pending -= len(found)
        return joins

    def _apply(
        self,
        labels: list[tuple[bytes, Scalar, int]],
        where: dict[bytes, tuple[int, int]],
        rowids: dict[bytes, int] | None = None,
    ) -> list[Join]:
        """Set labels on predictions known to be unlabelled (``where``: their stream and time;
        ``rowids``: their rows, when known, so the update skips the id index)."""
        if rowids is None:
            self._db.executemany(
                "UPDATE predictions SET label = ?, label_time = ? WHERE id = ? AND label IS NULL",
                [(label, label_time, prediction_id) for prediction_id, label, label_time in labels],
            )
        else:
            updates = [(rowids[i], label, label_time) for i, label, label_time in labels]
            updates.sort(key=itemgetter(0))  # in table order: neighbouring rows share pages
            self._db.executemany(
                "UPDATE predictions SET label = ?2, label_time = ?3 WHERE rowid = ?1 AND label IS NULL",
                updates,
            )
        joins = []
        for prediction_id, _, label_time in labels:
            stream_id, time_ms = where[prediction_id]
            joins.append(Join(stream_id, max(0.0, (label_time - time_ms) / 1000.0)))
        self.awaiting -= len(joins)
        return joins

    def add_labels(self, labels: list[tuple[bytes, Scalar, int]]) -> LabelOutcome:
        """Join (id, label, label time ms) items to their predictions, or hold them until the
        prediction comes; one transaction. Statuses are per item, in order."""
        statuses: list[LabelStatus] = ["joined"] * len(labels)
        db = self._db
        first: dict[bytes, int] = {}
        for position, (prediction_id, label, _) in enumerate(labels):
            earlier = first.setdefault(prediction_id, position)
            if earlier != position:
                statuses[position] = (
                    "duplicate" if _same(labels[earlier][1], label) else "conflicting_duplicate"
                )
        unique = list(first)
        db.execute("BEGIN IMMEDIATE")
        try:
            stored: dict[bytes, Scalar | None] = {}
            where: dict[bytes, tuple[int, int]] = {}
            rowids: dict[bytes, int] = {}
            for chunk in _chunks(unique):
                for prediction_id, label, stream_id, time_ms, rowid in db.execute(
                    "SELECT id, label, stream, time, rowid FROM predictions"
                    f" WHERE id IN ({_placeholders(len(chunk))})",
                    chunk,
                ):
                    stored[prediction_id] = label
                    where[prediction_id] = (stream_id, time_ms)
                    rowids[prediction_id] = rowid
            held: dict[bytes, Scalar] = {}
            unknown = [i for i in unique if i not in stored]
            if self.pending and unknown:
                for chunk in _chunks(unknown):
                    held.update(
                        db.execute(
                            f"SELECT id, label FROM pending_labels WHERE id IN ({_placeholders(len(chunk))})",
                            chunk,
                        ).fetchall()
                    )
            to_join, to_hold = [], []
            for prediction_id in unique:
                position = first[prediction_id]
                label = labels[position][1]
                previous = stored.get(prediction_id, held.get(prediction_id))
                if previous is not None:
                    statuses[position] = "duplicate" if _same(previous, label) else "conflicting_duplicate"
                elif prediction_id in stored:
                    to_join.append(labels[position])
                else:
                    statuses[position] = "pending"
                    to_hold.append(labels[position])
            joins = self._apply(to_join, where, rowids) if to_join else []
            evicted = 0
            if to_hold:
                expires = round((self.clock() + self._label_ttl) * 1000)
                db.executemany(
                    "INSERT INTO pending_labels (id, label, label_time, expires) VALUES (?, ?, ?, ?)",
                    [(i, label, t, expires) for i, label, t in to_hold],
                )
                self.pending += len(to_hold)
                evicted = self._evict_pending()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return LabelOutcome(statuses, joins, evicted)

    def _evict_predictions(self) -> int:
        excess = self.predictions - self._max_predictions
        if excess <= 0:
            return 0
        (last,) = self._db.execute(
            "SELECT MAX(rowid) FROM (SELECT rowid FROM predictions ORDER BY rowid LIMIT ?)", (excess,)
        ).fetchone()  # rowids grow with arrival: the oldest arrivals come first
        unlabelled = self._db.execute(
            "SELECT COUNT(*) FROM predictions WHERE rowid <= ? AND label IS NULL", (last,)
        ).fetchone()[0]
        self._db.execute("DELETE FROM predictions WHERE rowid <= ?", (last,))
        self.predictions -= excess
        self.awaiting -= unlabelled
        return excess

    def _evict_pending(self) -> int:
        excess = self.pending - self._max_pending
        if excess <= 0:
            return 0
        self._db.execute(
            "DELETE FROM pending_labels WHERE id IN (SELECT id FROM pending_labels ORDER BY expires LIMIT ?)",
            (excess,),
        )
        self.pending -= excess
        return excess

    def expire(self) -> Expired:
        """Remove predictions and held labels past their TTL."""
        now = round(self.clock() * 1000)
        db = self._db
        expired = Expired()
        db.execute("BEGIN IMMEDIATE")
        try:
            live = db.execute(
                "SELECT rowid FROM predictions WHERE expires > ? ORDER BY rowid LIMIT 1", (now,)
            ).fetchone()  # arrival order: everything before the first live row has expired
            end = "" if live is None else f" AND rowid < {int(live[0])}"
            expired.unlabelled_predictions = db.execute(
                f"SELECT COUNT(*) FROM predictions WHERE expires <= ? AND label IS NULL{end}", (now,)
            ).fetchone()[0]
            expired.predictions = db.execute(
                f"DELETE FROM predictions WHERE expires <= ?{end}", (now,)
            ).rowcount
            expired.labels = db.execute("DELETE FROM pending_labels WHERE expires <= ?", (now,)).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.predictions -= expired.predictions
        self.awaiting -= expired.unlabelled_predictions
        self.pending -= expired.labels
        return expired


def read_rows(connection: sqlite3.Connection, stream: int, since_ms: int) -> StoredRows:
    """Every stored prediction of ``stream`` made at or after ``since_ms``, oldest first."""
    rows = connection.execute(
        "SELECT time, predicted, proba, weight, segment, label, label_time FROM predictions"
        " WHERE stream = ? AND time >= ? ORDER BY time",
        (stream, since_ms),
    ).fetchall()
    if not rows:
        return StoredRows([], [], [], [], [], [], [])
    columns = [list(column) for column in zip(*rows, strict=True)]
    return StoredRows(*columns)
