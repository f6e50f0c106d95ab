"""What a replay measured and met: per-stage latency percentiles, frame counts and the faults it skipped.

Stages run in separate threads (see ``runner``): the model thread records a detected frame's decode, preprocess,
model and postprocess seconds; each sink's thread adds the seconds it spent on that frame's messages to its
``write`` time. Both go through one lock.
"""
from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from perception.replay.events import NS, Fault

STAGES = ("decode", "preprocess", "model", "postprocess", "write")
RECENT = 20  # frames the progress bar averages over
MAX_LISTED = 100  # faults and skipped sweeps listed one by one in the summary (all are counted)


@dataclass
class ReplayStats:
    """frame_s: stage seconds of each detected frame by its job index; write_s: sink seconds by job index (the
    sum over sinks, which run side by side)."""

    frame_s: dict[int, dict[str, float]] = field(default_factory=dict)
    write_s: dict[int, float] = field(default_factory=dict)
    dropped: int = 0
    camera_only: int = 0
    skipped: list[dict] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    missing_cameras: Counter = field(default_factory=Counter)
    _recent: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def detected(self) -> int:
        return len(self.frame_s)

    def add_frame(self, index: int, seconds: dict[str, float], end_s: float) -> None:
        """The decode, preprocess, model and postprocess seconds of job ``index``, detected at ``end_s``
        (``time.perf_counter``)."""
        with self._lock:
            self.frame_s[index] = seconds
            self._recent.append((end_s, index))

    def add_write(self, index: int, seconds: float) -> None:
        """Seconds one sink spent on job ``index``'s messages."""
        with self._lock:
            self.write_s[index] = self.write_s.get(index, 0.0) + seconds

    def skip(self, time_ns: int, reason: str) -> None:
        self.skipped.append({"time_s": round(time_ns / NS, 6), "reason": reason})

    def recent_fps(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1][0] - self._recent[0][0], 1e-9)

    def recent_ms(self) -> dict[str, float]:
        """Mean milliseconds per stage over the last frames, for the progress bar (writes so far)."""
        with self._lock:
            rows = [self._stages_of(index) for _, index in self._recent]
        return {stage: 1000 * float(np.mean([row[stage] for row in rows])) for stage in STAGES}

    def _stages_of(self, index: int) -> dict[str, float]:
        return {**self.frame_s[index], "write": self.write_s.get(index, 0.0)}

    def latency_ms(self) -> dict[str, dict[str, float]]:
        """p50, p95 and mean per stage (and of their sum per frame, ``total``) in milliseconds."""
        if not self.detected:
            return {}
        with self._lock:
            rows = [self._stages_of(index) for index in sorted(self.frame_s)]
        table = {stage: [row[stage] for row in rows] for stage in STAGES}
        table["total"] = [sum(row.values()) for row in rows]
        return {stage: {"p50": round(1000 * float(np.percentile(v, 50)), 2),
                        "p95": round(1000 * float(np.percentile(v, 95)), 2),
                        "mean": round(1000 * float(np.mean(v)), 2)} for stage, v in table.items()}

    def summary(self, wall_s: float) -> dict:
        """Counts, throughput and latencies; ``model_bound`` is the throughput as a fraction of the model's own rate
        (1000 / model p50 ms): 1.0 when the model is the only bottleneck. A fault counts all the messages it lost
        (a damaged chunk loses several)."""
        kinds = Counter()
        for fault in self.faults:
            kinds[fault.kind] += fault.messages
        latency = self.latency_ms()
        fps = self.detected / wall_s if wall_s > 0 else 0.0
        return {
            "frames": {"detected": self.detected, "dropped": self.dropped, "skipped": len(self.skipped),
                       "camera_only": self.camera_only},
            "throughput_fps": round(fps, 3),
            "model_bound": round(fps * latency["model"]["p50"] / 1000, 3) if latency else None,
            "wall_s": round(wall_s, 3),
            "latency_ms": latency,
            "missing_cameras": dict(self.missing_cameras),
            "faults": {"corrupt": kinds["corrupt"], "unreadable": kinds["unreadable"],
                       "listed": [fault.as_dict() for fault in self.faults[:MAX_LISTED]]},
            "skipped": self.skipped[:MAX_LISTED],
        }
