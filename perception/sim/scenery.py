"""Static scenery of the synthetic world: ``SceneryBuilder`` lays the ground, road surface, sidewalks,
buildings (some on arcades of pillars), street lights, sign poles, trees, the hedges, bushes, walls and fences in
front of the buildings and the bollards, benches, bins, cabinets and planters on the sidewalks along a road as
global-frame ``StaticGeometry`` and records their footprints so that actors keep off them.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from perception.sim import clutter
from perception.sim.materials import BUILDING_COLOURS, METAL, pick_colour
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
            self.add_frontage(side)
            self.add_sidewalk_clutter(side)
        return self.items

    def add_buildings(self, side: int) -> None:
        """A row of boxes of varied frontage, depth and height behind the sidewalk, with gaps of open ground;
        on curves each is pushed back until no corner reaches the sidewalk."""
        rng, road = self.rng, self.road
        front = road.half_width + road.sidewalk_width
        s = road.s_min
        while s < road.s_max:
            if rng.random() < 0.4:
                gap = rng.uniform(3.0, 30.0)
                self.add_open_lot(side, s, gap)
                s += gap
                continue
            frontage = rng.uniform(8.0, 40.0)
            depth = rng.uniform(10.0, 25.0)
            height = float(rng.choice([rng.uniform(3.0, 8.0), rng.uniform(8.0, 15.0), rng.uniform(15.0, 25.0)],
                                      p=[0.35, 0.45, 0.2]))
            setback = rng.uniform(0.0, 3.0)
            s_mid = s + 0.5 * frontage
            if height > 6.0 and rng.random() < 0.3:
                mesh = clutter.arcade_building(rng, frontage, depth, height, front_sign=-side)
            else:
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

    def add_open_lot(self, side: int, s0: float, length: float) -> None:
        """Bushes, hedges and low-crowned trees scattered over the open ground between two buildings, up to 25 m
        behind the sidewalk: vegetation at the height of cars and people, as a park or a plaza has."""
        rng = self.rng
        front = self.road.half_width + self.road.sidewalk_width
        for _ in range(int(rng.poisson(length / 2.5))):
            s, d = s0 + rng.uniform(0.0, length), side * (front + rng.uniform(2.5, 25.0))  # crowns clear the sidewalk
            item = rng.choice(["bush", "hedge", "tree"], p=[0.5, 0.2, 0.3])
            if item == "bush":
                self.add_vegetation(clutter.bush(rng), s, d)
            elif item == "hedge":
                mesh = clutter.hedge(rng, rng.uniform(2.0, 8.0), rng.uniform(0.6, 1.4), rng.uniform(0.6, 1.9))
                self.add_vegetation(mesh, s, d, rng.uniform(0.0, math.pi))
            else:
                self.add_tree(s, d, base_z=-GROUND_DROP, trunk_height=(1.2, 3.5))

    def footprint(self, s: float, d: float, length: float, width: float) -> np.ndarray:
        """(1, 5) [x, y, yaw, l, w]: ``length`` × ``width`` metres along the road at road coordinates (s, d)."""
        x, y = self.road.point(s, d)
        return np.array([[x, y, float(self.road.heading(s)), length, width]])

    def add_obstacle(self, s: float, d: float, length: float, width: float | None = None) -> None:
        """Keep actors off a footprint (square if no width)."""
        self.occupancy.add(self.footprint(s, d, length, width or length))

    def footprint_is_free(self, s: float, d: float, length: float, width: float) -> bool:
        """Whether the footprint keeps 0.1 m from everything placed so far."""
        return self.occupancy.is_free(self.footprint(s, d, length, width), 0.1)

    def add_vegetation(self, mesh: Mesh, s: float, d: float, yaw_offset: float = 0.0) -> None:
        """A bush or hedge standing on the ground at road coordinates (s, d)."""
        self.add(self.place_on_road(mesh, s, d, -GROUND_DROP, yaw_offset), self.leaf_colour(), 0.3, "vegetation")

    def add_frontage(self, side: int) -> None:
        """Hedges, bushes, low walls and fences just behind the sidewalk of ``side`` (in front of the buildings or in
        the gaps between them), in stretches of 2–12 m with gaps of 0.5–5 m."""
        rng, road = self.rng, self.road
        front = road.half_width + road.sidewalk_width
        s = road.s_min + rng.uniform(0.0, 10.0)
        while s < road.s_max:
            length = rng.uniform(2.0, 12.0)
            item = rng.choice(["hedge", "bush", "wall", "fence", "none"], p=[0.3, 0.25, 0.15, 0.15, 0.15])
            d = side * (front + rng.uniform(0.3, 1.2))
            s_mid = s + 0.5 * length
            if item == "hedge":
                depth = rng.uniform(0.6, 1.4)
                mesh = clutter.hedge(rng, length, depth, rng.uniform(0.6, 1.9))
                self.add_vegetation(mesh, s_mid, d + side * 0.5 * depth)
            elif item == "bush":
                for k in range(int(rng.integers(1, 4))):  # a bush reaches 1.8 m from its centre
                    self.add_vegetation(clutter.bush(rng), s + k * rng.uniform(1.5, 3.5),
                                        side * (front + rng.uniform(1.9, 3.5)))
            elif item == "wall":
                thickness = rng.uniform(0.2, 0.45)
                mesh = clutter.block(length, thickness, rng.uniform(0.4, 1.3))
                grey = pick_colour(rng, [((0.62, 0.6, 0.56), 0.6), ((0.5, 0.32, 0.25), 0.4)], jitter=0.05)
                self.add(self.place_on_road(mesh, s_mid, d, -GROUND_DROP), grey, 0.35, "furniture")
            elif item == "fence":
                mesh = clutter.fence(length, rng.uniform(0.9, 2.0))
                self.add(self.place_on_road(mesh, s_mid, d, -GROUND_DROP), *METAL, "furniture")
            s += length + rng.uniform(0.5, 5.0)

    def add_sidewalk_clutter(self, side: int) -> None:
        """Bollard rows and bins at the curb of ``side``, benches, bins, utility cabinets and planters at the
        building line behind its sidewalk. Curb items stay within 0.55 m of the curb, clear of the pedestrians'
        walking band (centres 1.1 m or more from the curb); actors keep off their footprints."""
        rng, road = self.rng, self.road
        s = road.s_min + rng.uniform(0.0, 15.0)
        while s < road.s_max:
            item = str(rng.choice(["bollards", "bench", "bin", "cabinet", "planter"], p=[0.25, 0.2, 0.2, 0.2, 0.15]))
            at_curb = item == "bollards" or (item == "bin" and rng.random() < 0.5)
            pieces, length, width = self.sidewalk_item(item, side, at_curb)
            if at_curb:
                d = side * (road.half_width + 0.1 + 0.5 * width)
            else:
                d = side * (road.half_width + road.sidewalk_width + 0.2 + 0.5 * width)
            if self.footprint_is_free(s, d, length, width):
                for mesh, rgb, reflectivity, kind in pieces:
                    self.add(self.place_on_road(mesh, s, d, CURB_HEIGHT if at_curb else -GROUND_DROP), rgb,
                             reflectivity, kind)
                self.add_obstacle(s, d, length, width)
            s += rng.uniform(5.0, 20.0)

    def sidewalk_item(self, item: str, side: int, at_curb: bool) -> tuple[list, float, float]:
        """The pieces (mesh around the origin, colour, reflectivity, kind) of a street-furniture ``item`` and its
        footprint length (along the road) and width; items at the curb are at most 0.45 m wide."""
        rng = self.rng
        colour = pick_colour(rng, [((0.2, 0.35, 0.22), 0.4), ((0.5, 0.5, 0.5), 0.4), ((0.15, 0.15, 0.17), 0.2)])
        if item == "bollards":
            count, spacing = int(rng.integers(3, 8)), rng.uniform(1.2, 2.0)
            mesh = clutter.bollards(count, spacing, rng.uniform(0.7, 1.1))
            return [(mesh, (0.3, 0.3, 0.32), 0.45, "furniture")], (count - 1) * spacing + 0.2, 0.2
        if item == "bench":
            length = rng.uniform(1.5, 2.2)
            facing_road = 0.0 if side > 0 else math.pi  # backrest (+y in the mesh) away from the road
            mesh = transform_mesh(clutter.bench(length), facing_road, (0.0, 0.0, 0.0))
            return [(mesh, (0.45, 0.33, 0.2), 0.3, "furniture")], length, 0.5
        if item == "bin":
            length = width = rng.uniform(0.35, 0.45) if at_curb else rng.uniform(0.45, 0.7)
            mesh = clutter.block(length, width, rng.uniform(0.8, 1.1))
            return [(mesh, colour, 0.4, "furniture")], length, width
        if item == "cabinet":
            length, width = rng.uniform(0.5, 1.4), rng.uniform(0.35, 0.7)
            return [(clutter.block(length, width, rng.uniform(1.0, 1.7)), colour, 0.4, "furniture")], length, width
        length, width = rng.uniform(1.0, 2.5), rng.uniform(0.6, 1.1)
        trough, foliage = clutter.planter(rng, length, width, rng.uniform(0.4, 0.8))
        return [(trough, (0.62, 0.6, 0.56), 0.35, "furniture"), (foliage, self.leaf_colour(), 0.3, "vegetation")], \
            length, width

    def leaf_colour(self) -> tuple[float, float, float]:
        """One of two leaf greens, jittered."""
        return pick_colour(self.rng, [((0.18, 0.32, 0.12), 0.6), ((0.28, 0.38, 0.14), 0.4)], jitter=0.08)

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

    def add_tree(self, s: float, d: float, base_z: float = CURB_HEIGHT, trunk_height=(4.9, 6.0)) -> None:
        """A trunk and a round crown; street trees (the default) are trimmed to clear trucks."""
        trunk_h = self.rng.uniform(*trunk_height)
        crown_r = self.rng.uniform(1.4, 2.4)
        trunk = frustum(0.18, 0.13, 0.0, trunk_h + 0.5, 8)
        crown = sphere(crown_r, (0.0, 0.0, trunk_h + crown_r * 0.85), resolution=6)
        self.add(self.place_on_road(trunk, s, d, base_z), (0.3, 0.22, 0.15), 0.25, "trunk")
        self.add(self.place_on_road(crown, s, d, base_z), self.leaf_colour(), 0.35, "vegetation")
        self.add_obstacle(s, d, 0.45)
