"""Detections as Foxglove messages: 3D boxes (``SceneUpdate``) and their projections into images
(``ImageAnnotations``), coloured by class and labelled with class and score (ground truth: class only); each
entity's metadata holds its class, score and velocity."""
from __future__ import annotations

import numpy as np
from foxglove import messages as fm

from calib import Camera, project_boxes
from calib.se3 import rotation_to_quaternion, yaw_rotation
from perception.boxes import Boxes3D
from perception.data.classes import DETECTION_CLASSES
from perception.replay.foxglove_encode import pose, timestamp, vector3
from perception.viz.camera_view import BOX_EDGES
from perception.viz.style import CLASS_COLORS, detection_label

BOX_ALPHA = 0.4
LABEL_LIFT_M = 0.5  # the label floats this far above the box top
LINE_THICKNESS_PX = 2.0


def color(name: str, alpha: float = 1.0) -> fm.Color:
    r, g, b = CLASS_COLORS[name]  # 0..255, the colours of every other view
    return fm.Color(r=r / 255, g=g / 255, b=b / 255, a=alpha)


def box_metadata(name: str, score: float | None, velocity) -> list[fm.KeyValuePair]:
    """class, score (detections only), vx and vy (m/s, 'nan' when unknown) and speed of one box."""
    vx, vy = (float(v) for v in velocity)
    values = {"class": name, **({} if score is None else {"score": f"{score:.3f}"}),
              "vx": f"{vx:.3f}", "vy": f"{vy:.3f}", "speed": f"{float(np.hypot(vx, vy)):.3f}"}
    return [fm.KeyValuePair(key=key, value=value) for key, value in values.items()]


def scene_update(boxes: Boxes3D, time_ns: int, frame_id: str, id_prefix: str = "det") -> fm.SceneUpdate:
    """All boxes (M, 9) of one sweep in ``frame_id``, replacing the previous sweep's (deletion of all first);
    ground truth (no scores) is labelled by class alone.

    Entity ids are the box's rank in the sweep (``<id_prefix>-<i>``): the detector does not track objects over time.
    """
    stamp = timestamp(time_ns)
    scores = [None] * len(boxes.boxes) if boxes.scores is None else [float(s) for s in boxes.scores]
    entities = []
    for i, (row, label_index, score) in enumerate(zip(boxes.boxes, boxes.labels, scores)):
        name = DETECTION_CLASSES[label_index]
        x, y, z, length, width, height, yaw = (float(v) for v in row[:7])
        entities.append(fm.SceneEntity(
            timestamp=stamp, frame_id=frame_id, id=f"{id_prefix}-{i}", frame_locked=False,
            metadata=box_metadata(name, score, row[7:9]),
            cubes=[fm.CubePrimitive(pose=pose((x, y, z), rotation_to_quaternion(yaw_rotation(yaw))),
                                    size=vector3((length, width, height)), color=color(name, BOX_ALPHA))],
            texts=[fm.TextPrimitive(pose=pose((x, y, z + height / 2 + LABEL_LIFT_M), (1.0, 0.0, 0.0, 0.0)),
                                    billboard=True, font_size=14.0, scale_invariant=True, color=color(name),
                                    text=name if score is None else detection_label(label_index, score))]))
    return fm.SceneUpdate(deletions=[fm.SceneEntityDeletion(timestamp=stamp, type=fm.SceneEntityDeletionType.All)],
                          entities=entities)


def image_annotations(camera: Camera, boxes: Boxes3D, time_ns: int) -> fm.ImageAnnotations:
    """Wireframes (one LINE_LIST per box) and labels of the boxes (ego frame) visible in ``camera``'s image."""
    stamp = timestamp(time_ns)
    pixels, _, visible = project_boxes(camera, boxes.boxes)
    lines, texts = [], []
    for corners, label_index, score in zip(pixels[visible], boxes.labels[visible], boxes.scores[visible]):
        name = DETECTION_CLASSES[label_index]
        points = [fm.Point2(x=float(corners[i][0]), y=float(corners[i][1])) for edge in BOX_EDGES for i in edge]
        lines.append(fm.PointsAnnotation(timestamp=stamp, type=fm.PointsAnnotationType.LineList, points=points,
                                         outline_color=color(name), thickness=LINE_THICKNESS_PX))
        top_left = corners.min(axis=0)
        texts.append(fm.TextAnnotation(timestamp=stamp, position=fm.Point2(x=float(top_left[0]), y=float(top_left[1])),
                                       text=detection_label(label_index, float(score)), font_size=14.0,
                                       text_color=color(name), background_color=fm.Color(r=0.0, g=0.0, b=0.0, a=0.6)))
    return fm.ImageAnnotations(points=lines, texts=texts)
