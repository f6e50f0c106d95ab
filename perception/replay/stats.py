"""What a replay measured and met: per-stage latency percentiles, frame counts and the faults it skipped."""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from perception.replay.events import NS, Fault

STAGES = ("decode", "preprocess", "model", "postprocess", "write")
RECENT = 20  # frames the progress bar averages over
MAX_LISTED = 100  # faults and skipped sweeps listed one by one in the summary (all are counted)


@dataclass
class ReplayStats:
    latencies_s: dict[str, list[float]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    detected: int = 0
    dropped: int = 0
    camera_only: int = 0
    skipped: list[dict] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    missing_cameras: Counter = field(default_factory=Counter)
    _recent: deque = field(default_factory=lambda: deque(maxlen=RECENT))

    def add_frame(self, seconds: dict[str, float], end_s: float) -> None:
        """The time of every stage of one detected frame, and when it finished (``time.perf_counter``)."""
        for stage in STAGES:
            self.latencies_s[stage].append(seconds[stage])
        self.detected += 1
        self._recent.append((end_s, seconds))

    def skip(self, time_ns: int, reason: str) -> None:
        self.skipped.append({"time_s": round(time_ns / NS, 6), "reason": reason})

    def recent_fps(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1][0] - self._recent[0][0], 1e-9)

    def recent_ms(self) -> dict[str, float]:
        """Mean milliseconds per stage over the last frames, for the progress bar."""
        return {stage: 1000 * float(np.mean([s[stage] for _, s in self._recent])) for stage in STAGES}

    def latency_ms(self) -> dict[str, dict[str, float]]:
        """p50, p95 and mean per stage (and of their sum per frame, ``total``) in milliseconds."""
        if not self.detected:
            return {}
        table = dict(self.latencies_s, total=list(np.sum([self.latencies_s[stage] for stage in STAGES], axis=0)))
        return {stage: {"p50": round(1000 * float(np.percentile(v, 50)), 2),
                        "p95": round(1000 * float(np.percentile(v, 95)), 2),
                        "mean": round(1000 * float(np.mean(v)), 2)} for stage, v in table.items()}

    def summary(self, wall_s: float) -> dict:
        kinds = Counter()
        for fault in self.faults:
            kinds[fault.kind] += fault.messages
        return {
            "frames": {"detected": self.detected, "dropped": self.dropped, "skipped": len(self.skipped),
                       "camera_only": self.camera_only},
            "throughput_fps": round(self.detected / wall_s, 3) if wall_s > 0 else 0.0,
            "wall_s": round(wall_s, 3),
            "latency_ms": self.latency_ms(),
            "missing_cameras": dict(self.missing_cameras),
            "faults": {"corrupt": kinds["corrupt"], "unreadable": kinds["unreadable"],
                       "listed": [fault.as_dict() for fault in self.faults[:MAX_LISTED]]},
            "skipped": self.skipped[:MAX_LISTED],
        }
