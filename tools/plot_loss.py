"""Plot the loss curve of a training run's log.jsonl: python tools/plot_loss.py RUN_DIR OUT.png"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(run: Path, out: Path) -> None:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records]
    figure, axis = plt.subplots(figsize=(7, 3.5), dpi=110)
    for key in ("total", "heatmap", "regression", "depth"):
        if any(key in r for r in records):
            # A batch with no camera or no points has no depth supervision (logged as 0): a gap, not a value.
            values = [r[key] if r.get(key) else float("nan") for r in records]
            axis.plot(steps, values, label=key, linewidth=1.2)
    axis.set_xlabel("step")
    axis.set_ylabel("loss (one batch per point)")
    axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
