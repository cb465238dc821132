"""A picture checked as a file (format, size, bytes, aspect, not blank) and kept with its smaller copies.

Whatever made it (the image model, an import), a picture is checked against what its
module's image slot declares, then kept by content: the original bytes as they came (the
provider's C2PA provenance metadata stays in them) and, made once with Pillow, a WebP and
a fallback copy (PNG for a PNG original, else JPEG: every mail client shows those) at each
srcset width. The render path never touches Pillow; it serves these files by name.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageStat, UnidentifiedImageError

from variantly.authoring.candidates import Candidate
from variantly.authoring.report import Failure
from variantly.store import Store
from variantly.store.images import ImageFile, save_image_files
from variantly.workspace import Workspace
from variantly.workspace.images import EXTENSIONS, MIME, Picture, PictureRef

PICTURE_FILE = "variantly/picture_file"  # format, size, bytes, aspect as the slot declares
PICTURE_BLANK = "variantly/picture_blank"  # one colour, or nearly: nothing to see
PICTURE_MODERATION = "variantly/picture_moderation"  # the provider's moderation endpoint flagged it
PICTURE_TEXT = "variantly/picture_text"  # text read in it where none is allowed, or text the copy policy refuses
BLANK_SPREAD = 3.0  # standard deviation of the grey levels (0-255) under which a picture is near-uniform
PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


@dataclass(frozen=True)
class Inspected:
    """What a file is: its format (as served: png, jpg, webp), pixel size, bytes and grey-level spread."""

    ext: str
    width: int
    height: int
    size: int
    spread: float


def inspect(data: bytes) -> Inspected | None:
    """None when Pillow cannot read it as a PNG, JPEG or WebP picture."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            ext = PILLOW_FORMATS.get(image.format or "")
            if ext is None:
                return None
            width, height = image.size
            small = image.convert("L").resize((64, 64))
            spread = float(ImageStat.Stat(small).stddev[0])
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):  # a bomb: over 179 Mpx
        return None
    return Inspected(ext, width, height, len(data), spread)


def picture_failures(data: bytes, spec: Picture) -> list[Failure]:
    """What is wrong with the file for its slot, each in words a reviewer understands."""
    found = inspect(data)
    if found is None:
        return [Failure(validator=PICTURE_FILE, message="not a picture (PNG, JPEG or WebP) that can be read")]
    problems = []
    wanted = EXTENSIONS[spec.format]
    if found.ext != wanted:
        problems.append(f"is {found.ext.upper()}; the slot asks for {wanted.upper()}")
    if (found.width, found.height) != (spec.width, spec.height):
        problems.append(
            f"is {found.width}x{found.height} (aspect {found.width / found.height:.2f}); the slot asks for "
            f"{spec.size} (aspect {spec.width / spec.height:.2f})"
        )
    if found.size > spec.max_bytes:
        problems.append(f"is {found.size:,} bytes; at most {spec.max_bytes:,}")
    failures = [Failure(validator=PICTURE_FILE, message=p) for p in problems]
    if found.spread < BLANK_SPREAD:
        failures.append(
            Failure(
                validator=PICTURE_BLANK,
                message=f"is blank or nearly: one colour (grey-level spread {found.spread:.1f} of 255)",
            )
        )
    return failures


def picture_files(data: bytes, widths: list[int]) -> tuple[PictureRef, list[ImageFile]]:
    """The picture's name (its content hash) and the files to keep: the original untouched, then a WebP and a
    fallback copy at each srcset width under its own and at its own (the fallback at its own width in its own
    format is the original's bytes). Made once per process for the last few pictures: the example pictures are
    imported for every locale, and making one's copies takes 0.2 s (1536x1024)."""
    digest = hashlib.sha256(data).hexdigest()
    key = (digest, tuple(widths))
    with _MADE_LOCK:  # two picture threads share it
        if key in _MADE:
            _MADE.move_to_end(key)
            return _MADE[key]
    found = inspect(data)
    if found is None:
        raise ValueError("not a picture (PNG, JPEG or WebP) that can be read")
    ref = PictureRef(digest, found.ext, found.width, found.height)
    files = [ImageFile(ref.path().removeprefix("/assets/"), digest, MIME[found.ext], found.width, found.height, data)]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        for width in ref.widths(widths):
            height = ref.height_at(width)
            copy = image.resize((width, height), Image.Resampling.LANCZOS) if width != found.width else image
            for ext in ("webp", ref.fallback):
                same = width == found.width and ext == found.ext
                encoded = data if same else _encode(copy, ext)
                files.append(
                    ImageFile(ref.path(width, ext).removeprefix("/assets/"), digest, MIME[ext], width, height, encoded)
                )
    with _MADE_LOCK:
        _MADE[key] = (ref, files)
        while len(_MADE) > MADE_KEPT:
            _MADE.popitem(last=False)
    return ref, files


MADE_KEPT = 8  # pictures whose files a process keeps made (a few MB each at most)
_MADE: OrderedDict[tuple[str, tuple[int, ...]], tuple[PictureRef, list[ImageFile]]] = OrderedDict()
_MADE_LOCK = threading.Lock()


def keep_picture(store: Store, data: bytes, widths: list[int]) -> PictureRef:
    """Keep a picture and its copies (once: a picture kept before is not written again); returns its name."""
    ref, files = picture_files(data, widths)
    save_image_files(store, files)
    return ref


def _encode(image: Image.Image, ext: str) -> bytes:
    out = io.BytesIO()
    if ext == "jpg":
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif ext == "webp":
        image.save(out, "WEBP", quality=82, method=4)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def text_failures(text: str, messages: list[str]) -> list[Failure]:
    """What the copy checks said of the text read in a picture, as the picture's failures."""
    return [Failure(validator=PICTURE_TEXT, message=f"text in the picture '{text}': {m}") for m in messages]


def read_pictures(workspace: Workspace, candidate: Candidate, folder: Path) -> tuple[Candidate, list[str]]:
    """An imported line's image slot names a picture file (relative to the variants file), a stored picture or one
    of the module's assets: the file is read now (a file that cannot be read or is not a picture is the line's
    error), kept only when every line is good (``keep_pictures``)."""
    module = workspace.modules[candidate.module_id].module
    found = module.picture_slot
    if found is None:
        return candidate, []
    name, _ = found
    value = candidate.slots[name]
    if PictureRef.parse(value) is not None or value in {a.id for a in module.assets}:
        return candidate, []
    file = (folder / value).resolve()
    try:
        if file.exists() and not file.is_file():  # a device or a pipe (/dev/zero) would be read for ever
            return candidate, [f"slots.{name}: '{value}' is not a file"]
        data = file.read_bytes()
    except OSError as exc:
        return candidate, [f"slots.{name}: cannot read the picture '{value}': {exc.strerror}"]
    if inspect(data) is None:
        return candidate, [f"slots.{name}: '{value}' is not a picture (PNG, JPEG or WebP) that can be read"]
    return replace(candidate, pictures={name: data}), []


def keep_pictures(
    store: Store, workspace: Workspace, candidate: Candidate
) -> tuple[Candidate, dict[str, list[Failure]]]:
    """Keep a candidate's picture files: its image slot then names the stored picture. Returns what the picture's
    own checks found (format, size, blank), for the candidate's report."""
    if not candidate.pictures:
        return candidate, {}
    module = workspace.modules[candidate.module_id].module
    slots, found = dict(candidate.slots), {}
    for name, data in candidate.pictures.items():
        spec = module.slots[name].image
        assert spec is not None
        slots[name] = str(keep_picture(store, data, spec.widths))
        found[name] = picture_failures(data, spec)
    return replace(candidate, slots=slots, pictures={}), found
