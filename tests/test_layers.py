"""The package's layering (perception/__init__.py) holds, and the import rules catch a planted bad import."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages under ``root`` with its ``pyproject.toml`` contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, planted, broken", [
    ("perception/models/fuser.py", "import perception.data.frame", "Models know no file, dataset or simulator"),
    ("perception/replay/sinks.py", "import perception.cli", "Layers"),
    ("perception/data/frame.py", "import perception.models.inputs", "Layers"),
    ("perception/eval/evaluate.py", "import perception.inference", "Evaluation metrics"),
    ("perception/viz/style.py", "import perception.viz.bev", "No import cycles"),
])
def test_a_planted_bad_import_breaks_a_contract(tmp_path, module, planted, broken):
    for name in ("perception", "calib"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a") as file:
        file.write(f"\n{planted}  # planted\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert any(broken in line and "BROKEN" in line for line in result.stdout.splitlines()), result.stdout[-3000:]
