"""Images in and out of the explorer: uploads to the run's (1, C, H, W) tensors, tensors to screen pictures."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.nn import functional as F
from torchvision.utils import make_grid

from ..errors import DataError


class UploadError(DataError):
    """An upload that cannot be used as an image; the message names the file and says what to upload."""


def open_upload(path: str | Path, max_pixels: int) -> Image.Image:
    """The uploaded file as a PIL image (decoded), or an UploadError that says why not."""
    name = Path(path).name
    try:
        image = Image.open(path)  # reads the header only
        if image.width * image.height > max_pixels:  # refused before decoding: a decompression bomb
            raise Image.DecompressionBombError(f"{image.width}x{image.height}")
        image.draft("RGB", (1024, 1024))  # JPEG: decode a huge photo at a reduced scale, not in full
        image.load()
    except Image.DecompressionBombError as err:
        raise UploadError(f"{name} is too large ({err}, more than {max_pixels:,} pixels); upload a smaller "
                          "picture") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UploadError(f"{name} is not an image PIL can read; upload a PNG or JPEG picture") from err
    return image


def convert_mode(image: Image.Image, channels: int) -> tuple[Image.Image, list[str]]:
    """The image in the run's colour mode ("RGB" or "L"), and notes for each conversion made."""
    notes = []
    if "A" in image.getbands() or image.mode == "P":
        notes.append("dropped the transparency")
        image = image.convert("RGBA").convert("RGB") if channels == 3 else image.convert("L")
    if channels == 3 and image.mode != "RGB":
        notes.append(f"converted {'grayscale' if image.mode in ('L', 'I', 'F', '1') else image.mode} to RGB "
                     "(the model takes 3 channels)")
        image = image.convert("RGB")
    elif channels == 1 and image.mode != "L":
        notes.append(f"converted {image.mode} to grayscale (the model takes 1 channel)")
        image = image.convert("L")
    return image, notes


def fit_size(image: Image.Image, size: int) -> tuple[Image.Image, list[str]]:
    """Centre-cropped to a square and resized to size x size; a note when either happened."""
    w, h = image.size
    notes = []
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
        notes.append(f"centre-cropped {w}x{h} to {side}x{side}")
    if image.size != (size, size):
        notes.append(f"resized {image.size[0]}x{image.size[1]} to {size}x{size}")
        image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image, notes


def load_upload(path: str | Path, channels: int, size: int, max_pixels: int) -> tuple[torch.Tensor, str]:
    """An uploaded file as the run's input (1, C, size, size) in [0, 1], and a note of what was changed."""
    image, mode_notes = convert_mode(open_upload(path, max_pixels), channels)
    image, size_notes = fit_size(image, size)
    array = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, C) or (H, W)
    x = torch.from_numpy(array.reshape(size, size, channels)).permute(2, 0, 1)[None]  # (H, W, C) -> (1, C, H, W)
    notes = mode_notes + size_notes
    return x.contiguous(), f"{Path(path).name}: " + ("; ".join(notes) if notes else "used as it is")


def picture(images: torch.Tensor, nrow: int, scale: int) -> np.ndarray:
    """A grid of images (N, C, H, W) in [0, 1] as an (H', W', 3) uint8 array, magnified `scale` times."""
    images = images.detach().float().clamp(0, 1).cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)  # (N, 1, H, W) -> (N, 3, H, W)
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)  # (3, H', W')
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # (3, H', W') -> (H', W', 3)


def picture_file(pic: np.ndarray, folder: Path) -> str:
    """An (H, W, 3) uint8 picture as a PNG under `folder`, named by its content and written once, atomically.

    Gradio writes an array's cache file in place on every call, so two events that show the same picture
    (the reconstruction in two modes) can rewrite a file while the browser reads it; a file path is copied
    into Gradio's cache by rename instead.
    """
    path = folder / f"{hashlib.sha1(pic.tobytes() + repr(pic.shape).encode()).hexdigest()}.png"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(pic)}.tmp")
        Image.fromarray(pic).save(tmp, format="png")
        os.replace(tmp, path)
    return str(path)
