"""Replay of recorded drives through the detector.

sources (``nuscenes_source``, ``kitti_source``, ``mcap_source`` + ``mcap_records``, ``recording_format``,
``topic_roles``, ``mcap_codecs`` → ``foxglove_decode`` or ``ros2_decode``) → ``events`` → ``sync``
(+ ``transforms``) → ``frames`` → ``jobs`` (decode stage) → ``runner`` (a thread per stage: decode, preprocess
and pacing, model, one per sink) → ``sinks`` (``mcap_output`` + ``foxglove_encode``/``foxglove_detections``/``ros2_encode``/
``foxglove_layout``, results JSON, MP4) and ``rerun_sink``, and ``stats``; ``ros2_msgdefs`` holds the ROS 2 schema
texts; ``pipeline`` wires one replay, ``fleet`` many on Ray (an optional extra), ``to_mcap`` converts a nuScenes
scene, ``cli`` holds both commands.
"""
