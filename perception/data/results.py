"""nuScenes detection results: the one conversion between our ``Boxes3D`` and results entries, and the file itself.

A results entry is a global-frame box as the devkit reads it: ``translation`` (3,), ``size`` (w, l, h),
``rotation`` wxyz quaternion of the yaw, ``velocity`` (vx, vy) in m/s, ``detection_name``, ``detection_score``,
``attribute_name``. A results file is ``{"meta": {...}, "results": {sample_token: [entry, ...]}}``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from calib.se3 import invert, quaternion_to_rotation, rotation_to_quaternion, yaw_of, yaw_rotation
from perception.boxes import Boxes3D
from calib.atomic import atomic_write_bytes
from perception.data.classes import (ATTRIBUTE_GROUP, ATTRIBUTES, CLASS_INDEX, DETECTION_CLASSES,
                                     MOVING_AND_STILL_ATTRIBUTE)
from perception.errors import DataError

MAX_BOXES_PER_SAMPLE = 500  # the devkit's limit (detection_cvpr_2019)
META_KEYS = ("use_camera", "use_lidar", "use_radar", "use_map", "use_external")
ENTRY_KEYS = ("sample_token", "translation", "size", "rotation", "velocity", "detection_name", "detection_score",
              "attribute_name")
VECTOR_LENGTHS = {"translation": 3, "size": 3, "rotation": 4, "velocity": 2}
MAX_LISTED_PROBLEMS = 5

VALID_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    name: tuple(a for a in ATTRIBUTES if a.split(".")[0] == group) if group else ("",)
    for name, group in ATTRIBUTE_GROUP.items()}
"""Attributes a box of each class may carry; cones and barriers carry none ('')."""

DEFAULT_ATTRIBUTE: dict[str, str] = {
    name: still[1] if still else "" for name, still in MOVING_AND_STILL_ATTRIBUTE.items()}
"""The attribute written for a box that has none: the static state of its class (results need one per class)."""


# --- Boxes3D <-> entries -------------------------------------------------------------------------------------------
def boxes_to_results(boxes: Boxes3D, global_from_ego: np.ndarray, sample_token: str) -> list[dict]:
    """Results entries of boxes (M, 9) given in the ego frame whose pose is ``global_from_ego`` (4, 4).

    Boxes without scores (ground truth) get score 1. Unknown (NaN) velocities are written as 0, since results
    must be finite; boxes without an attribute get ``DEFAULT_ATTRIBUTE`` of their class.
    """
    scores = np.ones(len(boxes)) if boxes.scores is None else boxes.scores
    entries = []
    for row, label, score, attribute in zip(boxes.transformed(global_from_ego).boxes, boxes.labels, scores,
                                            boxes.attributes):
        x, y, z, length, width, height, yaw, vx, vy = (float(v) for v in row)
        name = DETECTION_CLASSES[label]
        entries.append({
            "sample_token": sample_token,
            "translation": [x, y, z],
            "size": [width, length, height],
            "rotation": [float(q) for q in rotation_to_quaternion(yaw_rotation(yaw))],
            "velocity": [v if math.isfinite(v) else 0.0 for v in (vx, vy)],
            "detection_name": name,
            "detection_score": float(score),
            "attribute_name": attribute or DEFAULT_ATTRIBUTE[name],
        })
    return entries


def results_to_boxes(entries: list[dict], global_from_ego: np.ndarray) -> Boxes3D:
    """Boxes (M, 9) with scores and attributes in the ego frame of ``global_from_ego`` (4, 4) from results entries."""
    rows = [[*e["translation"], e["size"][1], e["size"][0], e["size"][2],
             yaw_of(quaternion_to_rotation(e["rotation"])), *e["velocity"]] for e in entries]
    global_boxes = Boxes3D(np.asarray(rows), np.asarray([CLASS_INDEX[e["detection_name"]] for e in entries]),
                           scores=np.asarray([e["detection_score"] for e in entries], dtype=np.float64),
                           attributes=[e["attribute_name"] for e in entries])
    return global_boxes.transformed(invert(global_from_ego))


# --- the file ------------------------------------------------------------------------------------------------------
def results_document(results: dict[str, list[dict]], use_camera: bool, use_lidar: bool) -> dict:
    """The results file content: ``meta`` (which sensors the detector used) and ``results`` per sample token."""
    meta = {"use_camera": bool(use_camera), "use_lidar": bool(use_lidar), "use_radar": False, "use_map": False,
            "use_external": False}
    return {"meta": meta, "results": results}


def write_results(path: str | Path, results: dict[str, list[dict]], use_camera: bool, use_lidar: bool) -> None:
    """Validate and write a results file atomically (readers never see a half-written file)."""
    document = results_document(results, use_camera, use_lidar)
    validate_results(document, path=path)
    atomic_write_bytes(path, json.dumps(document).encode())


def read_results(path: str | Path, sample_tokens: list[str] | None = None) -> dict:
    """Read and validate a results file; ``sample_tokens``, when given, must be exactly the samples it covers."""
    path = Path(path)
    if not path.is_file():
        raise DataError("results file does not exist", path)
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"not a JSON file: {error}", path) from None
    validate_results(document, sample_tokens, path)
    return document


# --- validation ----------------------------------------------------------------------------------------------------
def validate_results(data, sample_tokens: list[str] | None = None, path: str | Path | None = None) -> None:
    """Raise ``DataError`` naming ``path`` and the first few offending entries if ``data`` is not valid results.

    Checks the ``meta`` and ``results`` keys, that the samples are exactly ``sample_tokens`` (when given), at most
    ``MAX_BOXES_PER_SAMPLE`` boxes per sample, and every entry's keys, types, lengths, finiteness, class and
    attribute (which must be valid for the class).
    """
    if not isinstance(data, dict):
        raise DataError(f"results file must hold a JSON object, not {type(data).__name__}", path)
    missing = [key for key in ("meta", "results") if key not in data]
    if missing:
        raise DataError(f"results file lacks the key(s) {', '.join(missing)}", path)
    problems = _meta_problems(data["meta"])
    if not isinstance(data["results"], dict):
        raise DataError(f"'results' must map sample tokens to lists of boxes, not {type(data['results']).__name__}",
                        path)
    problems += _sample_token_problems(data["results"], sample_tokens)
    for token, entries in data["results"].items():
        if not isinstance(entries, list):
            problems.append(f"results['{token}'] = {_short(entries)}: must be a list of boxes")
            continue
        if len(entries) > MAX_BOXES_PER_SAMPLE:
            problems.append(f"results['{token}'] has {len(entries)} boxes: at most {MAX_BOXES_PER_SAMPLE} allowed")
        for index, entry in enumerate(entries):
            problems += [f"results['{token}'][{index}]{problem}" for problem in entry_problems(entry, token)]
    if problems:
        listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = f"; and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
        raise DataError(f"invalid nuScenes results ({len(problems)} problem(s)): {listed}{more}", path)


def _meta_problems(meta) -> list[str]:
    if not isinstance(meta, dict):
        return [f"meta = {_short(meta)}: must be an object with {', '.join(META_KEYS)}"]
    return [f"meta.{key} = {_short(meta.get(key))}: must be true or false"
            for key in META_KEYS if not isinstance(meta.get(key), bool)]


def _sample_token_problems(results: dict, sample_tokens: list[str] | None) -> list[str]:
    if sample_tokens is None:
        return []
    expected = set(sample_tokens)
    absent = [t for t in sample_tokens if t not in results]
    unknown = [t for t in results if t not in expected]
    problems = [f"results['{t}']: missing, a sample of the evaluated split" for t in absent]
    return problems + [f"results['{t}']: unknown sample token, not in the evaluated split" for t in unknown]


def entry_problems(entry, sample_token: str) -> list[str]:
    """What is wrong with one results entry filed under ``sample_token``, as ``".field = value: problem"``."""
    if not isinstance(entry, dict):
        return [f" = {_short(entry)}: must be an object"]
    problems = [f".{key}: missing" for key in ENTRY_KEYS if key not in entry]

    def wrong(key: str, problem: str) -> None:
        problems.append(f".{key} = {_short(entry[key])}: {problem}")

    if entry.get("sample_token", sample_token) != sample_token:
        wrong("sample_token", "differs from the sample it is filed under")
    for key, length in VECTOR_LENGTHS.items():
        if key not in entry:
            continue
        value = entry[key]
        if not (isinstance(value, list) and len(value) == length and all(map(_is_number, value))):
            wrong(key, f"must be a list of {length} numbers")
        elif not all(map(math.isfinite, value)):
            wrong(key, "must be finite")
        elif key == "size" and min(value) <= 0:
            wrong(key, "must be positive")
        elif key == "rotation" and math.hypot(*value) < 1e-6:
            wrong(key, "must be a non-zero quaternion")
    if "detection_score" in entry and not (_is_number(entry["detection_score"])
                                           and math.isfinite(entry["detection_score"])):
        wrong("detection_score", "must be a finite number")
    name = entry.get("detection_name")
    if "detection_name" in entry and not (isinstance(name, str) and name in CLASS_INDEX):
        wrong("detection_name", f"unknown class; one of {', '.join(DETECTION_CLASSES)}")
    if "attribute_name" in entry:
        attribute = entry["attribute_name"]
        if not isinstance(attribute, str) or (attribute not in ATTRIBUTES and attribute != ""):
            wrong("attribute_name", f"unknown attribute; one of {', '.join(ATTRIBUTES)} or ''")
        elif isinstance(name, str) and name in VALID_ATTRIBUTES and attribute not in VALID_ATTRIBUTES[name]:
            valid = ", ".join(map(repr, VALID_ATTRIBUTES[name]))
            wrong("attribute_name", f"not valid for {name}; use one of {valid}")
    return problems


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit - 3] + "..."
