"""``BEVGrid``: the bird's-eye-view grid shared by the camera and lidar branches.

BEV tensors are laid out (B, C, ny, nx): row index ``iy`` grows with ego y (left), column index ``ix`` grows with
ego x (forward). Drawn as an image with row 0 at the top, the map therefore shows the ego frame mirrored top/bottom;
renderers flip it for display, the model never does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def _whole_cells(extent: float, size: float, what: str) -> int:
    """How many cells of ``size`` span ``extent``; rejects an extent that is not a whole number of cells."""
    count = round(extent / size)
    if count < 1 or abs(count * size - extent) > 1e-6 * max(1.0, abs(extent)):
        raise ValueError(f"{what}: extent {extent} m is not a whole number of {size} m cells")
    return count


@dataclass(frozen=True)
class BEVGrid:
    """An axis-aligned grid in the ego frame: ranges are (min, max) metres, ``cell`` the square cell side in metres.

    ``z_range`` bounds what is kept (frustum points, lidar points); it is one BEV layer, not a dimension of the map.
    """

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    z_range: tuple[float, float]
    cell: float

    def __post_init__(self):
        if self.cell <= 0:
            raise ValueError(f"cell must be positive, got {self.cell}")
        for name in ("x_range", "y_range", "z_range"):
            low, high = getattr(self, name)
            if not high > low:
                raise ValueError(f"{name} must be (min, max) with max > min, got {(low, high)}")
        _whole_cells(self.x_range[1] - self.x_range[0], self.cell, "x_range")
        _whole_cells(self.y_range[1] - self.y_range[0], self.cell, "y_range")

    @property
    def nx(self) -> int:
        """Number of columns (cells along ego x)."""
        return _whole_cells(self.x_range[1] - self.x_range[0], self.cell, "x_range")

    @property
    def ny(self) -> int:
        """Number of rows (cells along ego y)."""
        return _whole_cells(self.y_range[1] - self.y_range[0], self.cell, "y_range")

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx): the trailing shape of a BEV tensor."""
        return self.ny, self.nx

    def cell_of(self, xy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The cell holding each point.

        xy: (..., 2) ego x, y in metres. Returns ix, iy: (...,) long, and inside: (...,) bool, False for points
        outside the x/y ranges or not finite. ix and iy are -1 where not inside. Cells are half-open: [min, max).
        """
        fx = (xy[..., 0] - self.x_range[0]) / self.cell
        fy = (xy[..., 1] - self.y_range[0]) / self.cell
        # Comparisons on the float coordinates also reject NaN, which floor() would turn into an arbitrary integer.
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        outside = torch.full_like(fx, -1.0)
        ix = torch.where(inside, fx.floor(), outside).long()
        iy = torch.where(inside, fy.floor(), outside).long()
        return ix, iy, inside

    def centre_of(self, ix: Tensor, iy: Tensor) -> Tensor:
        """Ego x, y of cell centres: ix, iy (...,) integer → (..., 2) float32 metres."""
        x = self.x_range[0] + (ix.to(torch.float32) + 0.5) * self.cell
        y = self.y_range[0] + (iy.to(torch.float32) + 0.5) * self.cell
        return torch.stack([x, y], dim=-1)
