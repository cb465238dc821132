"""Generated pictures as the workspace declares them, and how a variant names one.

A module's image slot (``type: image``) says what picture a job generates (``Picture``:
size, quality, format, whether text may appear in it, reference images of a product or
logo) and which widths the page gets (``srcset``). ``variantly.yml``'s ``images:`` says
which model makes them, at what price, and the brand's style that goes into every
picture prompt. A variant keeps its picture by content: the slot's text is a
``PictureRef`` (``image:<sha256>.<ext>@<width>x<height>``), so the render path builds
``src``, ``srcset`` and ``width``/``height`` without a store lookup, and the bytes are
served at ``/assets/<sha256>[-<width>].<ext>``, immutable.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Size = Literal["1024x1024", "1536x1024", "1024x1536"]
Quality = Literal["low", "medium", "high"]
ImageFormat = Literal["png", "jpeg", "webp"]
EXTENSIONS: dict[str, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}
MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Picture(_Strict):
    """A generated image slot: what the image model is asked for, and the widths pages get."""

    size: Size = "1536x1024"
    quality: Quality = "medium"
    format: ImageFormat = "png"
    allow_text: bool = Field(default=False, description="text may appear in the picture (checked like copy then)")
    references: list[str] = Field(
        default_factory=list, description="files in modules/assets the picture must show (a product, a logo)"
    )
    widths: list[int] = Field(default_factory=lambda: [480, 960], description="smaller copies made for srcset")
    max_bytes: int = Field(default=4_000_000, ge=10_000)
    alt_slot: str = Field(default="alt", description="the slot holding the picture's alt text")
    caption: str = Field(default="", description="what the picture shows, beyond the module's brief")
    sizes: str = Field(default="(max-width: 720px) 100vw, 720px", description="the img sizes attribute on a page")

    @property
    def width(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("x")[1])

    @model_validator(mode="after")
    def _widths(self) -> Picture:
        if any(w < 64 or w > 4096 for w in self.widths):
            raise ValueError("srcset widths are between 64 and 4096 pixels")
        return self


class ImageStyle(_Strict):
    """The brand's look, in words the image model reads: in every picture prompt."""

    palette: str = ""
    composition: str = ""
    avoid: list[str] = Field(default_factory=list, description="what never appears (e.g. 'stock-photo handshakes')")


class ImagePrice(_Strict):
    """US dollars per image by quality and size (the provider's table), and for the prompt's text tokens."""

    # Not below 0, and not NaN (refused by ge): a reservation of a negative or NaN price gave the budget room back
    # (or compared as never over it), so a run with a picture job could spend past --budget-usd.
    per_image: dict[Quality, dict[Size, Annotated[float, Field(ge=0)]]]
    input_per_million: float = Field(default=0.0, ge=0)
    batch_discount: float = Field(default=0.5, ge=0, le=1, description="share of the price the Batch API charges")

    def of(self, quality: str, size: str) -> float | None:
        return self.per_image.get(quality, {}).get(size)  # type: ignore[call-overload]


def _default_prices() -> dict[str, ImagePrice]:
    sizes = ("1024x1024", "1536x1024", "1024x1536")

    def table(low: tuple[float, float], medium: tuple[float, float], high: tuple[float, float]) -> ImagePrice:
        by = {"low": low, "medium": medium, "high": high}
        return ImagePrice(
            per_image={q: {s: by[q][0 if s == "1024x1024" else 1] for s in sizes} for q in by},
            input_per_million=5.0,
        )

    return {  # OpenAI's per-image prices (square, then landscape or portrait)
        "gpt-image-1": table((0.011, 0.016), (0.042, 0.063), (0.167, 0.25)),
        "gpt-image-1-mini": table((0.005, 0.006), (0.011, 0.015), (0.036, 0.052)),
    }


class ImageSettings(_Strict):
    """``images:`` in ``variantly.yml``: the image model, its prices, the brand's style, where pictures are served."""

    model: str = "gpt-image-1-mini"
    moderation_model: str = "omni-moderation-latest"
    prices: dict[str, ImagePrice] = Field(default_factory=_default_prices)
    style: ImageStyle = Field(default_factory=ImageStyle)
    public_base_url: str = Field(
        default="", description="where mail clients fetch pictures (an email needs absolute URLs), e.g. https://..."
    )
    email_width: int = Field(default=600, ge=64, le=2048, description="the width an email shows a picture at")

    @property
    def look(self) -> str:
        """What a picture depends on beyond its module and prompt: the image model and the brand's style. A picture
        made under another look is stale."""
        basis = json.dumps([self.model, self.style.model_dump(mode="json")], sort_keys=True)
        return hashlib.sha256(basis.encode()).hexdigest()[:16]


REF = re.compile(r"^image:(?P<hash>[0-9a-f]{64})\.(?P<ext>png|jpg|webp)@(?P<w>\d{1,5})x(?P<h>\d{1,5})$")
ASSET_NAME = re.compile(r"^(?P<hash>[0-9a-f]{64})(?:-(?P<w>\d{1,5}))?\.(?P<ext>png|jpg|webp)$")


@dataclass(frozen=True)
class PictureRef:
    """A stored picture as a variant's slot names it: its content hash, format and size."""

    hash: str
    ext: str
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> PictureRef | None:
        found = REF.match(text)
        if found is None:
            return None
        return cls(found["hash"], found["ext"], int(found["w"]), int(found["h"]))

    def __str__(self) -> str:
        return f"image:{self.hash}.{self.ext}@{self.width}x{self.height}"

    @property
    def fallback(self) -> str:
        """The format every mail client shows: JPEG, or PNG for a PNG original (it may be transparent)."""
        return "png" if self.ext == "png" else "jpg"

    def widths(self, wanted: list[int]) -> list[int]:
        """The copies made of it: each wanted width under its own, and its own."""
        return sorted({w for w in wanted if w < self.width} | {self.width})

    def path(self, width: int | None = None, ext: str | None = None) -> str:
        """``/assets/<hash>.<ext>`` (the original, as made) or a copy ``/assets/<hash>-<width>.<ext>``."""
        if width is None:
            return f"/assets/{self.hash}.{self.ext}"
        return f"/assets/{self.hash}-{width}.{ext or self.fallback}"

    def height_at(self, width: int) -> int:
        return round(self.height * width / self.width)
