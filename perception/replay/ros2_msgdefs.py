"""Full ``ros2msg`` schema texts (with their dependencies, as ``ros2 bag record`` stores them) of the ROS 2 messages
replay reads and writes, and the ``sensor_msgs/PointField`` numeric types."""
from __future__ import annotations

SEPARATOR = "=" * 80

TIME = """int32 sec
uint32 nanosec"""
HEADER = """builtin_interfaces/Time stamp
string frame_id"""
VECTOR3 = """float64 x
float64 y
float64 z"""
QUATERNION = """float64 x 0
float64 y 0
float64 z 0
float64 w 1"""
POINT = VECTOR3
POSE = """Point position
Quaternion orientation"""
TRANSFORM = """Vector3 translation
Quaternion rotation"""
TRANSFORM_STAMPED = """std_msgs/Header header
string child_frame_id
Transform transform"""
POINT_FIELD = """uint8 INT8    = 1
uint8 UINT8   = 2
uint8 INT16   = 3
uint8 UINT16  = 4
uint8 INT32   = 5
uint8 UINT32  = 6
uint8 FLOAT32 = 7
uint8 FLOAT64 = 8
string name
uint32 offset
uint8  datatype
uint32 count"""
REGION_OF_INTEREST = """uint32 x_offset
uint32 y_offset
uint32 height
uint32 width
bool do_rectify"""
COLOR_RGBA = """float32 r
float32 g
float32 b
float32 a"""
DURATION = TIME


def _with_dependencies(text: str, *dependencies: tuple[str, str]) -> str:
    return "\n".join([text, *(f"{SEPARATOR}\nMSG: {name}\n{body}" for name, body in dependencies)]) + "\n"


_HEADER_DEPS = (("std_msgs/Header", HEADER), ("builtin_interfaces/Time", TIME))

POINT_CLOUD2 = _with_dependencies("""std_msgs/Header header
uint32 height
uint32 width
PointField[] fields
bool    is_bigendian
uint32  point_step
uint32  row_step
uint8[] data
bool is_dense""", *_HEADER_DEPS, ("sensor_msgs/PointField", POINT_FIELD))

COMPRESSED_IMAGE = _with_dependencies("""std_msgs/Header header
string format
uint8[] data""", *_HEADER_DEPS)

IMAGE = _with_dependencies("""std_msgs/Header header
uint32 height
uint32 width
string encoding
uint8 is_bigendian
uint32 step
uint8[] data""", *_HEADER_DEPS)

CAMERA_INFO = _with_dependencies("""std_msgs/Header header
uint32 height
uint32 width
string distortion_model
float64[] d
float64[9]  k
float64[9]  r
float64[12] p
uint32 binning_x
uint32 binning_y
RegionOfInterest roi""", *_HEADER_DEPS, ("sensor_msgs/RegionOfInterest", REGION_OF_INTEREST))

TF_MESSAGE = _with_dependencies("geometry_msgs/TransformStamped[] transforms",
                                ("geometry_msgs/TransformStamped", TRANSFORM_STAMPED), *_HEADER_DEPS,
                                ("geometry_msgs/Transform", TRANSFORM), ("geometry_msgs/Vector3", VECTOR3),
                                ("geometry_msgs/Quaternion", QUATERNION))

MARKER = """int32 ARROW=0
int32 CUBE=1
int32 SPHERE=2
int32 CYLINDER=3
int32 LINE_STRIP=4
int32 LINE_LIST=5
int32 CUBE_LIST=6
int32 SPHERE_LIST=7
int32 POINTS=8
int32 TEXT_VIEW_FACING=9
int32 MESH_RESOURCE=10
int32 TRIANGLE_LIST=11
int32 ADD=0
int32 MODIFY=0
int32 DELETE=2
int32 DELETEALL=3
std_msgs/Header header
string ns
int32 id
int32 type
int32 action
geometry_msgs/Pose pose
geometry_msgs/Vector3 scale
std_msgs/ColorRGBA color
builtin_interfaces/Duration lifetime
bool frame_locked
geometry_msgs/Point[] points
std_msgs/ColorRGBA[] colors
string texture_resource
sensor_msgs/CompressedImage texture
UVCoordinate[] uv_coordinates
string text
string mesh_resource
MeshFile mesh_file
bool mesh_use_embedded_materials"""

MARKER_ARRAY = _with_dependencies(
    "Marker[] markers", ("visualization_msgs/Marker", MARKER), *_HEADER_DEPS,
    ("geometry_msgs/Pose", POSE), ("geometry_msgs/Point", POINT), ("geometry_msgs/Quaternion", QUATERNION),
    ("geometry_msgs/Vector3", VECTOR3), ("std_msgs/ColorRGBA", COLOR_RGBA), ("builtin_interfaces/Duration", DURATION),
    ("sensor_msgs/CompressedImage", "std_msgs/Header header\nstring format\nuint8[] data"),
    ("visualization_msgs/UVCoordinate", "float32 u\nfloat32 v"),
    ("visualization_msgs/MeshFile", "string filename\nuint8[] data"))

SCHEMAS = {"sensor_msgs/msg/PointCloud2": POINT_CLOUD2, "sensor_msgs/msg/CompressedImage": COMPRESSED_IMAGE,
           "sensor_msgs/msg/Image": IMAGE, "sensor_msgs/msg/CameraInfo": CAMERA_INFO,
           "tf2_msgs/msg/TFMessage": TF_MESSAGE, "visualization_msgs/msg/MarkerArray": MARKER_ARRAY}
"""Schema name → full ``ros2msg`` text."""

POINT_FIELD_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
"""``sensor_msgs/PointField`` datatype → numpy type (byte order added by the cloud's ``is_bigendian``)."""
