"""Synthetic street scenes: determinism, actor placement, lidar geometry and camera rendering."""
import math

from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import yaml

from perception.sim.actors import CATEGORIES, bus_parts, pedestrian_parts
from perception.sim.materials import GLASS
from perception.sim.meshes import box as box_mesh, sphere
from perception.sim.placement import rectangles_overlap
from perception.sim.dataset import NUSCENES_CAR_BODY
from perception.sim.sensors import (EGO_BODY_ID, EgoBody, SpinningLidarModel, cast_from, cast_lidar,
                                    foliage_returns, pinhole_directions, ray_box_entry, render_camera)
from perception.sim.world import KIND_CODE, GeometryTable, make_world

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DURATION_S = 10.0
TIMES = (0.0, 4.0, 9.5)


def lidar_on_ego() -> np.ndarray:
    """A roof lidar whose x axis points to the ego's right (like nuScenes), so the sensor frame
    differs from the ego frame."""
    pose = np.eye(4)
    pose[:3, :3] = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    pose[:3, 3] = [0.94, 0.0, 1.84]
    return pose


def front_camera_on_ego() -> np.ndarray:
    """Camera z -> ego x, camera x -> ego -y, camera y -> ego -z; 1.7 m forward, 1.5 m high."""
    pose = np.eye(4)
    pose[:3, :3] = [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
    pose[:3, 3] = [1.7, 0.0, 1.5]
    return pose


@pytest.fixture(scope="module")
def world():
    return make_world(np.random.default_rng(0), DURATION_S)


def in_box_frame(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 3) global points (N, 3) relative to the centre and heading of boxes (N, 7) or one box (7,)."""
    offset = points - boxes[..., :3]
    c, s = np.cos(boxes[..., 6]), np.sin(boxes[..., 6])
    return np.column_stack([c * offset[:, 0] + s * offset[:, 1], -s * offset[:, 0] + c * offset[:, 1], offset[:, 2]])


def sweep(world, t, model=SpinningLidarModel(), seed=0):
    scene, table = world.raycasting_scene(t)
    pose = world.ego_pose(t) @ lidar_on_ego()
    points, ids = cast_lidar(scene, table, pose, model, np.random.default_rng(seed))
    return points, ids, table, pose


def test_same_seed_gives_identical_world_and_sweep(world):
    again = make_world(np.random.default_rng(0), DURATION_S)
    assert [a.category for a in again.actors] == [a.category for a in world.actors]
    for t in TIMES:
        np.testing.assert_array_equal(again.actor_boxes(t), world.actor_boxes(t))
        np.testing.assert_array_equal(again.ego_pose(t), world.ego_pose(t))
    np.testing.assert_array_equal(sweep(again, 2.0)[0], sweep(world, 2.0)[0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_category_is_placed_near_the_ego_path(seed):
    world = make_world(np.random.default_rng(seed), DURATION_S)
    times = np.arange(-1.0, DURATION_S + 1.0, 0.5)  # the span placement covers: 1 s beyond the recording each side
    ego_xy = np.array([world.ego_pose(t)[:2, 3] for t in times])
    seen = set()
    for actor in world.actors:
        boxes = actor.boxes_at(times)
        if np.min(np.hypot(*(boxes[:, None, :2] - ego_xy[None]).transpose(2, 0, 1))) < 60.0:
            seen.add(actor.category)
    assert seen == set(CATEGORIES)


def test_boxes_and_attributes_are_well_formed(world):
    vehicle_attributes = {"vehicle.moving", "vehicle.parked", "vehicle.stopped"}
    for actor in world.actors:
        box = actor.box_at(1.0)
        assert box.shape == (7,) and -math.pi <= box[6] < math.pi
        assert box[2] == pytest.approx(actor.base_z + 0.5 * actor.size[2])
        attribute = actor.attribute_at(1.0)
        if actor.category.startswith("movable_object"):
            assert attribute is None
        elif actor.category in ("vehicle.bicycle", "vehicle.motorcycle"):
            assert attribute in ("cycle.with_rider", "cycle.without_rider")
        elif actor.category == "human.pedestrian.adult":
            assert attribute.startswith("pedestrian.")
        else:
            assert attribute in vehicle_attributes
        for part in actor.parts:
            assert np.all(np.abs(part.vertices) <= 0.5 * actor.size + 1e-5)


def test_ego_and_actor_velocities_match_their_motion(world):
    dt = 1e-3
    for actor in world.actors[::7]:
        expected = (actor.box_at(2.0 + dt)[:2] - actor.box_at(2.0 - dt)[:2]) / (2 * dt)
        np.testing.assert_allclose(actor.velocity_at(2.0), expected, atol=1e-3)
    speed = np.hypot(*world.ego_velocity(3.0))
    assert 4.0 - 1e-9 <= speed <= 12.0 + 1e-9


def test_actors_do_not_overlap(world):
    for t in TIMES:
        boxes = world.actor_boxes(t)
        footprints = boxes[:, [0, 1, 6, 3, 4]]
        i, j = np.triu_indices(len(boxes), k=1)
        assert not rectangles_overlap(footprints[i], footprints[j], margin=0.0).any()


def test_lidar_points_on_actors_lie_inside_their_boxes(world):
    t = 4.0
    points, ids, table, pose = sweep(world, t, SpinningLidarModel(range_noise_std_m=0.0))
    actor = table.actor_index_of(ids)
    on_actor = actor >= 0
    assert on_actor.sum() > 500
    global_points = points[on_actor, :3].astype(np.float64) @ pose[:3, :3].T + pose[:3, 3]
    boxes = world.actor_boxes(t)[actor[on_actor]]
    assert np.all(np.abs(in_box_frame(global_points, boxes)) <= 0.5 * boxes[:, 3:6] + 0.01)


def test_lidar_sweep_has_nuscenes_like_points(world):
    points, ids, table, _ = sweep(world, 1.0)
    assert points.dtype == np.float32 and points.shape[1] == 5 and len(ids) == len(points)
    assert 20_000 <= len(points) <= 35_000
    ranges = np.linalg.norm(points[:, :3], axis=1)
    assert ranges.min() >= 0.95 and ranges.max() <= 100.1
    assert points[:, 3].min() >= 0 and points[:, 3].max() <= 255
    assert set(np.unique(points[:, 4]).astype(int)) <= set(range(32))
    paint = table.kind[ids] == KIND_CODE["road"]
    assert np.percentile(points[paint, 3], 99) > 3 * np.median(points[paint, 3])


def test_camera_sees_actor_colours(world):
    t, width, height = 4.0, 400, 225
    k = np.array([[316.5, 0.0, 204.0], [0.0, 316.5, 122.75], [0.0, 0.0, 1.0]])
    pose = world.ego_pose(t) @ front_camera_on_ego()
    scene, table = world.raycasting_scene(t)
    image = render_camera(scene, table, world, k, width, height, pose, np.random.default_rng(0))
    assert image.shape == (height, width, 3) and image.dtype == np.uint8

    directions, _ = pinhole_directions(k, width, height)
    rays = np.concatenate([np.broadcast_to(pose[:3, 3], directions.shape), directions @ pose[:3, :3].T], axis=1)
    ids = scene.cast_rays(rays.astype(np.float32))["geometry_ids"].numpy().astype(np.int64).reshape(height, width)
    interior = (ids[1:-1, 1:-1] == ids[:-2, 1:-1]) & (ids[1:-1, 1:-1] == ids[2:, 1:-1]) \
        & (ids[1:-1, 1:-1] == ids[1:-1, :-2]) & (ids[1:-1, 1:-1] == ids[1:-1, 2:])
    candidates = interior & (table.actor_index_of(ids[1:-1, 1:-1]) >= 0)
    # lit pixels only: in shadow a pixel's few tens of levels are shifted by haze and noise, not by its colour
    bright = image[1:-1, 1:-1].max(axis=-1) > 100
    rows, cols = np.nonzero(candidates & bright)
    assert len(rows) > 20
    part = np.bincount(ids[rows + 1, cols + 1]).argmax()
    pick = np.flatnonzero(ids[rows + 1, cols + 1] == part)[0]
    pixel = image[rows[pick] + 1, cols[pick] + 1].astype(np.float64)
    base = table.rgb[part].astype(np.float64)
    np.testing.assert_allclose(pixel / pixel.sum(), base / base.sum(), atol=0.1)
    sky = 255.0 * world.lighting.sky_zenith
    assert np.abs(pixel - sky).max() > 20 or np.abs(base - world.lighting.sky_zenith).max() < 0.1


def test_drivable_mask_covers_the_ego_lane(world):
    resolution = 0.5
    shape = tuple(np.ceil(world.extent_xy()[::-1] / resolution).astype(int))
    mask = world.drivable_mask(resolution, np.zeros(2), shape)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    for t in TIMES:
        x, y = world.ego_pose(t)[:2, 3]
        assert mask[int(y / resolution), int(x / resolution)] == 1
    assert 0.01 < mask.mean() < 0.9


def test_ray_box_entry_hand_computed():
    origin = np.array([0.0, 0.0, 2.0])
    directions = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.6, 0.0, -0.8]])
    ranges, axis = ray_box_entry(origin, directions, np.array([-1.0, -1.0, 0.0]), np.array([1.0, 1.0, 1.0]))
    assert ranges[0] == pytest.approx(1.0) and axis[0] == 2      # straight down onto the top face
    assert np.isinf(ranges[1]) and np.isinf(ranges[2])            # up, and level above the box: misses
    assert ranges[3] == pytest.approx(1.25) and axis[3] == 2     # down and forward: the top at x = 0.75


def test_ego_body_returns_are_a_quarter_to_two_fifths_of_a_sweep_like_nuscenes(world):
    """A real nuScenes keyframe has 24-41 % of its points within 1 m of the sensor (its car's roof); they all lie
    on the body box, inside the ego box the model configs filter, and the world behind them is hidden."""
    body = EgoBody(NUSCENES_CAR_BODY, lidar_on_ego())
    points, ids = cast_lidar(*world.raycasting_scene(4.0), world.ego_pose(4.0) @ lidar_on_ego(),
                             SpinningLidarModel(), np.random.default_rng(0), body)
    ranges = np.linalg.norm(points[:, :3], axis=1)
    assert 0.24 <= (ranges < 1.0).mean() <= 0.41
    ego = points[:, :3].astype(np.float64) @ lidar_on_ego()[:3, :3].T + lidar_on_ego()[:3, 3]
    on_body = ids == EGO_BODY_ID
    box = np.array(NUSCENES_CAR_BODY)
    assert np.all((ego[on_body] >= box[:3] - 0.1) & (ego[on_body] <= box[3:] + 0.1))
    assert not np.all((ego[~on_body] >= box[:3]) & (ego[~on_body] <= box[3:]), axis=1).any()
    config_box = np.array(yaml.safe_load((CONFIGS / "demo.yaml").read_text())["lidar"]["ego_box"])
    assert np.all((ego[on_body] >= config_box[:3]) & (ego[on_body] <= config_box[3:]))


def test_streets_have_non_actors_at_actor_height_that_no_actor_box_holds(world):
    """Hedges, bushes, walls, fences and sidewalk furniture return points between 0.3 and 2 m above the road near
    the ego (else every blob of points beside the road would be an object to the model), and none of those points
    lies inside an actor's box, where they would be counted as the object's. (Leaves are porous: a beam that goes
    through a hedge in front of a wall returns from the wall, so this street gives 120 vegetation and 69 furniture
    returns in the band.)"""
    t = 4.0
    points, ids, table, pose = sweep(world, t, SpinningLidarModel(range_noise_std_m=0.0))
    clutter = np.isin(table.kind[ids], [KIND_CODE["furniture"], KIND_CODE["vegetation"]])
    ego = points[:, :3].astype(np.float64) @ lidar_on_ego()[:3, :3].T + lidar_on_ego()[:3, 3]
    at_actor_height = clutter & (ego[:, 2] > 0.3) & (ego[:, 2] < 2.0) & (np.hypot(ego[:, 0], ego[:, 1]) < 40.0)
    assert at_actor_height.sum() > 150
    kinds = {KIND_CODE["furniture"]: 0, KIND_CODE["vegetation"]: 0}
    for kind in table.kind[ids[at_actor_height]]:
        kinds[int(kind)] += 1
    assert min(kinds.values()) > 50, kinds
    global_points = points[clutter, :3].astype(np.float64) @ pose[:3, :3].T + pose[:3, 3]
    for box in world.actor_boxes(t):
        assert not np.all(np.abs(in_box_frame(global_points, box)) <= 0.5 * box[3:6], axis=1).any()


def test_foliage_returns_spread_through_the_crown_and_some_beams_pass_it():
    """A crown of radius 2 m at the origin in front of a wall at x = 5 m, beams along +x from x = -10 m: beams
    through the middle of the crown (chords over 3.4 m) return from inside it, on average the mean depth (0.5 m)
    beyond the surface they entered; beams that graze its edge (chords under 1 m) reach the wall in a share near
    e^(-chord / 0.5 m)."""
    scene = o3d.t.geometry.RaycastingScene()
    for vertices, triangles in (sphere(2.0, (0.0, 0.0, 0.0), resolution=24), box_mesh((5.0, -5, -5), (5.5, 5, 5))):
        scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(triangles.astype(np.uint32)))
    table = GeometryTable(np.full(2, -1, np.int32), np.zeros((2, 3), np.float32), np.full(2, 0.3, np.float32),
                          np.array([KIND_CODE["vegetation"], KIND_CODE["building"]], np.uint8), None)
    rng = np.random.default_rng(0)
    origin = np.array([-10.0, 0.0, 0.0])
    angle = rng.uniform(0, 2 * np.pi, 2000)
    aims = np.concatenate([rng.uniform(-1.0, 1.0, (2000, 2)), 1.93 * np.stack([np.cos(angle), np.sin(angle)], 1)])
    directions = np.concatenate([np.full((4000, 1), 10.0), aims], axis=1)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    ranges, ids, normals = cast_from(scene, origin, directions)
    assert np.all(ids == 0)
    entry = ranges.copy()
    ranges, ids, _ = foliage_returns(scene, table, origin, directions, ranges, ids, normals, 0.5, rng)
    middle, edge = slice(0, 2000), slice(2000, 4000)
    inside = ids[middle] == 0
    assert inside.mean() > 0.99  # e^(-3.4 / 0.5) = 0.1 % get through
    assert 0.45 < np.mean((ranges - entry)[middle][inside]) < 0.55  # 2,000 draws: standard error 0.011 m
    points = origin + directions * ranges[:, None]
    assert np.all(np.linalg.norm(points[ids == 0], axis=1) <= 2.0 + 1e-3)
    through = ids[edge] == 1
    assert np.allclose(points[edge][through, 0], 5.0, atol=1e-3)
    miss_distance = np.linalg.norm(np.cross(directions[edge], -origin), axis=1)  # of the crown's centre
    expected = np.mean(np.exp(-2 * np.sqrt(4.0 - miss_distance**2) / 0.5))
    assert 0.7 * expected < through.mean() < 1.3 * expected, (through.mean(), expected)


def test_a_pedestrian_front_differs_from_its_back():
    """Face forward of the hair, shoes reaching forward: the cues a detector needs to tell which way a person
    faces when they stand still."""
    rng = np.random.default_rng(0)
    for pose in ("standing", "walking"):
        for _ in range(5):
            parts = pedestrian_parts(rng, (0.73, 0.67, 1.77), pose)
            head = [p.vertices for p in parts if p.vertices[:, 2].min() > 0.5]
            face, scalp = sorted(head, key=lambda v: v[:, 2].max())
            assert face[:, 0].max() > scalp[:, 0].max() and scalp[:, 0].min() < face[:, 0].min()
            feet = np.concatenate([p.vertices[p.vertices[:, 2] < -0.8] for p in parts])
            assert feet[:, 0].max() > -feet[:, 0].min()


def test_a_bus_front_differs_from_its_rear():
    """The lidar tells a bus's ends apart as it does a truck's (a cab lower than its box): the roof over the front is
    lower than the roof pod over the rear, and the front face is a windscreen reaching low (glass, dark), the rear
    face paint."""
    size = np.array([11.0, 2.9, 3.5])
    parts = bus_parts(np.random.default_rng(0), size)
    vertices = np.concatenate([p.vertices for p in parts])
    front, rear = vertices[:, 0] > 0.5 * size[0] - 1.0, vertices[:, 0] < -0.5 * size[0] + 1.0
    assert vertices[rear, 2].max() - vertices[front, 2].max() > 0.3
    [glass] = [p for p in parts if p.rgb == GLASS[0]]
    on_front = glass.vertices[glass.vertices[:, 0] > 0.5 * size[0] - 0.05]
    assert on_front[:, 2].min() < -0.5 * size[2] + 0.3 * size[2]  # reaches below 0.3 of the height
    assert not (glass.vertices[:, 0] < -0.5 * size[0] + 2.0).any()  # no glass in the rear engine bay
