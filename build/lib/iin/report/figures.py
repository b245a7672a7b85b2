"""The run's figures/*.png, handed out to the sections that claim them; the rest go under "other figures"."""
from __future__ import annotations

from pathlib import Path

from .captions import caption as registered_caption
from .html import image

SUFFIXES = (".png", ".jpg", ".jpeg")


class Figures:
    """Figures by file stem; each is embedded at most once, by the first section that takes it."""

    def __init__(self, folder: Path):
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        self.paths = {p.stem: p for p in files if p.suffix.lower() in SUFFIXES and p.is_file()}
        self.used: set[str] = set()

    def take(self, stem: str, caption: str | None = None) -> str:
        """The figure called `stem` as HTML, or '' when it does not exist or was already shown."""
        if stem not in self.paths or stem in self.used:
            return ""
        self.used.add(stem)
        return image(self.paths[stem], caption or registered_caption(stem))

    def take_prefix(self, prefix: str) -> str:
        """Every not yet shown figure whose stem starts with `prefix`, in name order."""
        return "".join(self.take(stem) for stem in sorted(self.paths) if stem.startswith(prefix))

    def take_mentioning(self, prefix: str, name: str) -> str:
        """Figures `<prefix>...` whose stem has `name` as an `_`-separated part (e.g. concepts_swap_<name>_color)."""
        return "".join(self.take(stem) for stem in sorted(self.paths)
                       if stem.startswith(prefix) and f"_{name}_" in f"_{stem[len(prefix):]}_")

    def rest(self) -> str:
        """Every figure no section has taken."""
        return self.take_prefix("")
