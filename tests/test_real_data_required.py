"""Missing real data skips a test in a user's clone and fails it where PERCEPTION_REQUIRE_REAL_DATA is set (CI)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_nuscenes import REAL_DATA_ENV, REQUIRE_REAL_DATA_ENV, require_real_data

REPO = Path(__file__).resolve().parents[1]


def outcome(path: Path) -> tuple[str, str]:
    """What ``require_real_data`` does for ``path``: ("returned", path), ("skipped", reason) or ("failed", reason).
    Caught here, so that a skip where a failure is expected fails this test instead of skipping it."""
    try:
        return "returned", str(require_real_data(path, "frames"))
    except pytest.skip.Exception as error:
        return "skipped", str(error)
    except pytest.fail.Exception as error:
        return "failed", str(error)


def test_present_data_is_returned(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_REAL_DATA_ENV, "1")
    assert outcome(tmp_path) == ("returned", str(tmp_path))


@pytest.mark.parametrize("required", [None, "", "0"])
def test_missing_data_skips_with_the_reason(tmp_path, monkeypatch, required):
    if required is None:
        monkeypatch.delenv(REQUIRE_REAL_DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(REQUIRE_REAL_DATA_ENV, required)
    kind, reason = outcome(tmp_path / "absent")
    assert kind == "skipped" and f"frames not found at {tmp_path / 'absent'}" in reason


def test_missing_data_fails_where_it_is_required(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_REAL_DATA_ENV, "1")
    kind, reason = outcome(tmp_path / "absent")
    assert kind == "failed" and f"frames not found at {tmp_path / 'absent'}" in reason
    assert reason.endswith(f"and {REQUIRE_REAL_DATA_ENV} requires it")


def run_kitti_test(data: Path, **env) -> subprocess.CompletedProcess:
    """One real-data test in a fresh pytest whose real data folder is ``data``."""
    environment = {k: v for k, v in os.environ.items() if k != REQUIRE_REAL_DATA_ENV}
    environment.update({REAL_DATA_ENV: str(data), "PYTHONPATH": str(REPO), **env})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/test_real_data.py::test_kitti_labels_classes"],
                          cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def test_the_real_data_fixtures_use_it(tmp_path):
    """End to end through conftest: the data folder comes from PERCEPTION_REAL_DATA; without the data the test is
    skipped, naming the folder, and with PERCEPTION_REQUIRE_REAL_DATA=1 the run fails."""
    skipped = run_kitti_test(tmp_path)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout[-2000:]
    assert f"real KITTI frames not found at {tmp_path / 'kitti_object'}" in skipped.stdout
    failed = run_kitti_test(tmp_path, **{REQUIRE_REAL_DATA_ENV: "1"})
    assert failed.returncode == 1 and "1 error" in failed.stdout, failed.stdout[-2000:]
    assert f"{REQUIRE_REAL_DATA_ENV} requires it" in failed.stdout
