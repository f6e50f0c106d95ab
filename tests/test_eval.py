"""Evaluation: results conversion and validation, devkit metrics under known perturbations, reports, CLI."""
import argparse
import json
import shutil

import numpy as np
import pytest
from nuscenes.eval.common.config import config_factory

from calib.se3 import make_transform, wrap_angle, yaw_rotation
from perception.boxes import Boxes3D
from perception.data.classes import CLASS_INDEX, DETECTION_CLASSES
from perception.data.nuscenes import NuScenesDataset
from perception.errors import DataError
from perception.eval.cli import add_eval_arguments, run_eval
from perception.eval.evaluate import EVAL_CONFIG, evaluate, split_sample_tokens
from perception.eval.report import modality_table
from perception.data.results import (DEFAULT_ATTRIBUTE, VALID_ATTRIBUTES, boxes_to_results, read_results,
                                     results_document, results_to_boxes, validate_results, write_results)
from tests.real_nuscenes import VERSION

SPLIT = "real_all"
SCALE_ERROR_OF_1_2 = 1 - 1 / 1.2 ** 3  # 1 - IoU of aligned boxes, one 1.2 times the other in every dimension


# --- fixtures and helpers ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_db(real_nuscenes_root, tmp_path_factory):
    """The real keyframe database with a custom split holding its one scene (official splits need v1.0-mini etc.)."""
    root = tmp_path_factory.mktemp("eval_real")
    shutil.copytree(real_nuscenes_root / VERSION, root / VERSION)
    shutil.copytree(real_nuscenes_root / "maps", root / "maps")
    (root / "samples").symlink_to((real_nuscenes_root / "samples").resolve(), target_is_directory=True)
    (root / VERSION / "splits.json").write_text(json.dumps({SPLIT: ["scene-0061"]}))
    return root


@pytest.fixture(scope="module")
def real_gt(real_db):
    """(sample token, GT boxes the devkit keeps, global_from_ego) of the real keyframe."""
    dataset = NuScenesDataset(real_db, VERSION)
    token = split_sample_tokens(dataset, SPLIT)[0]
    frame = dataset.frame(token, load_images=False)
    return token, evaluable(frame.boxes), frame.global_from_ego


def evaluable(gt: Boxes3D) -> Boxes3D:
    """GT boxes the devkit evaluates: with lidar points and within their class's range (a prediction of any other
    box would be a false positive); scored 1 like predictions."""
    class_range = config_factory(EVAL_CONFIG).class_range
    max_range = np.array([class_range[name] for name in CLASS_INDEX])[gt.labels]
    kept = gt.select((gt.num_lidar_pts > 0) & (np.hypot(gt.boxes[:, 0], gt.boxes[:, 1]) < max_range))
    kept.scores = np.ones(len(kept))
    return kept


def evaluate_boxes(tmp_path, db, token, boxes, global_from_ego, name, plots=False) -> dict:
    path = tmp_path / f"{name}.json"
    write_results(path, {token: boxes_to_results(boxes, global_from_ego, token)}, use_camera=True, use_lidar=True)
    return evaluate(db, VERSION, SPLIT, path, tmp_path / name, plots=plots)


def with_rows(boxes: Boxes3D, rows: np.ndarray) -> Boxes3D:
    return Boxes3D(rows, boxes.labels, boxes.scores, boxes.attributes)


def shifted_apart(boxes: Boxes3D, distance: float) -> np.ndarray:
    """Rows (M, 9) with each centre moved ``distance`` in the xy direction (of 16) that keeps it farthest from the
    other boxes of its class, and not away from the ego (so it stays in range). Pedestrians and barriers stand
    0.6-0.9 m apart here: a shift towards a neighbour would match the neighbour instead."""
    angles = np.linspace(-np.pi, np.pi, 16, endpoint=False)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rows = boxes.boxes.copy()
    for i, xy in enumerate(boxes.boxes[:, :2]):
        others = boxes.boxes[(boxes.labels == boxes.labels[i]) & (np.arange(len(boxes)) != i), :2]
        candidates = xy + distance * directions[directions @ xy <= 0]
        gaps = np.linalg.norm(candidates[:, None] - others[None], axis=2).min(axis=1, initial=np.inf)
        assert gaps.max() > distance + 0.1, "no unambiguous shift for this box"
        rows[i, :2] = candidates[np.argmax(gaps)]
    return rows


def present(metrics: dict) -> list[str]:
    return [name for name, count in metrics["class_num_gt"].items() if count]


def class_values(metrics: dict, key: str) -> dict[str, float | None]:
    """Per present class: a TP error ("ATE", ...) or AP at a match distance ("0.5", ..., "mean")."""
    table = metrics["class_ap"] if key[0].isdigit() or key == "mean" else metrics["class_tp_errors"]
    return {name: table[name][key] for name in present(metrics)}


def assert_close(values: dict, expected, atol: float):
    expected = expected if isinstance(expected, dict) else dict.fromkeys(values, expected)
    assert values.keys() == expected.keys()
    for name, value in values.items():
        if expected[name] is None:
            assert value is None, name
        else:
            assert value == pytest.approx(expected[name], abs=atol), name


@pytest.fixture(scope="module")
def perfect_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("perfect")


@pytest.fixture(scope="module")
def perfect(real_db, real_gt, perfect_dir):
    """Metrics of the GT written as results (report and plots in ``perfect_dir / "perfect"``)."""
    token, gt, global_from_ego = real_gt
    return evaluate_boxes(perfect_dir, real_db, token, gt, global_from_ego, "perfect", plots=True)


# --- results <-> Boxes3D -------------------------------------------------------------------------------------------
def hand_made_boxes() -> Boxes3D:
    rows = [[10.0, 2.0, 0.5, 4.5, 1.9, 1.6, 0.3, 3.0, -1.0],
            [-5.0, 8.0, 0.9, 0.7, 0.6, 1.8, -3.1, 0.5, 0.2],
            [20.0, -4.0, 0.4, 0.4, 0.4, 1.0, 3.1, 0.0, 0.0]]
    return Boxes3D(rows, [CLASS_INDEX["car"], CLASS_INDEX["pedestrian"], CLASS_INDEX["traffic_cone"]],
                   scores=np.array([0.9, 0.5, 0.25]),
                   attributes=["vehicle.moving", "pedestrian.sitting_lying_down", ""])


def test_round_trip_is_exact():
    boxes = hand_made_boxes()
    global_from_ego = make_transform(yaw_rotation(2.5), [411.3, 1180.9, 0.2])
    back = results_to_boxes(boxes_to_results(boxes, global_from_ego, "tok"), global_from_ego)
    np.testing.assert_allclose(back.boxes[:, [0, 1, 2, 3, 4, 5, 7, 8]], boxes.boxes[:, [0, 1, 2, 3, 4, 5, 7, 8]],
                               atol=1e-9)
    np.testing.assert_allclose(wrap_angle(back.boxes[:, 6] - boxes.boxes[:, 6]), 0, atol=1e-12)
    assert back.labels.tolist() == boxes.labels.tolist() and back.scores.tolist() == boxes.scores.tolist()
    assert back.attributes == boxes.attributes


def test_results_entry_conventions():
    boxes = Boxes3D([[1.0, 2.0, 3.0, 4.0, 2.0, 1.5, np.pi / 2, np.nan, np.nan]], [CLASS_INDEX["truck"]])
    (entry,) = boxes_to_results(boxes, np.eye(4), "tok")
    assert entry["size"] == [2.0, 4.0, 1.5]  # (w, l, h)
    np.testing.assert_allclose(entry["rotation"], [np.sqrt(0.5), 0, 0, np.sqrt(0.5)])  # wxyz of yaw 90°
    assert entry["velocity"] == [0.0, 0.0]  # unknown velocity is written as 0
    assert entry["detection_score"] == 1.0 and entry["attribute_name"] == DEFAULT_ATTRIBUTE["truck"] == "vehicle.parked"
    assert (DEFAULT_ATTRIBUTE["pedestrian"], DEFAULT_ATTRIBUTE["bicycle"], DEFAULT_ATTRIBUTE["barrier"]) == \
        ("pedestrian.standing", "cycle.without_rider", "")


def test_write_and_read_results(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, {"tok": boxes_to_results(hand_made_boxes(), np.eye(4), "tok")}, use_camera=False,
                  use_lidar=True)
    document = read_results(path, ["tok"])
    assert document["meta"] == {"use_camera": False, "use_lidar": True, "use_radar": False, "use_map": False,
                                "use_external": False}
    assert len(document["results"]["tok"]) == 3 and not list(tmp_path.glob(".*.tmp"))


# --- validation ----------------------------------------------------------------------------------------------------
def valid_document() -> dict:
    return results_document({"a": boxes_to_results(hand_made_boxes(), np.eye(4), "a"), "b": []}, True, True)


def damaged(change) -> dict:
    document = valid_document()
    change(document, document["results"]["a"][0])
    return document


@pytest.mark.parametrize("change, message", [
    (lambda d, e: d["results"].pop("b"), "results['b']: missing, a sample of the evaluated split"),
    (lambda d, e: d["results"].update(c=[]), "results['c']: unknown sample token"),
    (lambda d, e: e.update(detection_name="van"), "results['a'][0].detection_name = \"van\": unknown class"),
    (lambda d, e: e.update(attribute_name="vehicle.flying"), "attribute_name = \"vehicle.flying\": unknown attribute"),
    (lambda d, e: e.update(attribute_name="pedestrian.moving"), "not valid for car; use one of 'vehicle.moving'"),
    (lambda d, e: d["results"]["a"][2].update(attribute_name="vehicle.parked"), "[2].attribute_name"),
    (lambda d, e: e.update(translation=[1.0, float("nan"), 0.0]), "translation = [1.0, NaN, 0.0]: must be finite"),
    (lambda d, e: e.update(velocity=[float("inf"), 0.0]), "velocity = [Infinity, 0.0]: must be finite"),
    (lambda d, e: e.update(detection_score=float("nan")), "detection_score = NaN: must be a finite number"),
    (lambda d, e: e.update(detection_score="0.9"), "detection_score = \"0.9\": must be a finite number"),
    (lambda d, e: e.update(size=[1.0, 2.0]), "size = [1.0, 2.0]: must be a list of 3 numbers"),
    (lambda d, e: e.update(size=[1.0, 0.0, 1.0]), "size = [1.0, 0.0, 1.0]: must be positive"),
    (lambda d, e: e.update(rotation="up"), "rotation = \"up\": must be a list of 4 numbers"),
    (lambda d, e: e.pop("velocity"), "results['a'][0].velocity: missing"),
    (lambda d, e: e.update(sample_token="b"), "sample_token = \"b\": differs from the sample it is filed under"),
    (lambda d, e: d["results"].update(b=[e] * 501), "results['b'] has 501 boxes: at most 500 allowed"),
    (lambda d, e: d["results"].update(b={}), "results['b'] = {}: must be a list of boxes"),
    (lambda d, e: d["meta"].pop("use_lidar"), "meta.use_lidar = null: must be true or false"),
    (lambda d, e: d.pop("meta"), "lacks the key(s) meta"),
])
def test_invalid_results_are_named(tmp_path, change, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(damaged(change)))
    with pytest.raises(DataError) as error:
        read_results(path, ["a", "b"])
    assert message in str(error.value) and str(error.value).startswith(str(path))


def test_validation_lists_the_first_few_problems():
    document = valid_document()
    document["results"]["b"] = [dict(document["results"]["a"][0], sample_token="b", detection_name="van")] * 8
    with pytest.raises(DataError, match=r"\(8 problem\(s\)\).*\[4\]\.detection_name.*; and 3 more$"):
        validate_results(document, path="x.json")
    validate_results(valid_document(), ["a", "b"])


def test_unreadable_results_file(tmp_path):
    (tmp_path / "r.json").write_text("{\"meta\": ")
    with pytest.raises(DataError, match="not a JSON file"):
        read_results(tmp_path / "r.json")
    with pytest.raises(DataError, match="results file does not exist"):
        read_results(tmp_path / "none.json")


# --- metrics through the devkit on the real keyframe ---------------------------------------------------------------
def test_perfect_results_score_one(perfect):
    assert present(perfect) == ["car", "truck", "pedestrian", "traffic_cone", "barrier"]
    assert_close(class_values(perfect, "mean"), 1.0, 1e-9)
    assert_close(class_values(perfect, "ATE"), 0.0, 1e-6)
    assert_close(class_values(perfect, "ASE"), 0.0, 1e-6)
    # Not exactly 0: the ego pose is tilted ~1°, and our boxes keep only the yaw of the tilted annotation.
    assert_close(class_values(perfect, "AOE"), {"car": 0, "truck": 0, "pedestrian": 0, "traffic_cone": None,
                                                "barrier": 0}, 5e-3)
    # This keyframe's GT has no velocity (one annotation per track) and no attributes: the devkit reports 1.
    assert_close(class_values(perfect, "AVE"), {**dict.fromkeys(present(perfect), 1.0), "traffic_cone": None,
                                                "barrier": None}, 1e-9)
    # The devkit averages over all 10 classes, absent ones with AP 0 and errors 1.
    assert perfect["mAP"] == pytest.approx(0.5) and perfect["num_pred_boxes"] == perfect["num_gt_boxes"] == 33
    for band in perfect["distance_bands"].values():
        assert band["mAP"] == pytest.approx(1.0)
    assert perfect["distance_bands"]["0-20"]["num_gt"]["traffic_cone"] == 3
    assert perfect["distance_bands"]["30-50"]["class_ap"]["traffic_cone"] is None  # cones are evaluated to 30 m


def test_shift_moves_only_translation_error(real_db, real_gt, perfect, tmp_path):
    token, gt, global_from_ego = real_gt
    # 0.9 m, not 1 m: the devkit matches at distance < threshold, so exactly 1 m sits on the 1 m threshold.
    shifted = evaluate_boxes(tmp_path, real_db, token, with_rows(gt, shifted_apart(gt, 0.9)), global_from_ego,
                             "shift")
    assert_close(class_values(shifted, "ATE"), 0.9, 1e-3)  # the devkit measures in the global xy plane; ego tilts ~1°
    assert_close(class_values(shifted, "0.5"), 0.0, 1e-9)
    for threshold in ("1", "2", "4"):
        assert_close(class_values(shifted, threshold), 1.0, 1e-9)
    for error in ("ASE", "AOE", "AVE", "AAE"):
        assert_close(class_values(shifted, error), class_values(perfect, error), 1e-6)


def test_rotation_moves_only_orientation_error(real_db, real_gt, perfect, tmp_path):
    token, gt, global_from_ego = real_gt
    rows = gt.boxes.copy()
    rows[:, 6] = wrap_angle(rows[:, 6] + np.pi / 2)
    turned = evaluate_boxes(tmp_path, real_db, token, with_rows(gt, rows), global_from_ego, "yaw")
    assert_close(class_values(turned, "AOE"), {**dict.fromkeys(present(turned), np.pi / 2), "traffic_cone": None},
                 5e-3)
    assert turned["mAOE"] > perfect["mAOE"] + 0.5
    for key in ("mean", "ATE", "ASE", "AVE", "AAE"):
        assert_close(class_values(turned, key), class_values(perfect, key), 1e-6)


def test_scaling_moves_only_scale_error(real_db, real_gt, perfect, tmp_path):
    token, gt, global_from_ego = real_gt
    rows = gt.boxes.copy()
    rows[:, 3:6] *= 1.2
    scaled = evaluate_boxes(tmp_path, real_db, token, with_rows(gt, rows), global_from_ego, "size")
    assert_close(class_values(scaled, "ASE"), SCALE_ERROR_OF_1_2, 1e-6)
    for key in ("mean", "ATE", "AOE", "AVE", "AAE"):
        assert_close(class_values(scaled, key), class_values(perfect, key), 1e-6)


def test_dropping_half_lowers_ap_only(real_db, real_gt, perfect, tmp_path):
    token, gt, global_from_ego = real_gt
    keep = np.zeros(len(gt), dtype=bool)
    for label in np.unique(gt.labels):
        keep[np.flatnonzero(gt.labels == label)[::2]] = True  # every other box of each class
    halved = evaluate_boxes(tmp_path, real_db, token, gt.select(keep), global_from_ego, "half")
    for name, ap in class_values(halved, "mean").items():
        assert ap < 0.8 if halved["class_num_gt"][name] > 1 else ap == pytest.approx(1.0), name
    assert halved["mAP"] < perfect["mAP"]
    for error in ("ATE", "ASE", "AOE", "AVE", "AAE"):
        assert_close(class_values(halved, error), class_values(perfect, error), 5e-3)


def test_empty_predictions_score_zero(real_db, real_gt, tmp_path):
    token, _, global_from_ego = real_gt
    empty = evaluate_boxes(tmp_path, real_db, token, Boxes3D.empty(), global_from_ego, "empty")
    assert empty["mAP"] == 0 and empty["NDS"] == 0 and empty["num_pred_boxes"] == 0
    # With nothing matched, the devkit's TP errors are 1 (the worst score), not 0 (which would read as perfect).
    assert [empty[name] for name in ("mATE", "mASE", "mAOE", "mAVE", "mAAE")] == [1.0] * 5
    assert all(band["mAP"] == 0 for band in empty["distance_bands"].values())


def test_results_must_cover_the_split(real_db, real_gt, tmp_path):
    token, gt, global_from_ego = real_gt
    path = tmp_path / "other.json"
    write_results(path, {"not-a-sample": boxes_to_results(gt, global_from_ego, "not-a-sample")}, True, True)
    with pytest.raises(DataError, match=rf"results\['{token}'\]: missing.*results\['not-a-sample'\]: unknown"):
        evaluate(real_db, VERSION, SPLIT, path, tmp_path / "out")


def test_split_errors(real_db, real_gt, tmp_path):
    token, gt, global_from_ego = real_gt
    path = tmp_path / "r.json"
    write_results(path, {token: boxes_to_results(gt, global_from_ego, token)}, True, True)
    with pytest.raises(DataError, match="nuscenes-devkit rejected split 'mini_train'.*not compatible"):
        evaluate(real_db, VERSION, "mini_train", path, tmp_path / "out")  # scene-0061 is in mini_train
    with pytest.raises(DataError, match="split 'mini_val' has no samples"):
        evaluate(real_db, VERSION, "mini_val", path, tmp_path / "out")
    with pytest.raises(DataError, match="splits.json"):
        evaluate(real_db, VERSION, "no_such_split", path, tmp_path / "out")


def test_split_without_ground_truth(real_db, real_gt, tmp_path):
    token, _, global_from_ego = real_gt
    root = tmp_path / "no_gt"
    shutil.copytree(real_db / VERSION, root / VERSION)
    shutil.copytree(real_db / "maps", root / "maps")
    for table in ("sample_annotation", "instance"):
        (root / VERSION / f"{table}.json").write_text("[]")
    path = tmp_path / "r.json"
    write_results(path, {token: []}, True, True)
    with pytest.raises(DataError, match="no ground-truth boxes of the detection classes"):
        evaluate(root, VERSION, SPLIT, path, tmp_path / "out")


# --- reports and the command ---------------------------------------------------------------------------------------
def test_report_files(perfect, perfect_dir):
    out = perfect_dir / "perfect"
    assert json.loads((out / "metrics.json").read_text())["mAP"] == pytest.approx(perfect["mAP"])
    summary = (out / "summary.md").read_text()
    for text in ("| mAP | NDS | mATE (m) |", "| car | 4 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |",
                 "| traffic_cone | 0.000 | 0.000 | n/a | n/a | n/a |", "| 0-20 m | 20-30 m | 30-50 m |",
                 "| AP per distance band |"):
        assert text in summary, text
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "car_pr.png" in plots and "barrier_tp.png" in plots and "dist_pr_0.5m.png" in plots
    assert all((out / "plots" / name).stat().st_size > 1000 for name in plots)


def test_modality_table(perfect):
    camera_only = {**perfect, "mAP": 0.25, "NDS": 0.3}
    table = modality_table({"fused": perfect, "camera-only": camera_only})
    lines = table.splitlines()
    assert lines[0].startswith("| Run | mAP | NDS | mATE (m) |") and lines[0].endswith("| mAP 30-50 m |")
    assert lines[2].startswith("| fused | 0.500 |") and lines[3].startswith("| camera-only | 0.250 | 0.300 |")
    with pytest.raises(ValueError, match="not on the same split"):
        modality_table({"fused": perfect, "other": {**perfect, "split": "mini_val"}})


def eval_args(*argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli(real_db, real_gt, tmp_path, capsys):
    token, gt, global_from_ego = real_gt
    path = tmp_path / "r.json"
    write_results(path, {token: boxes_to_results(gt, global_from_ego, token)}, True, True)
    metrics = run_eval(eval_args("--results", str(path), "--dataroot", str(real_db), "--version", VERSION,
                                 "--split", SPLIT, "--out", str(tmp_path / "out")))
    assert metrics["mAP"] == pytest.approx(0.5) and "real_all: mAP 0.500" in capsys.readouterr().out
    with pytest.raises(DataError, match="checkpoint file does not exist"):
        run_eval(eval_args("--checkpoint", str(tmp_path / "m.safetensors"), "--dataroot", str(real_db)))
    for flag in (["--modalities"], ["--sweeps", "0"]):
        with pytest.raises(DataError, match="need --checkpoint"):
            run_eval(eval_args(*flag, "--dataroot", str(real_db)))
    with pytest.raises(DataError, match="--results FILE"):
        run_eval(eval_args("--dataroot", str(real_db)))


# --- velocity and attribute errors on a synthetic drive (its GT has both) ------------------------------------------
SYNTH_VERSION, SYNTH_SPLIT = "v1.0-synth", "synth_all"


@pytest.fixture(scope="module")
def synth_frames(synth_root):
    """(dataroot, [(sample token, evaluable GT, global_from_ego)]) of the small synthetic drive."""
    root = synth_root
    dataset = NuScenesDataset(root, SYNTH_VERSION)
    frames = [dataset.frame(token, load_images=False) for token in split_sample_tokens(dataset, SYNTH_SPLIT)]
    return root, [(frame.token, evaluable(frame.boxes), frame.global_from_ego) for frame in frames]


def evaluate_synth(tmp_path, synth_frames, change, name) -> dict:
    """Metrics of the synthetic GT written as results after ``change(boxes) -> boxes`` in each frame."""
    root, frames = synth_frames
    path = tmp_path / f"{name}.json"
    write_results(path, {token: boxes_to_results(change(gt), global_from_ego, token)
                         for token, gt, global_from_ego in frames}, use_camera=True, use_lidar=True)
    return evaluate(root, SYNTH_VERSION, SYNTH_SPLIT, path, tmp_path / name, plots=False)


@pytest.fixture(scope="module")
def synth_perfect(synth_frames, tmp_path_factory):
    return evaluate_synth(tmp_path_factory.mktemp("synth_perfect"), synth_frames, lambda gt: gt, "perfect")


def test_synth_perfect_results(synth_perfect):
    without = {"traffic_cone": ("AOE", "AVE", "AAE"), "barrier": ("AVE", "AAE")}  # not defined for these classes
    assert_close(class_values(synth_perfect, "mean"), 1.0, 1e-9)
    for error in ("ATE", "ASE", "AOE", "AVE", "AAE"):
        assert_close(class_values(synth_perfect, error),
                     {name: None if error in without.get(name, ()) else 0.0 for name in present(synth_perfect)}, 1e-6)


def test_synth_velocity_offset_moves_only_velocity_error(synth_frames, synth_perfect, tmp_path):
    def faster(gt):
        rows = gt.boxes.copy()
        rows[:, 7] += 1.0
        return with_rows(gt, rows)

    moved = evaluate_synth(tmp_path, synth_frames, faster, "velocity")
    assert_close(class_values(moved, "AVE"), {name: None if value is None else 1.0
                                              for name, value in class_values(synth_perfect, "AVE").items()}, 1e-6)
    for key in ("mean", "ATE", "ASE", "AOE", "AAE"):
        assert_close(class_values(moved, key), class_values(synth_perfect, key), 1e-6)


def test_synth_wrong_attributes_move_only_attribute_error(synth_frames, synth_perfect, tmp_path):
    def relabelled(gt):
        names = [DETECTION_CLASSES[label] for label in gt.labels]
        wrong = [next(a for a in VALID_ATTRIBUTES[name] if a != (attribute or DEFAULT_ATTRIBUTE[name]))
                 if VALID_ATTRIBUTES[name] != ("",) else "" for name, attribute in zip(names, gt.attributes)]
        return Boxes3D(gt.boxes, gt.labels, gt.scores, wrong)

    moved = evaluate_synth(tmp_path, synth_frames, relabelled, "attributes")
    assert_close(class_values(moved, "AAE"), {name: None if value is None else 1.0
                                              for name, value in class_values(synth_perfect, "AAE").items()}, 1e-6)
    for key in ("mean", "ATE", "ASE", "AOE", "AVE"):
        assert_close(class_values(moved, key), class_values(synth_perfect, key), 1e-6)
