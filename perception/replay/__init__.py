"""Replay of recorded drives through the detector.

sources (``nuscenes_source``, ``mcap_source`` + ``mcap_records``, ``foxglove_decode``) → ``events`` →
``sync`` (+ ``transforms``) → ``frames`` → ``jobs`` (decode stage) → ``runner`` (a thread per stage: decode,
preprocess and pacing, model, one per sink) → ``sinks`` (``mcap_output`` + ``foxglove_encode``/
``foxglove_detections``, results JSON, MP4) and ``stats``; ``pipeline`` wires one replay, ``fleet`` many on Ray (an
optional extra), ``to_mcap`` converts a nuScenes scene, ``cli`` holds both commands.
"""
