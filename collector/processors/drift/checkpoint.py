"""Checkpoints of the drift processor's state: one JSON file, replaced atomically.

The file is written to a temporary name in the same directory, flushed to disk and renamed
over the previous checkpoint with ``os.replace``, so a crash leaves the old or the new file,
never a torn one. A checkpoint that cannot be read is logged and ignored: the processor
starts empty rather than not at all.
"""

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

_log = logging.getLogger("modeltel.collector")
FORMAT = 1


def write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    data = orjson.dumps({"format": FORMAT, **state}, option=orjson.OPT_SERIALIZE_NUMPY)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it is unusable (logged)."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as error:
        _log.warning("drift: checkpoint %s ignored, starting empty: %s", path, error)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        _log.warning("drift: checkpoint %s ignored, starting empty: unknown format", path)
        return None
    return data
