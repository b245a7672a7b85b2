"""Small shared plotting helpers (matplotlib, Agg backend): image grids, bar charts, line plots."""
from .grids import grid_image, save_grid
from .plots import bar_chart, line_plot

__all__ = ["bar_chart", "grid_image", "line_plot", "save_grid"]
