"""Actors of the synthetic world: the annotated object (``Actor``: category, box size, trajectory,
mesh, nuScenes attribute), box sizes drawn around the nuScenes means, and one mesh builder per
category that makes a car, truck, bus, trailer, construction vehicle, pedestrian, cycle, cone or
barrier inside its box.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from perception.sim.materials import (BUS_PAINTS, CAR_PAINTS, CLOTHES, CONE_ORANGE, CONSTRUCTION_PAINTS, GLASS, HAIR,
                                      HEADLIGHT, METAL, PLATE, RETRO_WHITE, SHOES, SKIN, TAILLIGHT, TRUCK_PAINTS, TYRE,
                                      cloth_reflectivity, paint_reflectivity, pick_colour)
from perception.sim.meshes import (Mesh, MeshPart, beam, box, cylinder_y, frustum, hexahedron, merge, sphere,
                                   tapered_box, torus_y)
from perception.sim.trajectories import Trajectory

CATEGORIES = (
    "vehicle.car",
    "vehicle.truck",
    "vehicle.bus.rigid",
    "vehicle.trailer",
    "vehicle.construction",
    "human.pedestrian.adult",
    "vehicle.motorcycle",
    "vehicle.bicycle",
    "movable_object.trafficcone",
    "movable_object.barrier",
)

#: nuScenes mean box sizes (length, width, height) in metres.
MEAN_SIZES = {
    "vehicle.car": (4.6, 1.95, 1.73),
    "vehicle.truck": (6.9, 2.5, 2.8),
    "vehicle.bus.rigid": (11.0, 2.9, 3.5),
    "vehicle.trailer": (12.0, 2.9, 3.9),
    "vehicle.construction": (6.4, 2.8, 3.2),
    "human.pedestrian.adult": (0.73, 0.67, 1.77),
    "vehicle.motorcycle": (2.1, 0.77, 1.47),
    "vehicle.bicycle": (1.7, 0.6, 1.28),
    "movable_object.trafficcone": (0.41, 0.41, 1.07),
    "movable_object.barrier": (2.5, 0.5, 0.98),
}

#: Relative standard deviation of each size dimension around the mean, per category.
SIZE_SPREAD = {
    "vehicle.car": (0.07, 0.04, 0.08),
    "vehicle.truck": (0.15, 0.05, 0.1),
    "vehicle.bus.rigid": (0.08, 0.02, 0.04),
    "vehicle.trailer": (0.1, 0.02, 0.04),
    "vehicle.construction": (0.12, 0.06, 0.1),
    "human.pedestrian.adult": (0.08, 0.08, 0.05),
    "vehicle.motorcycle": (0.06, 0.06, 0.05),
    "vehicle.bicycle": (0.05, 0.06, 0.05),
    "movable_object.trafficcone": (0.06, 0.06, 0.1),
    "movable_object.barrier": (0.08, 0.1, 0.05),
}


MOVING_SPEED = 0.3


@dataclasses.dataclass
class Actor:
    """An annotated object: category, box size, motion and mesh.

    ``parked``: vehicle parked at the curb; ``rider``: cycle with rider; ``sitting``: pedestrian
    sitting or lying down.
    """

    instance_id: int
    category: str
    size: np.ndarray  # (3,) l, w, h
    trajectory: Trajectory
    base_z: float
    parts: tuple[MeshPart, ...]
    parked: bool = False
    rider: bool = False
    sitting: bool = False

    def boxes_at(self, t) -> np.ndarray:
        """(T, 7) boxes [x, y, z, l, w, h, yaw] at times ``t`` (T,)."""
        poses = self.trajectory.poses(t)
        out = np.empty((len(poses), 7))
        out[:, :2] = poses[:, :2]
        out[:, 2] = self.base_z + 0.5 * self.size[2]
        out[:, 3:6] = self.size
        out[:, 6] = poses[:, 2]
        return out

    def box_at(self, t: float) -> np.ndarray:
        """(7,) box [x, y, z, l, w, h, yaw] in the global frame at time ``t``."""
        return self.boxes_at(t)[0]

    def velocity_at(self, t: float) -> np.ndarray:
        """(2,) global velocity (vx, vy) in m/s."""
        return self.trajectory.velocities(t)[0]

    def attribute_at(self, t: float) -> str | None:
        """nuScenes attribute name, or None for cones and barriers."""
        moving = float(np.hypot(*self.velocity_at(t))) > MOVING_SPEED
        if self.category.startswith("movable_object"):
            return None
        if self.category in ("vehicle.bicycle", "vehicle.motorcycle"):
            return "cycle.with_rider" if self.rider else "cycle.without_rider"
        if self.category == "human.pedestrian.adult":
            if self.sitting:
                return "pedestrian.sitting_lying_down"
            return "pedestrian.moving" if moving else "pedestrian.standing"
        if moving:
            return "vehicle.moving"
        return "vehicle.parked" if self.parked else "vehicle.stopped"


def sample_size(rng: np.random.Generator, category: str, scale_h: float = 1.0) -> np.ndarray:
    """Box size (l, w, h) around the nuScenes mean of ``category``."""
    mean = np.asarray(MEAN_SIZES[category])
    spread = np.asarray(SIZE_SPREAD[category])
    factor = np.clip(1.0 + spread * rng.standard_normal(3), 1.0 - 2.5 * spread, 1.0 + 2.5 * spread)
    size = mean * factor
    size[2] *= scale_h
    return size


def _parts_in_box(size, pieces) -> tuple[MeshPart, ...]:
    """Turn ``(mesh, (rgb, reflectivity))`` pieces built with z from 0 (box bottom) into box-frame
    parts; vertices are clamped to the box so no surface ever leaves it."""
    half = 0.5 * np.asarray(size, np.float32)
    parts = []
    for mesh, (rgb, refl) in pieces:
        v, f = mesh
        v = np.clip(v - np.array([0.0, 0.0, half[2]], np.float32), -half, half)
        parts.append(MeshPart(v.astype(np.float32), f.astype(np.uint32), tuple(rgb), float(refl)))
    return tuple(parts)


def _lights_and_plates(l, w, z_lights, z_plate, inset) -> list:
    """Head/tail lights and number plates on the front (+x) and rear (-x) faces."""
    hx, lw, lh = 0.5 * l, 0.16 * w, 0.07
    lamp_y = [(s * 0.42 * w - lw / 2, s * 0.42 * w + lw / 2) for s in (-1, 1)]
    lights_front = merge(*(box((hx - inset, y0, z_lights), (hx, y1, z_lights + lh)) for y0, y1 in lamp_y))
    lights_rear = merge(*(box((-hx, y0, z_lights), (-hx + inset, y1, z_lights + lh)) for y0, y1 in lamp_y))
    plates = merge(box((hx - inset, -0.26, z_plate), (hx, 0.26, z_plate + 0.11)),
                   box((-hx, -0.26, z_plate), (-hx + inset, 0.26, z_plate + 0.11)))
    return [(lights_front, HEADLIGHT), (lights_rear, TAILLIGHT), (plates, PLATE)]


def _wheels(xs, w, radius, width=0.22) -> Mesh:
    y = 0.5 * w - 0.5 * width - 0.02
    return merge(*(cylinder_y(radius, width, (x, s * y, radius)) for x in xs for s in (-1, 1)))


def car_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """Body + sloped glass cabin + roof + mirrors + wheels + lights + plates."""
    l, w, h = size
    paint = pick_colour(rng, CAR_PAINTS)
    paint_mat = (paint, paint_reflectivity(paint))
    clearance = rng.uniform(0.1, 0.16) * h
    belt = rng.uniform(0.5, 0.6) * h
    hx = 0.5 * l - 0.02
    body = tapered_box((-hx, hx), 0.47 * w, 0.45 * w, (clearance, belt))
    cab_back, cab_front = -rng.uniform(0.28, 0.42) * l, rng.uniform(0.14, 0.26) * l
    roof_back, roof_front = cab_back + 0.1 * l, cab_front - rng.uniform(0.14, 0.2) * l
    roof_z = 0.95 * h
    cabin = tapered_box((cab_back, cab_front), 0.43 * w, 0.37 * w, (belt, roof_z), x_top=(roof_back, roof_front))
    roof = tapered_box((roof_back, roof_front), 0.37 * w, 0.36 * w, (roof_z, h))
    mirror_x = cab_front - 0.05
    mirrors = merge(box((mirror_x - 0.08, -0.5 * w, belt), (mirror_x + 0.08, -0.43 * w, belt + 0.12)),
                    box((mirror_x - 0.08, 0.43 * w, belt), (mirror_x + 0.08, 0.5 * w, belt + 0.12)))
    radius = min(0.34, 0.19 * h)
    wheels = _wheels((0.5 * l - 0.2 * l, -0.5 * l + 0.2 * l), 0.94 * w, radius)
    pieces = [(merge(body, roof, mirrors), paint_mat), (cabin, GLASS), (wheels, TYRE)]
    pieces += _lights_and_plates(l, w, 0.8 * belt, 0.45 * belt, 0.02)
    return _parts_in_box(size, pieces)


def truck_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """Cab at the front, cargo box behind, chassis and wheels."""
    l, w, h = size
    cab_colour = pick_colour(rng, TRUCK_PAINTS)
    cargo_colour = pick_colour(rng, [((0.9, 0.9, 0.9), 0.6), ((0.7, 0.7, 0.72), 0.2), (cab_colour, 0.2)])
    cab_len = min(2.2, 0.32 * l)
    cab_h = rng.uniform(0.72, 0.85) * h
    x_cab = 0.5 * l - cab_len
    clearance = 0.35
    cab = box((x_cab, -0.48 * w, clearance), (0.5 * l - 0.02, 0.48 * w, 0.55 * cab_h))
    cab_top = tapered_box((x_cab, 0.5 * l - 0.35), 0.48 * w, 0.46 * w, (0.55 * cab_h, cab_h))
    windshield = tapered_box((0.5 * l - 0.35, 0.5 * l - 0.02), 0.44 * w, 0.42 * w, (0.55 * cab_h, 0.92 * cab_h),
                             x_top=(0.5 * l - 0.35, 0.5 * l - 0.2))
    cargo = box((-0.5 * l + 0.02, -0.5 * w, 0.28 * h), (x_cab - 0.12, 0.5 * w, h))
    chassis = box((-0.5 * l + 0.3, -0.3 * w, 0.22), (x_cab, 0.3 * w, 0.28 * h))
    radius = 0.48
    axles = (0.5 * l - 0.6 * cab_len, -0.5 * l + 1.2) + ((-0.5 * l + 2.5,) if l > 8.0 else ())
    pieces = [(merge(cab, cab_top), (cab_colour, paint_reflectivity(cab_colour))), (windshield, GLASS),
              (cargo, (cargo_colour, paint_reflectivity(cargo_colour))), (chassis, METAL),
              (_wheels(axles, w, radius, 0.3), TYRE)]
    pieces += _lights_and_plates(l, w, 0.7, 0.5, 0.02)
    return _parts_in_box(size, pieces)


def bus_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """City bus: a body whose front is a tall windscreen reaching low, a window band ending at a windowless engine
    bay at the rear, a roof pod (cooling, air conditioning) over the rear third standing above the front roof, lights
    and plates at both ends. The two ends differ in height and brightness to the lidar, as a real bus's do; a box
    with a glass front alone looked the same from both ends (docs/training.md, stage 9). Draws from ``rng`` only the
    paint, so a world's other random draws do not change with the bus's shape."""
    l, w, h = size
    colour = pick_colour(rng, BUS_PAINTS)
    paint = (colour, paint_reflectivity(colour))
    roof = 0.87 * h
    body = box((-0.5 * l + 0.02, -0.485 * w, 0.12 * h), (0.5 * l - 0.02, 0.485 * w, roof))
    pod = box((-0.5 * l + 0.3, -0.42 * w, roof), (-0.5 * l + 0.36 * l, 0.42 * w, h))
    side_windows = box((-0.5 * l + 2.2, -0.5 * w, 0.42 * h), (0.5 * l - 0.4, 0.5 * w, 0.82 * roof))
    windshield = box((0.5 * l - 0.03, -0.46 * w, 0.25 * h), (0.5 * l, 0.46 * w, 0.95 * roof))
    radius = 0.5
    wheels = _wheels((0.5 * l - 2.6, -0.5 * l + 3.0), w, radius, 0.32)
    pieces = [(merge(body, pod), paint), (merge(side_windows, windshield), GLASS), (wheels, TYRE)]
    pieces += _lights_and_plates(l, w, 0.2 * h, 0.12 * h, 0.02)
    return _parts_in_box(size, pieces)


def trailer_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """Container on a chassis with rear axles and front landing legs."""
    l, w, h = size
    colour = pick_colour(rng, [((0.88, 0.88, 0.86), 0.5), ((0.55, 0.56, 0.58), 0.2),
                               ((0.55, 0.12, 0.08), 0.15), ((0.12, 0.25, 0.5), 0.15)])
    container = box((-0.5 * l, -0.5 * w, 0.33 * h), (0.5 * l, 0.5 * w, h))
    chassis = box((-0.5 * l + 0.2, -0.35 * w, 0.25 * h), (0.5 * l - 0.5, 0.35 * w, 0.33 * h))
    legs = merge(*(box((0.5 * l - 2.6, s * 0.32 * w - 0.08, 0.0), (0.5 * l - 2.4, s * 0.32 * w + 0.08, 0.25 * h))
                   for s in (-1, 1)))
    wheels = _wheels((-0.5 * l + 1.2, -0.5 * l + 2.5), w, 0.48, 0.32)
    rear = _lights_and_plates(l, w, 0.27 * h, 0.2 * h, 0.02)[1:]
    pieces = [(container, (colour, paint_reflectivity(colour))), (merge(chassis, legs), METAL), (wheels, TYRE)]
    return _parts_in_box(size, pieces + rear)


def construction_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """Excavator-like machine: tracks, turret, cab, boom and bucket."""
    l, w, h = size
    colour = pick_colour(rng, CONSTRUCTION_PAINTS)
    paint = (colour, paint_reflectivity(colour))
    track_h = 0.22 * h
    tracks = merge(*(box((-0.42 * l, s * 0.5 * w - (0.28 * w if s > 0 else 0), 0.0),
                         (0.22 * l, s * 0.5 * w + (0.28 * w if s < 0 else 0), track_h)) for s in (-1, 1)))
    turret = box((-0.48 * l, -0.45 * w, track_h), (0.12 * l, 0.45 * w, 0.55 * h))
    counterweight = box((-0.5 * l, -0.45 * w, 0.3 * h), (-0.42 * l, 0.45 * w, 0.6 * h))
    cab = box((-0.05 * l, 0.05 * w, 0.55 * h), (0.2 * l, 0.45 * w, 0.62 * h))
    cab_glass = box((-0.05 * l, 0.05 * w, 0.62 * h), (0.2 * l, 0.45 * w, 0.95 * h))
    shoulder = np.array([0.1 * l, -0.15 * w, 0.55 * h])
    elbow = np.array([0.33 * l, -0.15 * w, 0.93 * h])
    wrist = np.array([0.46 * l, -0.15 * w, 0.35 * h])
    boom = merge(beam(shoulder, elbow, 0.35), beam(elbow, wrist, 0.25))
    bucket = box((0.4 * l, -0.35 * w, 0.05 * h), (0.5 * l, 0.05 * w, 0.3 * h))
    pieces = [(merge(turret, cab, boom), paint), (cab_glass, GLASS), (merge(tracks, bucket), METAL),
              (counterweight, ((0.15, 0.15, 0.15), 0.1))]
    return _parts_in_box(size, pieces)


def _person(rng: np.random.Generator, h: float, x0: float, z0: float, pose: str, forward_lean: float = 0.0) -> list:
    """Pieces of a human figure standing/walking at (x0, 0, z0) facing +x, total height ``h``,
    or seated (``pose='seated'``: hips at z0, legs forward, head top at z0 + h / 2).

    A person's front differs from their back as a real one's does: a face under hair that covers the back of the
    head, shoes reaching forward of the ankles, arms hanging a little forward of the shoulders."""
    shirt = pick_colour(rng, CLOTHES)
    trousers = pick_colour(rng, CLOTHES)
    skin = pick_colour(rng, SKIN, jitter=0.03)
    hair = pick_colour(rng, HAIR, jitter=0.03)
    head_r = 0.065 * h
    pieces = []
    if pose == "seated":
        hip_z, shoulder_z = z0, z0 + 0.33 * h
        legs = merge(*(beam((x0, s * 0.09, hip_z), (x0 + 0.25 * h, s * 0.1, hip_z), 0.13) for s in (-1, 1)),
                     *(beam((x0 + 0.25 * h, s * 0.1, hip_z), (x0 + 0.28 * h, s * 0.1, hip_z - 0.24 * h), 0.11)
                       for s in (-1, 1)))
    else:
        hip_z, shoulder_z = z0 + 0.5 * h, z0 + 0.81 * h
        stride = 0.16 * h if pose == "walking" else 0.02
        feet = [(x0 + stride * rng.uniform(0.6, 1.0), -0.1), (x0 - stride * rng.uniform(0.6, 1.0), 0.1)]
        legs = merge(*(beam((x0, y, hip_z), (fx, y, z0 + 0.04), 0.13) for fx, y in feet))
        shoes = merge(*(box((fx - 0.07, y - 0.05, z0), (fx + 0.2, y + 0.05, z0 + 0.09)) for fx, y in feet))
        pieces.append((shoes, (pick_colour(rng, SHOES), 0.2)))
    lean = forward_lean * (shoulder_z - hip_z)
    chest_x = x0 + lean
    torso = hexahedron([[x0 - 0.11, -0.2, hip_z], [x0 + 0.11, -0.2, hip_z], [x0 + 0.11, 0.2, hip_z],
                        [x0 - 0.11, 0.2, hip_z], [chest_x - 0.1, -0.21, shoulder_z], [chest_x + 0.1, -0.21, shoulder_z],
                        [chest_x + 0.1, 0.21, shoulder_z], [chest_x - 0.1, 0.21, shoulder_z]])
    swing = 0.1 * h if pose == "walking" else 0.0
    arm_angle = 0.15 + 1.2 * forward_lean  # from hanging down toward pointing forward (handlebars)
    hand_x, hand_z = chest_x + 0.32 * h * math.sin(arm_angle), shoulder_z - 0.32 * h * math.cos(arm_angle)
    arms = merge(*(beam((chest_x, s * 0.25, shoulder_z - 0.03), (hand_x + s * swing, s * 0.27, hand_z), 0.08)
                   for s in (-1, 1)))
    head_z = shoulder_z + 0.04 * h + head_r
    face = sphere(0.9 * head_r, (chest_x + 0.25 * head_r, 0.0, head_z - 0.1 * head_r))
    scalp = sphere(head_r, (chest_x - 0.1 * head_r, 0.0, head_z + 0.05 * head_r))
    return pieces + [(legs, (trousers, cloth_reflectivity(trousers))),
                     (merge(torso, arms), (shirt, cloth_reflectivity(shirt))),
                     (face, (skin, 0.3)), (scalp, (hair, 0.2))]


def pedestrian_parts(rng: np.random.Generator, size, pose: str) -> tuple[MeshPart, ...]:
    """Legs, torso, arms and head, and on a third of those on foot a backpack; ``pose`` in {'walking', 'standing',
    'seated'}. Walkers lean a little into their stride."""
    l, w, h = size
    if pose == "seated":
        seat_h = 0.35 * h
        seat = box((-0.5 * l, -0.24, 0.0), (-0.5 * l + 0.4, 0.24, seat_h))
        pieces = _person(rng, 2.0 * (h - seat_h), -0.5 * l + 0.15, seat_h, "seated")
        return _parts_in_box(size, pieces + [(seat, ((0.35, 0.3, 0.25), 0.2))])
    pieces = _person(rng, h, 0.0, 0.0, pose, forward_lean=0.08 if pose == "walking" else 0.0)
    if rng.random() < 1 / 3:
        bag = pick_colour(rng, CLOTHES)
        pieces.append((box((-0.3, -0.15, 0.55 * h), (-0.1, 0.15, 0.78 * h)), (bag, cloth_reflectivity(bag))))
    return _parts_in_box(size, pieces)


def cycle_parts(rng: np.random.Generator, size, motor: bool, rider: bool) -> tuple[MeshPart, ...]:
    """Bicycle or motorcycle: two wheels, frame, handlebar, optional rider."""
    l, w, h = size
    wheel_r = 0.32 if motor else min(0.34, 0.2 * l)
    tube = 0.07 if motor else 0.02
    frame_colour = pick_colour(rng, CAR_PAINTS)
    rear_x, front_x = -0.5 * l + wheel_r + tube, 0.5 * l - wheel_r - tube
    wheels = merge(torus_y(wheel_r, tube, (rear_x, 0, wheel_r + tube)),
                   torus_y(wheel_r, tube, (front_x, 0, wheel_r + tube)))
    hub_z = wheel_r + tube
    bar_z = 1.05 if motor else 1.0
    seat_x, seat_z = -0.12 * l, (0.8 if motor else 0.9)
    if motor:
        frame = merge(box((rear_x + 0.1, -0.15, 0.35), (front_x - 0.2, 0.15, 0.75)),
                      beam((front_x, 0, hub_z), (front_x - 0.25, 0, bar_z), 0.08),
                      box((seat_x - 0.35, -0.16, 0.75), (seat_x + 0.25, 0.16, seat_z)))
        frame_mat = (frame_colour, paint_reflectivity(frame_colour))
    else:
        bracket = (0.0, 0, hub_z)
        seat = (seat_x, 0, seat_z)
        head = (front_x - 0.18, 0, bar_z - 0.08)
        saddle = box((seat_x - 0.12, -0.07, seat_z), (seat_x + 0.1, 0.07, seat_z + 0.05))
        frame = merge(beam((rear_x, 0, hub_z), bracket, 0.03), beam(bracket, seat, 0.035),
                      beam(bracket, head, 0.035), beam(seat, head, 0.03), beam((rear_x, 0, hub_z), seat, 0.025),
                      beam(head, (front_x, 0, hub_z), 0.03), saddle)
        frame_mat = (frame_colour, paint_reflectivity(frame_colour))
    handlebar = beam((front_x - 0.2, -0.5 * w + 0.02, bar_z), (front_x - 0.2, 0.5 * w - 0.02, bar_z), 0.04)
    pieces = [(wheels, TYRE), (frame, frame_mat), (handlebar, METAL)]
    if motor:
        pieces.append((box((0.5 * l - 0.12, -0.08, 0.8), (0.5 * l - 0.02, 0.08, 0.92)), HEADLIGHT))
    if rider:
        pieces += _person(rng, 2.0 * (h - seat_z), seat_x, seat_z, "seated", forward_lean=0.5 if motor else 0.9)
    return _parts_in_box(size, pieces)


def cone_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """Square base plate, orange cone and a retro-reflective band."""
    l, w, h = size
    r = 0.42 * min(l, w)
    base = box((-0.5 * l, -0.5 * w, 0.0), (0.5 * l, 0.5 * w, 0.04))
    body = frustum(r, 0.03, 0.04, h, segments=14)
    z0, z1 = 0.55 * h, 0.72 * h
    r0, r1 = (r + (0.03 - r) * (z - 0.04) / (h - 0.04) + 0.004 for z in (z0, z1))
    band = frustum(r0, r1, z0, z1, segments=14)
    return _parts_in_box(size, [(base, ((0.08, 0.08, 0.08), 0.05)), (body, CONE_ORANGE), (band, RETRO_WHITE)])


def barrier_parts(rng: np.random.Generator, size) -> tuple[MeshPart, ...]:
    """Either a concrete jersey barrier or striped planks on A-frame legs."""
    l, w, h = size
    if rng.random() < 0.5:
        grey = pick_colour(rng, [((0.7, 0.69, 0.66), 1.0)])
        body = merge(tapered_box((-0.5 * l, 0.5 * l), 0.5 * w, 0.22 * w, (0.0, 0.3 * h)),
                     tapered_box((-0.5 * l, 0.5 * l), 0.22 * w, 0.15 * w, (0.3 * h, h)))
        return _parts_in_box(size, [(body, (grey, 0.3))])
    n_stripes = 6
    xs = np.linspace(-0.5 * l, 0.5 * l, n_stripes + 1)
    planks = [[], []]
    for i in range(n_stripes):
        for z0 in (0.55 * h, 0.8 * h):
            planks[i % 2].append(box((xs[i], -0.05, z0), (xs[i + 1], 0.05, z0 + 0.18 * h)))
    legs = merge(*(beam((x, -0.5 * w, 0.0), (x, 0.0, 0.98 * h), 0.05) for x in (-0.4 * l, 0.4 * l)),
                 *(beam((x, 0.5 * w, 0.0), (x, 0.0, 0.98 * h), 0.05) for x in (-0.4 * l, 0.4 * l)))
    return _parts_in_box(size, [(merge(*planks[0]), ((0.9, 0.3, 0.05), 0.8)), (merge(*planks[1]), RETRO_WHITE),
                                (legs, METAL)])
