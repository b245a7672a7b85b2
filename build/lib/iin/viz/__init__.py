"""The one place that draws figures: matplotlib (Agg backend, set here only), labelled image grids, bar charts
and line plots, each written atomically and byte-for-byte reproducibly."""
from ._mpl import colormap, plt, save_figure
from .grids import grid_image, save_grid, upscale
from .plots import bar_chart, line_plot

__all__ = ["bar_chart", "colormap", "grid_image", "line_plot", "plt", "save_figure", "save_grid", "upscale"]
