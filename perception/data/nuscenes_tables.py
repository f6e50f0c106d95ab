"""nuScenes-format databases: the 13 JSON tables read with their shape checked, and written with tokens and
record helpers.

Writing is used by the synthetic drive generator; every table is written atomically so an interrupted run never
leaves a half-written database that the devkit would misread.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from calib.atomic import atomic_write_bytes
from calib.se3 import rotation_to_quaternion
from perception.data.sensor_files import read_regular_file
from perception.errors import DataError

VISIBILITY_LEVELS = [("1", "v0-40", "visibility of whole object is between 0 and 40%"),
                     ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
                     ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
                     ("4", "v80-100", "visibility of whole object is between 80 and 100%")]


def make_token(*parts) -> str:
    """A deterministic 32-hex-digit token from any parts (same parts, same token)."""
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def read_table(path: Path, fields: set[str] = frozenset()) -> list[dict]:
    """The records of a table file: a JSON list of objects, each with a string ``token`` and the given ``fields``;
    DataError naming the file (and the first bad record) otherwise, e.g. for a table cut short by a copy."""
    try:
        records = json.loads(read_regular_file(path, "table"))
    except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
        raise DataError(f"not a valid JSON table (truncated?): {error}", path) from None
    if not isinstance(records, list):
        raise DataError(f"a table must be a JSON list of records, got a JSON {type(records).__name__}", path)
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("token"), str):
            raise DataError(f"record {index} is not an object with a string 'token': {str(record)[:80]}", path)
        if not fields <= record.keys():
            missing = ", ".join(sorted(fields - record.keys()))
            raise DataError(f"record '{record['token']}' lacks the field(s) {missing}", path)
    return records


def write_tables(table_dir: str | Path, tables: dict[str, list[dict]]) -> None:
    """Write each table as ``<table_dir>/<name>.json``."""
    for name, records in tables.items():
        atomic_write_bytes(Path(table_dir) / f"{name}.json", json.dumps(records, indent=0).encode())


def pose_record(parent_from_child: np.ndarray) -> dict:
    """``translation`` and wxyz ``rotation`` of a 4×4 pose, as nuScenes stores them."""
    return {"translation": [float(v) for v in parent_from_child[:3, 3]],
            "rotation": [float(v) for v in rotation_to_quaternion(parent_from_child[:3, :3])]}


def visibility_table() -> list[dict]:
    return [{"token": token, "level": level, "description": text} for token, level, text in VISIBILITY_LEVELS]


def visibility_token(fraction_visible: float) -> str:
    """nuScenes visibility bin of the visible fraction of an object."""
    return str(1 + int(np.searchsorted([0.4, 0.6, 0.8], fraction_visible, side="right")))


def link_chain(records: list[dict]) -> None:
    """Fill ``prev``/``next`` of records that are consecutive in time."""
    for i, record in enumerate(records):
        record["prev"] = records[i - 1]["token"] if i > 0 else ""
        record["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""
