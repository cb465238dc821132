"""The text in a picture: read offline by OCR and checked like copy, whatever made the picture.

A picture can say what copy must not ("BUY NOW 50% OFF"), so every picture, generated or
imported, is read by RapidOCR (its models ship in the wheel: nothing is downloaded). Text
where the module allows none fails; allowed text goes through the copy policy, as the
picture's alt text would, and the measured brand guidelines. Where OCR cannot run (the
package, or a system library it loads such as libGL, missing), unread is not "no text": the
picture fails until a person looks.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from variantly.authoring.brand_score import score_copy
from variantly.authoring.candidates import Candidate
from variantly.authoring.pictures import PICTURE_TEXT, text_failures
from variantly.authoring.report import CheckReport, Failure
from variantly.workspace import Workspace
from variantly.workspace.images import Picture

_OCR = threading.local()
_IMPORTED: dict[str, str] = {}  # content hash -> the text read: an import reads the same files again and again
Policy = Callable[[str], list[str]]  # what the copy policy refuses in a text, in words


class TextUnread(Exception):
    """OCR could not run here (its package or a system library it loads is missing)."""


def _ocr() -> Any:
    """RapidOCR, loaded once per thread (0.1 s). One each: the wrapper keeps state between its stages, so two
    threads do not share one."""
    if not hasattr(_OCR, "engine"):
        from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]

        _OCR.engine = RapidOCR()
    return _OCR.engine


def read_text(data: bytes) -> str:
    """The text OCR reads in a picture, in reading order (0.2-0.3 s for a 1536x1024 picture on this machine).

    A line counts when OCR is at least half sure of it and it has two characters or more: a lone glyph says nothing
    the copy policy could judge, and it is what OCR makes of shapes (each example picture in ``examples/pictures``,
    all shapes, read as one CJK character at 0.59-0.77; "BUY NOW 50% OFF" drawn large reads at 0.97)."""
    try:
        engine = _ocr()
    except (ImportError, OSError) as exc:  # e.g. OpenCV without libGL: say so, do not end the run
        raise TextUnread(f"{type(exc).__name__}: {exc}") from exc
    found, _ = engine(data)
    lines = [str(line[1]).strip() for line in found or [] if float(line[2]) >= 0.5]
    return " ".join(line for line in lines if len(line.replace(" ", "")) >= 2)


def unread(exc: TextUnread) -> Failure:
    return Failure(validator=PICTURE_TEXT, message=f"the text in it could not be read here ({exc}): check it by eye")


def text_in_picture_failures(
    workspace: Workspace, module_id: str, spec: Picture, text: str, locale: str, policy: Policy
) -> list[Failure]:
    """Text where the module allows none fails; allowed text passes the copy policy like the alt text would and the
    measured brand guidelines (a judged one needs the judge: not asked of text in a picture)."""
    if not text:
        return []
    if not spec.allow_text:
        return [Failure(validator=PICTURE_TEXT, message=f"text in the picture where the module allows none: '{text}'")]
    module = workspace.modules[module_id].module
    said = policy(text)
    brand = score_copy(workspace.brand, module.kind, list(module.channels), {"text": text}, locale)
    said += [f"brand guideline {g.id}: {g.rule}" for g in brand.failed if g.id not in workspace.brand.advisory]
    return text_failures(text, said)


def imported_text_failures(
    workspace: Workspace, candidate: Candidate, check: Callable[[Workspace, Candidate], tuple[bool, CheckReport]]
) -> dict[str, list[Failure]]:
    """The text in an imported line's picture files, checked as a generated picture's is, per image slot. ``check``
    is the import's own: allowed text is checked alone in the alt slot, as a policy re-check does
    (``review.recheck_policy``), so the line's other slots are not checked (and counted) twice. The text read is
    kept per process by content (the example pictures are imported by every demo and many tests)."""
    module = workspace.modules[candidate.module_id].module
    found: dict[str, list[Failure]] = {}
    for name, data in candidate.pictures.items():
        spec = module.slots[name].image
        assert spec is not None
        key = hashlib.sha256(data).hexdigest()
        try:
            text = _IMPORTED[key] if key in _IMPORTED else _IMPORTED.setdefault(key, read_text(data))
        except TextUnread as exc:
            found[name] = [unread(exc)]
            continue

        def policy(text: str, alt: str = spec.alt_slot) -> list[str]:
            _, report = check(workspace, replace(candidate, slots={alt: text}, pictures={}))
            return [f.message for f in report.slots.get(alt, ())]

        if failures := text_in_picture_failures(workspace, module.id, spec, text, candidate.cohort.locale, policy):
            found[name] = failures
    if len(_IMPORTED) > 4096:
        _IMPORTED.clear()
    return found
