"""How a detector does on the real frames in ../shared/data/real (not shipped with the repo: non-commercial data).

- nuScenes scene-0061 keyframe, per modality: devkit mAP and car AP, detections (score >= 0.3) that match no
  ground-truth box of their class within 2 m, and detections centred on the ego vehicle;
- KITTI training 000000-000003 (lidar only; one front camera): recall of the labelled cars within 2 m (score >= 0.3),
  for detectors with a lidar branch.

.venv/bin/python -m tools.real_frames_report [WEIGHTS] [--out outputs/real] [--keep-ego-returns]
(from the repository root; --keep-ego-returns empties the config's lidar.ego_box, to measure what it changes)
"""
import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

import perception
from perception.data.classes import CLASS_INDEX
from perception.data.kitti import load_kitti_frame
from perception.eval.runner import score_detector
from perception.inference import MODALITIES, load_detector, modalities_of
from tests.real_nuscenes import REAL_ROOT, build_real_nuscenes

MIN_SCORE, MATCH_M = 0.3, 2.0
EGO_VEHICLE = (-1.0, 3.7, -1.1, 1.1)  # x and y extent of the nuScenes car around its rear axle


def unmatched(detections, truth) -> int:
    """Detections of ``detections`` that have no ground-truth box of their class within MATCH_M (xy)."""
    count = 0
    for box, label in zip(detections.boxes, detections.labels):
        same = truth.boxes[truth.labels == label]
        count += not (len(same) and np.hypot(*(same[:, :2] - box[:2]).T).min() <= MATCH_M)
    return count


def on_ego_vehicle(detections) -> int:
    x, y = detections.boxes[:, 0], detections.boxes[:, 1]
    x0, x1, y0, y1 = EGO_VEHICLE
    return int(((x > x0) & (x < x1) & (y > y0) & (y < y1)).sum())


def nuscenes_report(detector, weights: str, out: Path) -> dict:
    root = build_real_nuscenes(Path(tempfile.mkdtemp()))
    dataset = perception.open_dataset(root, num_sweeps=detector.config.lidar.num_sweeps)
    runs = score_detector(detector, dataset, None, dataset.all_sample_tokens(), modalities_of(detector.config), out,
                          progress=False, checkpoint=weights)
    frame = dataset[0]
    report = {}
    for modality, metrics in runs.items():
        detections = detector.detect(frame, MODALITIES[modality])
        confident = detections.select(detections.scores >= MIN_SCORE)
        report[modality] = {"mAP": round(metrics["mAP"], 3), "NDS": round(metrics["NDS"], 3),
                            "car_AP": round(metrics["class_ap"]["car"]["mean"], 3),
                            "detections_0.3": len(confident), "unmatched_0.3": unmatched(confident, frame.boxes),
                            "on_ego_vehicle_0.3": on_ego_vehicle(confident)}
    return report


def kitti_report(detector) -> dict:
    found, total = 0, 0
    for frame_id in ("000000", "000001", "000002", "000003"):
        frame = load_kitti_frame(REAL_ROOT / "kitti_object", frame_id)
        detections = detector.detect(frame, ("lidar",))
        cars = detections.boxes[(detections.scores >= MIN_SCORE) & (detections.labels == CLASS_INDEX["car"])]
        truth = frame.boxes.boxes[frame.boxes.labels == CLASS_INDEX["car"]]
        total += len(truth)
        found += sum(bool(len(cars)) and np.hypot(*(cars[:, :2] - box[:2]).T).min() <= MATCH_M for box in truth)
    return {"cars": total, "found_within_2m": int(found), "recall": round(float(found) / max(total, 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default="demo")
    parser.add_argument("--out", type=Path, default=Path("outputs/real"))
    parser.add_argument("--keep-ego-returns", action="store_true",
                        help="run without the config's ego-vehicle point filter (lidar.ego_box: [])")
    args = parser.parse_args()
    detector = load_detector(args.weights)
    if args.keep_ego_returns:
        config = detector.config
        detector = load_detector(args.weights, "cpu", replace(config, lidar=replace(config.lidar, ego_box=())))
    weights = str(args.weights)
    report = {"weights": weights, "nuscenes_scene_0061": nuscenes_report(detector, weights, args.out)}
    if detector.config.lidar.enabled:
        report["kitti_000000_000003"] = kitti_report(detector)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
