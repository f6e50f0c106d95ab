"""Plot the loss curve of a training run's log.jsonl: python tools/plot_loss.py RUN_DIR OUT.png"""
import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


WINDOW = 10
"""Logged batches averaged per point: single batches swing with what they hold (a dropped sensor, a crowded scene)."""


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite values among the last ``window`` (fewer at the start), NaN where none is finite."""
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    sums[window:] = sums[window:] - sums[:-window]
    counts[window:] = counts[window:] - counts[:-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def main(run: Path, out: Path) -> None:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records]
    figure, axis = plt.subplots(figsize=(7, 3.5), dpi=110)
    for key in ("total", "heatmap", "regression", "velocity", "depth", "direction"):
        if any(key in r for r in records):
            # A batch with no camera or no points has no depth supervision (logged as 0): a gap, not a value.
            values = np.array([r[key] if r.get(key) else np.nan for r in records], dtype=float)
            axis.plot(steps, running_mean(values, WINDOW), label=key, linewidth=1.2)
    axis.set_xlabel("step")
    axis.set_ylabel(f"loss (mean of {WINDOW} logged batches)")
    axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
