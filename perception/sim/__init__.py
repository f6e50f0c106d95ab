"""The synthetic drive simulator: procedural street scenes (``world`` and its parts), ray-cast
lidar and cameras (``sensors``) and a writer of whole drives as a nuScenes-format dataset
(``dataset``). It imports ``perception.data`` (the nuScenes tables and loader, the classes) and
``calib``, but nothing of models, inference, train, replay, eval or viz.
"""
