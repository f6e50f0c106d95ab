"""Write synthetic drives as a nuScenes-format dataset that nuscenes-devkit (loader and evaluator) reads unchanged.

Timing follows nuScenes: lidar sweeps at 20 Hz, a keyframe (sample) every 10th sweep (2 Hz), the six cameras fire
when the spinning lidar passes their azimuth (up to 50 ms before the keyframe). Each keyframe gets all 13 tables'
records; annotations carry real ``num_lidar_pts`` (points of the keyframe sweep inside the box, counted on the
written files as our loader reads them, so both agree to the point) and a visibility level from rays cast at the
object.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from calib import Camera, Rig, load_rig
from calib.atomic import atomic_write_bytes
from calib.boxes import points_in_boxes
from calib.se3 import make_transform, yaw_rotation
from perception.data.classes import ATTRIBUTES, CLASS_CATEGORY
from perception.data.nuscenes import NuScenesDataset
from perception.data.nuscenes_tables import (link_chain, make_token, pose_record,
                                             visibility_table, visibility_token, write_tables)
from perception.errors import DataError
from perception.sim.sensors import EgoBody, SpinningLidarModel, cast_lidar, render_camera
from perception.sim.world import World, make_world

DEFAULT_RIG = Path(__file__).resolve().parents[2] / "configs" / "rigs" / "nuscenes.yaml"
SWEEP_PERIOD_S = 0.05  # 20 Hz lidar
SWEEPS_PER_KEYFRAME = 10  # keyframes at 2 Hz
SWEEP_END_AZIMUTH = np.deg2rad(110.0)  # azimuth (ego frame) where a sweep ends; nuScenes' lidar spins clockwise
ANNOTATION_RANGE_M = 75.0
START_TIME_US = 1_600_000_000_000_000
MAP_RESOLUTION_M = 0.1  # what the devkit's MapMask assumes
MAP_MARGIN_M = 80.0
VISIBILITY_SAMPLES = 27
NUSCENES_CAR_BODY = (-0.8, -0.87, 0.3, 3.3, 0.87, 1.56)
"""The nuScenes car (a Renault Zoe, 4.1 x 1.7 x 1.6 m) in its ego frame (rear axle on the ground): x, y, z min then
max. Inside the ``lidar.ego_box`` the shipped model configs filter."""


@dataclass
class SynthOptions:
    """What to generate. ``sweeps``: non-key lidar sweeps written before each keyframe (0..9; 9 = full 20 Hz);
    ``camera_scale``: images rendered at this fraction of the rig's resolution (intrinsics scaled to match), e.g.
    0.25 for training sets of a network that reads 352-pixel-wide inputs; ``ego_body``: the sensor vehicle's body
    box the lidar sees (None: no body returns)."""

    out: Path
    scenes: int = 2
    frames: int = 10
    seed: int = 0
    rig_path: Path = DEFAULT_RIG
    sweeps: int = 9
    version: str = "v1.0-synth"
    val_scenes: int | None = None  # default: a fifth of the scenes (at least one when there are two or more)
    lidar: SpinningLidarModel = field(default_factory=SpinningLidarModel)
    camera_scale: float = 1.0
    ego_body: tuple[float, ...] | None = NUSCENES_CAR_BODY


def camera_offsets_s(rig: Rig) -> dict[str, float]:
    """Trigger time of each camera relative to the sweep's timestamp: when the clockwise beam passes its axis."""
    offsets = {}
    for name, camera in rig.cameras.items():
        axis = camera.ego_from_camera[:3, 2]
        azimuth = np.arctan2(axis[1], axis[0])
        swept = (azimuth - SWEEP_END_AZIMUTH) % (2 * np.pi)  # angle still to sweep after the camera fires
        offsets[name] = -SWEEP_PERIOD_S * swept / (2 * np.pi)
    return offsets


def generate_dataset(options: SynthOptions, progress: bool = True) -> Path:
    """Generate ``options.scenes`` scenes of ``options.frames`` keyframes into ``options.out``; return the root."""
    if not 0 <= options.sweeps < SWEEPS_PER_KEYFRAME:
        raise DataError(f"non-key sweeps must be in 0..{SWEEPS_PER_KEYFRAME - 1}, got {options.sweeps}")
    if options.scenes < 1 or options.frames < 1:
        raise DataError(f"scenes and frames must be at least 1, got {options.scenes} and {options.frames}")
    if options.val_scenes is not None and not 0 <= options.val_scenes <= options.scenes:
        raise DataError(f"validation scenes must be in 0..{options.scenes} (the scenes), got {options.val_scenes}")
    if not 0 < options.camera_scale <= 1:
        raise DataError(f"camera_scale must be in (0, 1], got {options.camera_scale}")
    rig = load_rig(options.rig_path)
    out = Path(options.out)
    tables = static_tables(rig)
    bar = tqdm(total=options.scenes * options.frames, unit="frame", desc="synth", disable=not progress)
    names = []
    for index in range(options.scenes):
        names.append(SceneWriter(out, options, rig, index, tables).write(bar))
    bar.close()
    write_tables(out / options.version, tables)
    count_lidar_points(out, options.version, tables)
    atomic_write_bytes(out / options.version / "splits.json", json.dumps(splits(names, options.val_scenes),
                                                                          indent=1).encode())
    return out


def scaled_camera(camera: Camera, scale: float) -> Camera:
    """``camera`` with its image resized by ``scale``: intrinsics, width and height (pixel coordinates with the
    origin at the image corner scale with it)."""
    return dataclasses.replace(camera, intrinsics=np.diag([scale, scale, 1.0]) @ camera.intrinsics,
                               width=round(camera.width * scale), height=round(camera.height * scale))


def count_lidar_points(out: Path, version: str, tables: dict[str, list[dict]]) -> None:
    """Fill ``num_lidar_pts``: keyframe points inside each annotated box, in the ego frame our loader builds.

    Counting on the files as loaded (not on the simulator's float64 points) makes the table agree exactly with
    any recount from a ``Frame``; the two paths differ by float rounding, which flips points lying on a box face
    (ground returns at the bottom face of every box are common).
    """
    dataset = NuScenesDataset(out, version, num_sweeps=0)
    counts = {}
    for sample in tables["sample"]:
        frame = dataset.frame(sample["token"], load_images=False)
        counts.update(zip(frame.boxes.tokens, points_in_boxes(frame.points, frame.boxes.boxes).sum(axis=1).tolist()))
    for annotation in tables["sample_annotation"]:
        annotation["num_lidar_pts"] = counts[annotation["token"]]
    write_tables(out / version, {"sample_annotation": tables["sample_annotation"]})


def splits(names: list[str], val_scenes: int | None) -> dict[str, list[str]]:
    """Custom split names (``synth_*``) so the devkit reads them from ``splits.json``, not its official lists."""
    n_val = val_scenes if val_scenes is not None else (max(1, len(names) // 5) if len(names) > 1 else 0)
    return {"synth_train": names[:len(names) - n_val], "synth_val": names[len(names) - n_val:], "synth_all": names}


def static_tables(rig: Rig) -> dict[str, list[dict]]:
    """Tables that do not depend on the drives: sensors, categories, attributes, visibility."""
    sensors = [{"token": make_token("sensor", rig.lidar.name), "channel": rig.lidar.name, "modality": "lidar"}]
    sensors += [{"token": make_token("sensor", name), "channel": name, "modality": "camera"} for name in rig.cameras]
    return {
        "sensor": sensors,
        "category": [{"token": make_token("category", c), "name": c, "description": f"synthetic {name}"}
                     for name, c in CLASS_CATEGORY.items()],
        "attribute": [{"token": make_token("attribute", a), "name": a, "description": a} for a in ATTRIBUTES],
        "visibility": visibility_table(),
        **{name: [] for name in ("calibrated_sensor", "ego_pose", "instance", "log", "map", "sample",
                                 "sample_annotation", "sample_data", "scene")},
    }


class SceneWriter:
    """Simulates one drive and appends its records to ``tables``, writing sensor files as it goes."""

    def __init__(self, out: Path, options: SynthOptions, rig: Rig, index: int, tables: dict[str, list[dict]]):
        self.out, self.options, self.rig, self.tables = out, options, rig, tables
        self.name = f"synth-{options.seed:04d}-{index:04d}"
        self.token = make_token("scene", self.name)
        self.world_rng = np.random.default_rng([options.seed, index, 0])
        self.sensor_rng = np.random.default_rng([options.seed, index, 1])
        # Sweeps before the first keyframe exist too, so every keyframe can accumulate a full history.
        self.first_key_s = SWEEP_PERIOD_S * options.sweeps
        duration = self.first_key_s + (options.frames - 1) * SWEEP_PERIOD_S * SWEEPS_PER_KEYFRAME + SWEEP_PERIOD_S
        self.world: World = make_world(self.world_rng, duration)
        self.start_us = START_TIME_US + index * 3_600_000_000 + options.seed * 86_400_000_000
        self.calibration = {name: make_token("calibrated_sensor", self.name, name)
                            for name in [rig.lidar.name, *rig.cameras]}
        self.chains: dict[str, list[dict]] = {name: [] for name in self.calibration}
        self.ego_body = None if options.ego_body is None else EgoBody(tuple(options.ego_body),
                                                                       rig.lidar.ego_from_lidar)
        self.cameras = {name: scaled_camera(camera, options.camera_scale) for name, camera in rig.cameras.items()}

    def time_us(self, t: float) -> int:
        return self.start_us + int(round(t * 1e6))

    def write(self, bar: tqdm) -> str:
        samples, annotations_by_instance = [], {}
        for k in range(self.options.frames):
            t_key = self.first_key_s + k * SWEEP_PERIOD_S * SWEEPS_PER_KEYFRAME
            sample = {"token": make_token("sample", self.name, k), "timestamp": self.time_us(t_key),
                      "scene_token": self.token}
            samples.append(sample)
            for j in range(self.options.sweeps, 0, -1):
                self.write_lidar(t_key - j * SWEEP_PERIOD_S, sample["token"], key_frame=False)
            self.write_lidar(t_key, sample["token"], key_frame=True)
            for name, offset in camera_offsets_s(self.rig).items():
                self.write_camera(name, t_key + offset, sample["token"])
            for annotation in self.annotate(t_key, sample["token"]):
                annotations_by_instance.setdefault(annotation.pop("_actor"), []).append(annotation)
            bar.update()
        link_chain(samples)
        self.tables["sample"] += samples
        for chain in self.chains.values():
            link_chain(chain)
            self.tables["sample_data"] += chain
        self.write_instances(annotations_by_instance)
        self.write_scene_records(samples)
        return self.name

    # --- sensors ------------------------------------------------------------------------------------------------
    def write_lidar(self, t: float, sample_token: str, key_frame: bool) -> None:
        """Cast one sweep at time ``t``, write it and record it."""
        scene, table = self.world.raycasting_scene(t)
        global_from_lidar = self.world.ego_pose(t) @ self.rig.lidar.ego_from_lidar
        points, _ = cast_lidar(scene, table, global_from_lidar, self.options.lidar, self.sensor_rng, self.ego_body)
        channel = self.rig.lidar.name
        folder = "samples" if key_frame else "sweeps"
        filename = f"{folder}/{channel}/{self.name}__{channel}__{self.time_us(t)}.pcd.bin"
        atomic_write_bytes(self.out / filename, points.astype("<f4").tobytes())
        self.record_sample_data(channel, t, sample_token, key_frame, filename, "pcd", 0, 0)

    def write_camera(self, name: str, t: float, sample_token: str) -> None:
        camera = self.cameras[name]
        scene, table = self.world.raycasting_scene(t)
        image = render_camera(scene, table, self.world, camera.intrinsics, camera.width, camera.height,
                              self.world.ego_pose(t) @ camera.ego_from_camera, self.sensor_rng)
        filename = f"samples/{name}/{self.name}__{name}__{self.time_us(t)}.jpg"
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        atomic_write_bytes(self.out / filename, jpeg.tobytes())
        self.record_sample_data(name, t, sample_token, True, filename, "jpg", camera.width, camera.height)

    def record_sample_data(self, channel: str, t: float, sample_token: str, key_frame: bool, filename: str,
                           fileformat: str, width: int, height: int) -> None:
        token = make_token("sample_data", self.name, channel, self.time_us(t))
        self.tables["ego_pose"].append({"token": token, "timestamp": self.time_us(t),
                                        **pose_record(self.world.ego_pose(t))})
        self.chains[channel].append({
            "token": token, "sample_token": sample_token, "ego_pose_token": token,
            "calibrated_sensor_token": self.calibration[channel], "timestamp": self.time_us(t),
            "fileformat": fileformat, "is_key_frame": key_frame, "height": height, "width": width,
            "filename": filename})

    # --- annotations --------------------------------------------------------------------------------------------
    def annotate(self, t: float, sample_token: str) -> list[dict]:
        """Annotation records of the actors within range at keyframe time ``t`` (lidar points counted later)."""
        ego_xy = self.world.ego_pose(t)[:2, 3]
        actors = [a for a in self.world.actors if np.hypot(*(a.box_at(t)[:2] - ego_xy)) <= ANNOTATION_RANGE_M]
        if not actors:
            return []
        boxes = np.stack([a.box_at(t) for a in actors])
        lidar_origin = (self.world.ego_pose(t) @ self.rig.lidar.ego_from_lidar)[:3, 3]
        visible = self.visible_fraction(t, lidar_origin, actors, boxes)
        records = []
        for actor, box, fraction in zip(actors, boxes, visible):
            attribute = actor.attribute_at(t)
            length, width, height = box[3:6]
            records.append({
                "_actor": actor.instance_id,
                "token": make_token("annotation", self.name, actor.instance_id, sample_token),
                "sample_token": sample_token,
                "instance_token": make_token("instance", self.name, actor.instance_id),
                "visibility_token": visibility_token(fraction),
                "attribute_tokens": [make_token("attribute", attribute)] if attribute else [],
                **pose_record(make_transform(yaw_rotation(box[6]), box[:3])),
                "size": [float(width), float(length), float(height)],
                "num_lidar_pts": 0, "num_radar_pts": 0})
        return records

    def visible_fraction(self, t: float, origin: np.ndarray, actors, boxes: np.ndarray) -> np.ndarray:
        """Fraction of rays from the lidar to points spread inside each box whose first hit is that actor."""
        scene, table = self.world.raycasting_scene(t)
        grid = np.stack(np.meshgrid(*[np.linspace(-0.35, 0.35, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
        targets = []
        for box in boxes:
            local = grid * box[3:6]
            targets.append(local @ yaw_rotation(box[6]).T + box[:3])
        targets = np.concatenate(targets)
        directions = targets - origin
        rays = np.concatenate([np.broadcast_to(origin, targets.shape), directions], axis=1).astype(np.float32)
        hit_ids = scene.cast_rays(rays)["geometry_ids"].numpy()
        hit_actor = table.actor_index_of(hit_ids)
        wanted = np.repeat([self.world.actors.index(a) for a in actors], VISIBILITY_SAMPLES)
        return (hit_actor == wanted).reshape(len(actors), VISIBILITY_SAMPLES).mean(axis=1)

    def write_instances(self, annotations_by_instance: dict[int, list[dict]]) -> None:
        actor_by_id = {a.instance_id: a for a in self.world.actors}
        for actor_id, chain in annotations_by_instance.items():
            link_chain(chain)
            self.tables["sample_annotation"] += chain
            self.tables["instance"].append({
                "token": chain[0]["instance_token"],
                "category_token": make_token("category", actor_by_id[actor_id].category),
                "nbr_annotations": len(chain),
                "first_annotation_token": chain[0]["token"], "last_annotation_token": chain[-1]["token"]})

    # --- scene, log, map, calibration ----------------------------------------------------------------------------
    def write_scene_records(self, samples: list[dict]) -> None:
        log_token, map_token = make_token("log", self.name), make_token("map", self.name)
        self.tables["scene"].append({
            "token": self.token, "log_token": log_token, "nbr_samples": len(samples), "name": self.name,
            "first_sample_token": samples[0]["token"], "last_sample_token": samples[-1]["token"],
            "description": f"synthetic drive, seed {self.options.seed}, {self.world.describe()}"})
        self.tables["log"].append({"token": log_token, "logfile": self.name, "vehicle": "synth",
                                   "date_captured": "2020-09-13", "location": "synthetic"})
        map_file = f"maps/{self.name}.png"
        self.write_map(self.out / map_file)
        self.tables["map"].append({"token": map_token, "log_tokens": [log_token], "category": "semantic_prior",
                                   "filename": map_file})
        poses = {self.rig.lidar.name: self.rig.lidar.ego_from_lidar,
                 **{n: c.ego_from_camera for n, c in self.rig.cameras.items()}}
        sensor_token = {s["channel"]: s["token"] for s in self.tables["sensor"]}
        for channel, pose in poses.items():
            camera = self.cameras.get(channel)
            self.tables["calibrated_sensor"].append({
                "token": self.calibration[channel], "sensor_token": sensor_token[channel], **pose_record(pose),
                "camera_intrinsic": [] if camera is None else camera.intrinsics.tolist()})

    def write_map(self, path: Path) -> None:
        """The drivable area as a devkit map mask: 0.1 m per pixel, global origin at the bottom-left corner."""
        extent = self.world.extent_xy() + MAP_MARGIN_M
        shape = tuple(int(np.ceil(v / MAP_RESOLUTION_M)) for v in extent[::-1])  # rows (y), cols (x)
        mask = self.world.drivable_mask(MAP_RESOLUTION_M, np.zeros(2), shape)
        ok, png = cv2.imencode(".png", np.flipud(mask) * 255)
        atomic_write_bytes(path, png.tobytes())
