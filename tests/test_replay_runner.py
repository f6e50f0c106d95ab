"""The replay pipeline's threads: sinks see every call in input order, memory stays bounded, errors end the run."""
import threading
import time
from types import SimpleNamespace

import pytest

from perception.replay import runner
from perception.replay.jobs import Job
from perception.replay.runner import ReplayOptions, run_jobs
from perception.replay.sinks import Sink

FRAMES = 40
IN_FLIGHT = 3  # jobs held by the preprocess, model and sink threads themselves, beyond the queues


class FakeDetector:
    """Preprocesses to the frame's number and 'detects' its square, taking a little time like a model."""

    config = SimpleNamespace(lidar=SimpleNamespace(enabled=True), camera=SimpleNamespace(enabled=True))

    def model_input(self, frame, modalities):
        return frame.number

    def infer(self, batch, frame_token=""):
        time.sleep(0.002)
        return batch * batch, {"model": 0.002, "postprocess": 0.0}


class RecordingSink(Sink):
    """Records its calls; sleeps ``delay`` seconds on each, and raises on the detections of ``fail_at``."""

    def __init__(self, delay: float = 0.0, fail_at: int | None = None):
        self.calls, self.delay, self.fail_at, self.closed = [], delay, fail_at, None

    def passthrough(self, job):
        time.sleep(self.delay)
        self.calls.append(("passthrough", job.time_ns))

    def detections(self, job, boxes):
        time.sleep(self.delay)
        if job.time_ns == self.fail_at:
            raise RuntimeError("disk full")
        self.calls.append(("detections", job.time_ns, boxes))

    def close(self, ok):
        self.closed = ok


def numbered_jobs(count: int, produced: list[int] | None = None):
    """Jobs 0..count-1 with a frame of their number (every seventh from 3 on carries a skip reason instead), then
    the trailing job."""
    for number in range(count):
        if produced is not None:
            produced.append(number)
        if number % 7 == 3:
            yield Job([], time_ns=number, skipped="no pose")
        else:
            yield Job([], frame=SimpleNamespace(number=number, images={}, token=str(number)), time_ns=number,
                      sweep_points=1)
    yield Job([])


def expected_calls(count: int) -> list[tuple]:
    calls = []
    for number in range(count):
        calls.append(("passthrough", number))
        if number % 7 != 3:
            calls.append(("detections", number, number * number))
    return calls + [("passthrough", 0)]  # the trailing job


def test_every_sink_gets_its_calls_in_input_order():
    fast, slow = RecordingSink(), RecordingSink(delay=0.003)
    stats = run_jobs(numbered_jobs(FRAMES), FakeDetector(), [fast, slow], ReplayOptions(progress=False))
    assert fast.calls == slow.calls == expected_calls(FRAMES)
    assert fast.closed is True and slow.closed is True
    assert stats.detected == FRAMES - len(range(3, FRAMES, 7)) and len(stats.skipped) == len(range(3, FRAMES, 7))
    assert set(stats.write_s) >= set(stats.frame_s)


def test_a_slow_sink_holds_back_decoding():
    produced: list[int] = []
    sink = RecordingSink(delay=0.01)
    lead = []

    def watch():
        while not sink.closed:
            lead.append(len(produced) - sum(call[0] == "passthrough" for call in list(sink.calls)))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    run_jobs(numbered_jobs(FRAMES, produced), FakeDetector(), [sink], ReplayOptions(progress=False))
    watcher.join()
    bound = runner.PREFETCH_JOBS + runner.PREPARED_JOBS + runner.SINK_BACKLOG + IN_FLIGHT
    assert 0 < max(lead) <= bound


def test_a_failing_sink_ends_the_run_and_discards_every_output():
    failing, other = RecordingSink(fail_at=9), RecordingSink()
    with pytest.raises(RuntimeError, match="disk full"):
        run_jobs(numbered_jobs(FRAMES), FakeDetector(), [failing, other], ReplayOptions(progress=False))
    assert failing.closed is False and other.closed is False
    assert not any(t.name.startswith("replay-") for t in threading.enumerate())
