"""Turn the real nuScenes keyframe in ``shared/data/real/nuscenes_mmdet3d_demo`` into a devkit-loadable database.

The shared copy holds the real sensor files and real calibration/pose records of one scene-0061 keyframe but no
annotation, instance, log or map tables. We add those from the mmdetection3d info export of the same keyframe
(its 69 GT boxes, given in the LIDAR_TOP frame, moved to the global frame) and link the sensor folders, so
nuscenes-devkit and our loader read the real frame unchanged.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from calib.se3 import make_transform, yaw_rotation
from perception.data.classes import CLASS_CATEGORY
from perception.data.nuscenes_tables import make_token, pose_record, visibility_table, write_tables

REAL_DATA_ENV = "PERCEPTION_REAL_DATA"
"""Where the real recorded data lives; default ``../shared/data/real`` next to the repository."""
REQUIRE_REAL_DATA_ENV = "PERCEPTION_REQUIRE_REAL_DATA"
"""Set to 1 (CI does) to fail, instead of skip, a test whose real data is missing."""
REAL_ROOT = Path(os.environ.get(REAL_DATA_ENV) or Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
DEMO = REAL_ROOT / "nuscenes_mmdet3d_demo"
VERSION = "v1.0-real"
OTHER_CATEGORY = "movable_object.debris"  # the one box outside the 10 detection classes


def require_real_data(path: Path, what: str) -> Path:
    """``path`` if it exists; otherwise skip the test (a user's clone has no shared data), or fail it when
    ``PERCEPTION_REQUIRE_REAL_DATA`` is set (CI has the data, so a missing copy there is an error, not a skip)."""
    if path.is_dir():
        return path
    reason = f"{what} not found at {path} (shared data is not in a user's clone; set {REAL_DATA_ENV} to its folder)"
    if os.environ.get(REQUIRE_REAL_DATA_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason}, and {REQUIRE_REAL_DATA_ENV} requires it", pytrace=False)
    pytest.skip(reason)


def _load(name: str) -> list[dict]:
    return json.loads((DEMO / "v1.0-mini-subset" / f"{name}.json").read_text())


def build_real_nuscenes(out: Path) -> Path:
    """Write the database into ``out`` (tables in ``out/v1.0-real``, ``samples`` linked) and return ``out``."""
    info = json.loads((DEMO / "infos" / "n015-2018-07-24-11-22-45+0800.json").read_text())["data_list"][0]
    tables = {name: _load(name) for name in ("attribute", "calibrated_sensor", "category", "ego_pose", "sample",
                                             "sample_data", "scene", "sensor")}
    tables["visibility"] = visibility_table()
    scene, sample = tables["scene"][0], tables["sample"][0]
    log_token, map_token = scene["log_token"], make_token("map", scene["log_token"])
    scene.update(first_sample_token=sample["token"], last_sample_token=sample["token"], nbr_samples=1)
    sample.update(prev="", next="")
    for sd in tables["sample_data"]:
        sd.update(prev="", next="")
    tables["log"] = [{"token": log_token, "logfile": "n015-2018-07-24-11-22-45+0800", "vehicle": "n015",
                      "date_captured": "2018-07-24", "location": "singapore-onenorth", "map_token": map_token}]
    (out / "maps").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "maps" / "blank.png"), np.zeros((8, 8), np.uint8))
    tables["map"] = [{"token": map_token, "log_tokens": [log_token], "category": "semantic_prior",
                      "filename": "maps/blank.png"}]

    category_token = {c["name"]: c["token"] for c in tables["category"]}
    global_from_lidar = np.asarray(info["ego2global"]) @ np.asarray(info["lidar_points"]["lidar2ego"])
    tables["instance"], tables["sample_annotation"] = [], []
    for i, box in enumerate(info["instances"]):
        x, y, z, length, width, height, yaw = box["bbox_3d"]
        global_from_box = global_from_lidar @ make_transform(yaw_rotation(yaw), [x, y, z])
        category = CLASS_CATEGORY.get(box["bbox_label_3d_name"], OTHER_CATEGORY)
        instance, annotation = make_token("instance", i), make_token("annotation", i)
        tables["instance"].append({"token": instance, "category_token": category_token[category], "nbr_annotations": 1,
                                   "first_annotation_token": annotation, "last_annotation_token": annotation})
        tables["sample_annotation"].append({
            "token": annotation, "sample_token": sample["token"], "instance_token": instance,
            "visibility_token": "4", "attribute_tokens": [], **pose_record(global_from_box),
            "size": [width, length, height], "prev": "", "next": "",
            "num_lidar_pts": box["num_lidar_pts"], "num_radar_pts": box["num_radar_pts"]})
    write_tables(out / VERSION, tables)
    samples = out / "samples"
    if not samples.exists():
        samples.symlink_to(DEMO / "samples", target_is_directory=True)
    return out
