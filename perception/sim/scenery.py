"""Static scenery of the synthetic world: ``SceneryBuilder`` lays the ground, road surface, sidewalks,
buildings, street lights, sign poles and trees along a road as global-frame ``StaticGeometry`` and
records their footprints so that actors keep off them.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from perception.sim.materials import BUILDING_COLOURS, pick_colour
from perception.sim.meshes import Mesh, MeshPart, box, frustum, merge, sphere, transform_mesh
from perception.sim.placement import Occupancy
from perception.sim.road import CURB_HEIGHT, GROUND_DROP, Road, ground_plane, road_surface, sweep_profile


@dataclasses.dataclass(frozen=True)
class StaticGeometry(MeshPart):
    """A static mesh: a single-material piece in the global frame (not a box frame), and its kind."""

    kind: str


class SceneryBuilder:
    """Builds sidewalks, buildings, poles and trees; records obstacle footprints."""

    def __init__(self, rng: np.random.Generator, road: Road, occupancy: Occupancy):
        self.rng = rng
        self.road = road
        self.occupancy = occupancy
        self.items: list[StaticGeometry] = []

    def add(self, mesh: Mesh, rgb, reflectivity: float, kind: str) -> None:
        """Record a global-frame mesh with its material."""
        self.items.append(StaticGeometry(mesh[0], mesh[1], tuple(float(c) for c in rgb), float(reflectivity), kind))

    def place_on_road(self, mesh: Mesh, s: float, d: float, base_z: float, yaw_offset: float = 0.0) -> Mesh:
        """Move a mesh built around the origin (x along the road) to road coordinates."""
        x, y = self.road.point(s, d)
        return transform_mesh(mesh, float(self.road.heading(s)) + yaw_offset, (x, y, base_z))

    def build(self) -> list[StaticGeometry]:
        road = self.road
        self.add(ground_plane(road), (0.3, 0.32, 0.22), 0.2, "ground")
        self.add(road_surface(road), (0.28, 0.28, 0.28), 0.08, "road")
        s_sweep = np.linspace(road.s_min, road.s_max, int((road.s_max - road.s_min) / 2.0) + 2)
        for side in (-1, 1):
            inner, outer = road.half_width, road.half_width + road.sidewalk_width
            profile = np.array([[inner, 0.0], [outer, 0.0], [outer, CURB_HEIGHT], [inner, CURB_HEIGHT]]) * [side, 1]
            self.add(sweep_profile(road, s_sweep, profile), (0.6, 0.6, 0.58), 0.3, "sidewalk")
            self.add_buildings(side)
            self.add_street_furniture(side)
        return self.items

    def add_buildings(self, side: int) -> None:
        """A row of boxes of varied frontage, depth and height behind the sidewalk, with gaps;
        on curves each is pushed back until no corner reaches the sidewalk."""
        rng, road = self.rng, self.road
        front = road.half_width + road.sidewalk_width
        s = road.s_min
        while s < road.s_max:
            if rng.random() < 0.3:
                s += rng.uniform(3.0, 14.0)
                continue
            frontage = rng.uniform(8.0, 40.0)
            depth = rng.uniform(10.0, 25.0)
            height = float(rng.choice([rng.uniform(3.0, 8.0), rng.uniform(8.0, 15.0), rng.uniform(15.0, 25.0)],
                                      p=[0.35, 0.45, 0.2]))
            setback = rng.uniform(0.0, 3.0)
            s_mid = s + 0.5 * frontage
            mesh = box((-0.5 * frontage, -0.5 * depth, 0.0), (0.5 * frontage, 0.5 * depth, height))
            d_centre = side * (front + setback + 0.5 * depth)
            placed = self.place_on_road(mesh, s_mid, d_centre, -GROUND_DROP)
            corners_d = road.to_sd(placed[0][:4])[1]
            intrusion = front + 0.2 - np.min(side * corners_d)
            if intrusion > 0:
                placed = self.place_on_road(mesh, s_mid, d_centre + side * intrusion, -GROUND_DROP)
            colour = pick_colour(rng, BUILDING_COLOURS, jitter=0.06)
            self.add(placed, colour, 0.2 + 0.3 * float(np.mean(colour)), "building")
            s += frontage

    def add_obstacle(self, s: float, d: float, size: float) -> None:
        """Keep actors off a square footprint of ``size`` metres at road coordinates (s, d)."""
        x, y = self.road.point(s, d)
        self.occupancy.add(np.array([[x, y, float(self.road.heading(s)), size, size]]))

    def add_street_furniture(self, side: int) -> None:
        """Street lights, sign poles and trees along the curb of ``side``."""
        rng, road = self.rng, self.road
        curb = road.half_width
        s = road.s_min + rng.uniform(0.0, 20.0)
        tree_row = rng.random() < 0.6
        while s < road.s_max:
            item = rng.choice(["light", "sign", "tree"], p=[0.4, 0.2, 0.4] if tree_row else [0.65, 0.35, 0.0])
            if item == "light":
                self.add_street_light(s, side * (curb + 0.45), side)
            elif item == "sign":
                self.add_sign_pole(s, side * (curb + 0.4), side)
            else:
                self.add_tree(s, side * (curb + 0.7))
            s += rng.uniform(8.0, 18.0) if tree_row else rng.uniform(18.0, 35.0)

    def add_street_light(self, s: float, d: float, side: int) -> None:
        height = self.rng.uniform(6.0, 8.0)
        arm_tip = -side * self.rng.uniform(1.5, 2.5)  # the arm reaches over the road
        pole = merge(frustum(0.14, 0.09, 0.0, height, 10),
                     box((-0.05, min(arm_tip, 0.0), height - 0.15), (0.05, max(arm_tip, 0.0), height - 0.05)))
        lamp = box((-0.2, arm_tip - 0.2, height - 0.3), (0.2, arm_tip + 0.2, height - 0.12))
        grey = pick_colour(self.rng, [((0.35, 0.36, 0.37), 1.0)])
        self.add(self.place_on_road(pole, s, d, CURB_HEIGHT), grey, 0.35, "pole")
        self.add(self.place_on_road(lamp, s, d, CURB_HEIGHT), (0.8, 0.8, 0.75), 0.5, "pole")
        self.add_obstacle(s, d, 0.3)

    def add_sign_pole(self, s: float, d: float, side: int) -> None:
        height = self.rng.uniform(2.5, 3.3)
        pole = frustum(0.04, 0.04, 0.0, height, 8)
        plate = box((-0.02 + 0.05, -0.3, height - 0.65), (0.02 + 0.05, 0.3, height - 0.05))
        colour = [(0.75, 0.1, 0.1), (0.1, 0.3, 0.7), (0.9, 0.9, 0.9), (0.1, 0.45, 0.2)][int(self.rng.integers(4))]
        yaw = math.pi if side > 0 else 0.0
        self.add(self.place_on_road(pole, s, d, CURB_HEIGHT), (0.55, 0.56, 0.58), 0.4, "pole")
        self.add(self.place_on_road(plate, s, d, CURB_HEIGHT, yaw), colour, 0.9, "sign")
        self.add_obstacle(s, d, 0.15)

    def add_tree(self, s: float, d: float) -> None:
        trunk_h = self.rng.uniform(4.9, 6.0)
        crown_r = self.rng.uniform(1.4, 2.4)
        trunk = frustum(0.18, 0.13, 0.0, trunk_h + 0.5, 8)
        crown = sphere(crown_r, (0.0, 0.0, trunk_h + crown_r * 0.85), resolution=6)
        self.add(self.place_on_road(trunk, s, d, CURB_HEIGHT), (0.3, 0.22, 0.15), 0.25, "vegetation")
        green = pick_colour(self.rng, [((0.18, 0.32, 0.12), 0.6), ((0.28, 0.38, 0.14), 0.4)], jitter=0.08)
        self.add(self.place_on_road(crown, s, d, CURB_HEIGHT), green, 0.35, "vegetation")
        self.add_obstacle(s, d, 0.45)
