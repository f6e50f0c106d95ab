"""A nuScenes scene as a recording: its lidar sweeps and camera images in time order, with their transforms.

Each sample_data record becomes one recorded message carrying the ego pose at its time (world → ego), the
sensor's mount (ego → sensor), and the sensor data (lidar points in the lidar frame, or the image file's bytes
with its intrinsics), named as nuscenes2mcap names them (frame = channel).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from perception.data.nuscenes import LIDAR_CHANNEL, NUSCENES_POINT_FIELDS, NuScenesDataset
from perception.data.sensor_files import read_lidar_bin, read_regular_file
from perception.errors import DataError
from perception.replay.events import CameraImage, CameraInfo, Fault, LidarSweep, Recorded, Transform
from perception.replay.topics import KEYFRAMES_METADATA, SCENE_METADATA, TopicMap

IMAGE_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
NS_PER_US = 1000


class NuScenesSource:
    """The sample_data of one scene. With ``keyframes_only``, just the keyframes' camera images and the lidar
    sweeps a keyframe accumulates (itself and its ``num_sweeps`` predecessors) are read."""

    def __init__(self, dataset: NuScenesDataset, scene_name: str, topics: TopicMap, keyframes_only: bool = False,
                 num_sweeps: int = 0):
        self.dataset, self.topics = dataset, topics
        self.scene = dataset.scene(scene_name)
        self.scene_name = scene_name
        if not self.scene["first_sample_token"]:
            raise DataError(f"scene '{scene_name}' has no samples (its first_sample_token is empty)",
                            dataset.nusc.table_path("scene"))
        first_sample = dataset.nusc.get("sample", self.scene["first_sample_token"])
        chains = [self._chain(token) for token in first_sample["data"].values()]
        self.records = sorted((sd for chain in chains for sd in self._selected(chain, keyframes_only, num_sweeps)),
                              key=lambda sd: sd["timestamp"])
        self.truncation = None
        self.skipped_chunks: list = []  # a recording's damaged chunks; tables have none
        self.expected_frames = sum(sd["sensor_modality"] == "lidar" and (sd["is_key_frame"] or not keyframes_only)
                                   for sd in self.records)

    def _chain(self, sample_data_token: str) -> list[dict]:
        """All sample_data of one channel in this scene, in time order (sweeps before the first keyframe too)."""
        nusc = self.dataset.nusc

        def in_scene(sd: dict) -> bool:
            return nusc.get("sample", sd["sample_token"])["scene_token"] == self.scene["token"]

        sd = nusc.get("sample_data", sample_data_token)
        while sd["prev"] and in_scene(nusc.get("sample_data", sd["prev"])):
            sd = nusc.get("sample_data", sd["prev"])
        chain = [sd]
        while chain[-1]["next"] and in_scene(nusc.get("sample_data", chain[-1]["next"])):
            chain.append(nusc.get("sample_data", chain[-1]["next"]))
        return chain

    @staticmethod
    def _selected(chain: list[dict], keyframes_only: bool, num_sweeps: int) -> list[dict]:
        """The records of a lidar or camera chain to read (radar is left out)."""
        if chain[0]["sensor_modality"] not in ("lidar", "camera"):
            return []
        if not keyframes_only:
            return chain
        if chain[0]["sensor_modality"] == "camera":
            return [sd for sd in chain if sd["is_key_frame"]]
        keys = [i for i, sd in enumerate(chain) if sd["is_key_frame"]]
        return [chain[i] for i in sorted({j for k in keys for j in range(max(0, k - num_sweeps), k + 1)})]

    def metadata(self) -> dict[str, dict[str, str]]:
        """MCAP metadata records: the scene, and the sample token of every keyframe sweep by its time."""
        keyframes = {str(sd["timestamp"] * NS_PER_US): sd["sample_token"] for sd in self.records
                     if sd["sensor_modality"] == "lidar" and sd["is_key_frame"]}
        return {SCENE_METADATA: {"name": self.scene["name"], "description": self.scene.get("description", ""),
                                 "dataset_version": self.dataset.version},
                KEYFRAMES_METADATA: keyframes}

    def __iter__(self) -> Iterator[Recorded]:
        for sd in self.records:
            yield self._recorded(sd)

    def _recorded(self, sd: dict) -> Recorded:
        nusc, topics = self.dataset.nusc, self.topics
        time_ns, channel = sd["timestamp"] * NS_PER_US, sd["channel"]
        recorded = Recorded(time_ns)
        path = self.dataset.dataroot / sd["filename"]
        try:  # a dangling pose or mount token, or an unreadable file, is this message's fault, not the replay's end
            ego_pose = nusc.get("ego_pose", sd["ego_pose_token"])
            mount = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
            recorded.events += [
                Transform(time_ns, topics.world_frame, topics.ego_frame, np.asarray(ego_pose["translation"], float),
                          np.asarray(ego_pose["rotation"], float)),
                Transform(time_ns, topics.ego_frame, channel, np.asarray(mount["translation"], float),
                          np.asarray(mount["rotation"], float))]
            if sd["sensor_modality"] == "lidar":
                points = read_lidar_bin(path, NUSCENES_POINT_FIELDS)[:, :4]
                token = sd["sample_token"] if sd["is_key_frame"] and channel == LIDAR_CHANNEL else ""
                truth = self.dataset.ground_truth(nusc.get("sample", token), self.dataset.global_from_ego(sd)) \
                    if token else None
                recorded.events.append(LidarSweep(time_ns, channel, points, token, truth))
            else:
                recorded.events += [
                    CameraInfo(time_ns, channel, channel, np.asarray(mount["camera_intrinsic"], float),
                               sd["width"], sd["height"]),
                    CameraImage(time_ns, channel, channel, read_regular_file(path, "image"), image_format(path),
                                topic=topics.camera(channel).image, log_time_ns=time_ns)]
        except DataError as error:
            topic = topics.lidar if sd["sensor_modality"] == "lidar" else topics.camera(channel).image
            recorded.fault = Fault("unreadable", topic, time_ns, str(error))
        return recorded


def image_format(path: Path) -> str:
    """Foxglove's CompressedImage format of an image file, from its extension."""
    if path.suffix.lower() not in IMAGE_FORMATS:
        raise DataError(f"unsupported image type '{path.suffix}'; one of {', '.join(IMAGE_FORMATS)}", path)
    return IMAGE_FORMATS[path.suffix.lower()]
