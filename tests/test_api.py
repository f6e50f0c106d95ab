"""The public API of the README, exactly as written there."""
import numpy as np
import pytest

import perception
from perception.data.results import validate_results
from perception.errors import DataError


def test_readme_api_snippet(synth_root):
    detector = perception.load_detector("demo", device="cpu")
    dataset = perception.open_dataset(synth_root)  # the version is found: the root holds only v1.0-synth
    frame = dataset[0]
    detections = detector.detect(frame)
    assert isinstance(frame, perception.Frame) and len(dataset) == 6
    assert detections.boxes.shape == (len(detections), 9) and detections.scores.shape == (len(detections),)
    assert len(detections) > 0 and set(detections.class_names) <= set(detector.config.classes)
    assert np.all(np.diff(detections.scores) <= 0) or len(detections) == 1  # best first
    entries = detections.to_results(frame)
    assert len(entries) == len(detections) and {e["sample_token"] for e in entries} == {frame.token}
    validate_results({"meta": {"use_camera": True, "use_lidar": True, "use_radar": False, "use_map": False,
                               "use_external": False}, "results": {frame.token: entries}})
    lidar_only = detector.detect(frame, modalities=("lidar",))
    assert not np.array_equal(lidar_only.scores, detections.scores)  # the camera branch changes the scores


def test_detector_uses_only_the_sweeps_it_was_trained_with(synth_root):
    """A frame with more history than the model's ``num_sweeps`` reaches the model without it."""
    from dataclasses import replace

    detector = perception.load_detector("demo")
    frame = perception.open_dataset(synth_root)[0]
    kept = detector.config.lidar.num_sweeps + 1
    ages = np.repeat(np.arange(kept + 3) * 0.05, 10).astype(np.float32)  # 3 sweeps too many, 10 points each
    points = np.column_stack([np.full((len(ages), 3), 5.0, np.float32), np.zeros(len(ages), np.float32), ages])
    batch = detector.model_input(replace(frame, points=points))
    np.testing.assert_allclose(np.unique(batch.points[:, 4].numpy()), np.arange(kept) * 0.05, atol=1e-6)


def test_api_errors_are_one_line(tmp_path, synth_root):
    with pytest.raises(DataError, match="does not exist"):
        perception.open_dataset(tmp_path / "nowhere")
    with pytest.raises(IndexError, match="out of range"):
        perception.open_dataset(synth_root)[6]
    with pytest.raises(DataError, match="modalities"):
        perception.load_detector("demo").detect(perception.open_dataset(synth_root)[0], modalities=("radar",))
