"""nuScenes (and nuScenes-format) datasets as ``Frame``s, read through nuscenes-devkit.

Works with any version folder (``v1.0-mini``, ``v1.0-trainval``, or a custom one such as our synthetic sets) and
with official or custom splits (``<dataroot>/<version>/splits.json``).
"""
from __future__ import annotations

import contextlib
import difflib
import io
from pathlib import Path
from typing import Iterator

import numpy as np
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.splits import create_splits_scenes, get_scenes_of_custom_split

from calib import CalibrationError, Rig
from calib.nuscenes import camera_from_nuscenes, lidar_from_nuscenes, pose_from_record
from calib.se3 import invert, yaw_of
from perception.boxes import Boxes3D
from perception.data.classes import CLASS_INDEX, detection_class_of
from perception.data.frame import Frame, camera_at_lidar_time, sweep_points
from perception.data.nuscenes_tables import read_table
from perception.data.sensor_files import image_size_mismatch, read_image, read_lidar_bin
from perception.errors import DataError

TABLE_FIELDS = {
    "attribute": {"token", "name"},
    "calibrated_sensor": {"token", "sensor_token", "translation", "rotation", "camera_intrinsic"},
    "category": {"token", "name"},
    "ego_pose": {"token", "translation", "rotation"},
    "instance": {"token", "category_token"},
    "log": {"token"},
    "map": {"token", "log_tokens", "filename"},
    "sample": {"token", "scene_token", "timestamp", "prev", "next"},
    "sample_annotation": {"token", "sample_token", "instance_token", "attribute_tokens", "translation", "size",
                          "rotation", "num_lidar_pts", "prev", "next"},
    "sample_data": {"token", "sample_token", "ego_pose_token", "calibrated_sensor_token", "timestamp", "filename",
                    "is_key_frame", "width", "height", "prev", "next"},
    "scene": {"token", "name", "first_sample_token"},
    "sensor": {"token", "channel", "modality"},
    "visibility": {"token"},
}
"""The 13 tables and the fields of their records that nuscenes-devkit and this loader read."""
TABLES = tuple(TABLE_FIELDS)
LIDAR_CHANNEL = "LIDAR_TOP"
NUSCENES_POINT_FIELDS = 5  # x, y, z, intensity, ring index
US = 1e-6


def versions_in(dataroot: Path) -> list[str]:
    """Names of the version folders (those holding a ``sample.json`` table) under a dataroot."""
    return sorted(p.name for p in dataroot.glob("*/") if (p / "sample.json").exists())


def find_version(dataroot: Path) -> str:
    """The one version folder of a dataroot; ``DataError`` when it holds none or several."""
    found = versions_in(dataroot)
    if len(found) != 1:
        raise DataError("no nuScenes version folder (with sample.json) here" if not found else
                        f"several nuScenes versions here ({', '.join(found)}); choose one with --version", dataroot)
    return found[0]


class CheckedNuScenes(NuScenes):
    """nuscenes-devkit's database, with each table's shape checked as it is read (``read_table``) and a lookup of a
    token that is not in its table (a dangling reference) raising DataError naming the table file and the token."""

    def __load_table__(self, table_name: str) -> list[dict]:
        """One of the 13 tables, checked to hold the fields read from it; others (lidarseg, image_annotations, ...) as
        the devkit reads them."""
        if table_name not in TABLE_FIELDS:
            return super().__load_table__(table_name)
        return read_table(self.table_path(table_name), TABLE_FIELDS[table_name])

    def table_path(self, table_name: str) -> Path:
        return Path(self.table_root) / f"{table_name}.json"

    def get(self, table_name: str, token: str) -> dict:
        try:
            return super().get(table_name, token)
        except KeyError:
            raise DataError(f"no {table_name} record with token '{token}' (a dangling reference)",
                            self.table_path(table_name)) from None

    @contextlib.contextmanager
    def naming_record(self, table_name: str, token: str):
        """Calibration errors raised inside name the table file and the token of the record they come from."""
        try:
            yield
        except CalibrationError as error:
            raise CalibrationError(error.reason, str(self.table_path(table_name)),
                                   f"{error.field or table_name} of token '{token}'") from None


class NuScenesDataset:
    """A nuScenes-format dataset: scenes, keyframes and ``Frame``s with up to ``num_sweeps`` past lidar sweeps.

    ``dataset[i]`` is the ``Frame`` of the i-th keyframe of all scenes in scene and time order; ``len(dataset)``
    counts them. ``version`` None finds the version folder when the dataroot holds exactly one.
    """

    def __init__(self, dataroot: str | Path, version: str | None = None, num_sweeps: int = 0):
        self.dataroot = Path(dataroot)
        if not self.dataroot.is_dir():
            raise DataError("dataset root does not exist" if not self.dataroot.exists() else
                            "dataset root is not a folder", self.dataroot)
        self.version = version or find_version(self.dataroot)
        self.num_sweeps = int(num_sweeps)
        table_dir = self.dataroot / self.version
        if not table_dir.is_dir():
            found = versions_in(self.dataroot)
            raise DataError(f"no nuScenes version folder '{self.version}' here"
                            + (f"; versions found: {', '.join(found)}" if found else ""), self.dataroot)
        missing = [t for t in TABLES if not (table_dir / f"{t}.json").is_file()]
        if missing:
            raise DataError(f"missing nuScenes tables: {', '.join(missing)}", table_dir)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.nusc = CheckedNuScenes(version=self.version, dataroot=str(self.dataroot), verbose=False)
        except DataError:
            raise
        except (ValueError, KeyError, IndexError, TypeError, AssertionError) as error:  # e.g. a record lacks a field
            raise DataError(f"nuscenes-devkit cannot read this database: {error!r}", table_dir) from None
        self._scene_by_name = {scene["name"]: scene for scene in self.nusc.scene}
        self._all_tokens: list[str] | None = None

    def __len__(self) -> int:
        return len(self.all_sample_tokens())

    def __getitem__(self, index: int) -> Frame:
        tokens = self.all_sample_tokens()
        if not -len(tokens) <= index < len(tokens):
            raise IndexError(f"keyframe index {index} out of range: {self.dataroot / self.version} has {len(tokens)}")
        return self.frame(tokens[index])

    def all_sample_tokens(self, split: str | None = None) -> list[str]:
        """Keyframe tokens of every scene (or of a split's scenes) in scene and time order."""
        if split is not None:
            return [token for scene in self.scene_names(split) for token in self.sample_tokens(scene)]
        if self._all_tokens is None:
            self._all_tokens = [token for scene in self.scene_names() for token in self.sample_tokens(scene)]
        return self._all_tokens

    # --- scenes and samples ---------------------------------------------------------------------------------------
    def scene_names(self, split: str | None = None) -> list[str]:
        """All scene names, or those of an official split or of a custom split in ``splits.json``."""
        if split is None:
            return list(self._scene_by_name)
        official = create_splits_scenes()
        if split in official:
            names = official[split]
        else:
            try:
                names = get_scenes_of_custom_split(split, self.nusc)
            except ValueError as error:
                raise DataError(str(error), self.dataroot / self.version / "splits.json") from None
        return [n for n in names if n in self._scene_by_name]

    def scene(self, name: str) -> dict:
        if name not in self._scene_by_name:
            close = difflib.get_close_matches(name, self._scene_by_name, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                f"; it has {len(self._scene_by_name)} scenes, e.g. {', '.join(list(self._scene_by_name)[:3])}"
            raise DataError(f"no scene named '{name}'{hint}", self.dataroot / self.version / "scene.json")
        return self._scene_by_name[name]

    def sample_tokens(self, scene_name: str) -> list[str]:
        """Keyframe (sample) tokens of a scene in time order."""
        tokens, token = [], self.scene(scene_name)["first_sample_token"]
        while token:
            tokens.append(token)
            token = self.nusc.get("sample", token)["next"]
        return tokens

    def frames(self, scene_names: list[str] | None = None, load_images: bool = True) -> Iterator[Frame]:
        for name in scene_names or self.scene_names():
            for token in self.sample_tokens(name):
                yield self.frame(token, load_images=load_images)

    def camera_channels(self, sample_token: str) -> list[str]:
        """Camera channels of a keyframe, in the order its ``Frame``'s rig lists them (read from the tables only)."""
        sample = self.nusc.get("sample", sample_token)
        return [channel for channel, sd_token in sample["data"].items()
                if self.nusc.get("sample_data", sd_token)["sensor_modality"] == "camera"]

    # --- one frame --------------------------------------------------------------------------------------------------
    def frame(self, sample_token: str, load_images: bool = True) -> Frame:
        """The ``Frame`` of a keyframe: lidar sweeps, cameras, rig with ego-motion-compensated cameras, GT boxes."""
        sample = self.nusc.get("sample", sample_token)
        if LIDAR_CHANNEL not in sample["data"]:
            raise DataError(f"sample '{sample_token}' has no {LIDAR_CHANNEL} keyframe in sample_data",
                            self.nusc.table_path("sample_data"))
        lidar_sd = self.nusc.get("sample_data", sample["data"][LIDAR_CHANNEL])
        global_from_ego = self.global_from_ego(lidar_sd)
        timestamp = lidar_sd["timestamp"] * US
        lidar_mount = lidar_sd["calibrated_sensor_token"]
        with self.nusc.naming_record("calibrated_sensor", lidar_mount):
            lidar = lidar_from_nuscenes(LIDAR_CHANNEL, self.nusc.get("calibrated_sensor", lidar_mount))

        cameras, images, camera_times = {}, {}, {}
        for channel, sd_token in sample["data"].items():
            sd = self.nusc.get("sample_data", sd_token)
            if sd["sensor_modality"] != "camera":
                continue
            mount_token = sd["calibrated_sensor_token"]
            with self.nusc.naming_record("calibrated_sensor", mount_token):
                camera = camera_from_nuscenes(channel, self.nusc.get("calibrated_sensor", mount_token), sd["width"],
                                              sd["height"])
            cameras[channel] = camera_at_lidar_time(camera, invert(global_from_ego), self.global_from_ego(sd))
            camera_times[channel] = sd["timestamp"] * US
            if load_images:
                images[channel] = self.camera_image(sd)
        scene = self.nusc.get("scene", sample["scene_token"])
        return Frame(token=sample_token, timestamp=timestamp, points=self.accumulate_sweeps(lidar_sd, global_from_ego),
                     images=images, rig=Rig(cameras=cameras, lidar=lidar), global_from_ego=global_from_ego,
                     boxes=self.ground_truth(sample, global_from_ego), scene_name=scene["name"],
                     camera_timestamps=camera_times)

    def camera_image(self, sample_data: dict) -> np.ndarray:
        """The RGB image (H, W, 3) of a camera sample_data; DataError naming the file when it cannot be read or its
        size is not the one of the record (the intrinsics would not fit it)."""
        path = self.dataroot / sample_data["filename"]
        image = read_image(path)
        mismatch = image_size_mismatch(image, sample_data["width"], sample_data["height"])
        if mismatch:
            raise DataError(f"image {mismatch} (sample_data '{sample_data['token']}')", path)
        return image

    def global_from_ego(self, sample_data: dict) -> np.ndarray:
        return self.pose("ego_pose", sample_data["ego_pose_token"])

    def pose(self, table_name: str, token: str) -> np.ndarray:
        """``parent_from_child`` (4, 4) of an ego_pose, calibrated_sensor or sample_annotation record; an unusable
        one is a CalibrationError naming the table file and the token."""
        with self.nusc.naming_record(table_name, token):
            return pose_from_record(self.nusc.get(table_name, token), table_name)

    def accumulate_sweeps(self, keyframe_sd: dict, global_from_ego: np.ndarray) -> np.ndarray:
        """Points (N, 5) of the keyframe and up to ``num_sweeps`` earlier sweeps in the keyframe's ego frame.

        Each sweep is moved by the ego motion between its time and the keyframe's, so static structure lines up.
        """
        ego_from_global = invert(global_from_ego)
        clouds, sd = [], keyframe_sd
        for _ in range(self.num_sweeps + 1):
            raw = read_lidar_bin(self.dataroot / sd["filename"], NUSCENES_POINT_FIELDS)
            ego_from_lidar = self.pose("calibrated_sensor", sd["calibrated_sensor_token"])
            key_from_lidar = ego_from_global @ self.global_from_ego(sd) @ ego_from_lidar
            clouds.append(sweep_points(raw, key_from_lidar, (keyframe_sd["timestamp"] - sd["timestamp"]) * US))
            if not sd["prev"]:
                break
            sd = self.nusc.get("sample_data", sd["prev"])
        return np.concatenate(clouds)

    def ground_truth(self, sample: dict, global_from_ego: np.ndarray) -> Boxes3D:
        """GT boxes of the 10 detection classes in the ego frame (other categories are left out)."""
        ego_from_global = invert(global_from_ego)
        rows, labels, attributes, num_points, tokens = [], [], [], [], []
        for token in sample["anns"]:
            ann = self.nusc.get("sample_annotation", token)
            name = detection_class_of(ann["category_name"])
            if name is None:
                continue
            global_from_box = self.pose("sample_annotation", token)
            ego_from_box = ego_from_global @ global_from_box
            width, length, height = ann["size"]
            velocity = ego_from_global[:3, :3] @ self.nusc.box_velocity(token)
            rows.append([*ego_from_box[:3, 3], length, width, height, yaw_of(ego_from_box[:3, :3]), *velocity[:2]])
            labels.append(CLASS_INDEX[name])
            attributes.append(self.nusc.get("attribute", ann["attribute_tokens"][0])["name"]
                              if ann["attribute_tokens"] else "")
            num_points.append(ann["num_lidar_pts"])
            tokens.append(token)
        if not rows:
            return Boxes3D.empty()
        return Boxes3D(np.asarray(rows), np.asarray(labels), attributes=attributes,
                       num_lidar_pts=np.asarray(num_points), tokens=tokens)
