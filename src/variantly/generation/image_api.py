"""The image endpoints through the openai SDK: pictures made (``images.generate``, or ``images.edit`` with reference
images of a product or logo) and pictures moderated (``moderations.create`` with the picture as input).

Both go through ``LLMClient.call``: the same retry policy, circuit breaker and error mapping as a chat call, every
attempt recorded. The GPT image models always answer base64 (``b64_json``) with token ``usage``; any
OpenAI-compatible endpoint that does the same works by base URL. A picture's cost is the provider's per-image
price for its quality and size (``images.prices`` in ``variantly.yml``) times the pictures answered, plus the
prompt's text tokens.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai.types import ModerationImageURLInputParam

from variantly.errors import LLMRefused
from variantly.generation.llm import CallRecord, LLMClient
from variantly.workspace.images import ImagePrice, Picture

MIME_OF = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass
class Pictures:
    """What one call answered: the pictures' bytes, and every attempt's record (tokens in ``prompt_tokens`` for the
    prompt, ``completion_tokens`` for the picture tokens the provider counted)."""

    data: list[bytes]
    calls: list[CallRecord] = field(default_factory=list)


def picture_cost(price: ImagePrice | None, spec: Picture, pictures: int, prompt_tokens: int = 0) -> float:
    """The provider's bill for ``pictures`` pictures of a slot: per-image price, plus the prompt's text tokens."""
    if price is None:
        return 0.0
    each = price.of(spec.quality, spec.size) or 0.0
    return pictures * each + prompt_tokens * price.input_per_million / 1_000_000


def picture_body(model: str, prompt: str, spec: Picture, count: int) -> dict[str, Any]:
    """What ``images.generate`` is sent, live or in a batch."""
    return {"model": model, "prompt": prompt, "n": count, "size": spec.size, "quality": spec.quality,
            "output_format": spec.format}  # fmt: skip


def picture_request(custom_id: str, model: str, prompt: str, spec: Picture, count: int) -> dict[str, Any]:
    """One line of a batch input file for ``/v1/images/generations``."""
    body = picture_body(model, prompt, spec, count)
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/images/generations", "body": body}


def read_pictures(body: dict[str, Any], record: CallRecord) -> list[bytes]:
    """The pictures of an images response (a batch line's body), their tokens and count into ``record``."""
    usage = body.get("usage") or {}
    record.prompt_tokens = usage.get("input_tokens") or 0
    record.completion_tokens = usage.get("output_tokens") or 0
    pictures = [base64.b64decode(item["b64_json"]) for item in body.get("data") or [] if item.get("b64_json")]
    record.pictures = len(pictures)
    return pictures


async def make_pictures(
    llm: LLMClient,
    model: str,
    prompt: str,
    spec: Picture,
    count: int,
    *,
    references: list[Path] = (),  # type: ignore[assignment]
    on_call: Callable[[CallRecord], None] | None = None,
    before_attempt: Callable[[], None] | None = None,
) -> Pictures:
    """``count`` pictures for one prompt; with reference images, through ``images.edit``."""

    async def once(record: CallRecord) -> list[bytes]:
        options = picture_body(model, prompt, spec, count)
        if references:
            files = [(p.name, p.read_bytes(), MIME_OF.get(p.suffix.lstrip(".").replace("jpg", "jpeg"), "image/png"))
                     for p in references]  # fmt: skip
            answer = await llm.client.images.edit(image=files, **options)
        else:
            answer = await llm.client.images.generate(**options)
        if answer.usage is not None:
            record.prompt_tokens = answer.usage.input_tokens
            record.completion_tokens = answer.usage.output_tokens
        pictures = [base64.b64decode(item.b64_json) for item in answer.data or [] if item.b64_json]
        record.pictures = len(pictures)
        if not pictures:
            raise LLMRefused("the image endpoint answered no picture (a refusal by its own moderation?)")
        return pictures

    data, calls = await llm.call(once, on_call, before_attempt)
    return Pictures(data, calls)


async def moderate(llm: LLMClient, model: str, data: bytes, mime: str) -> list[str]:
    """The moderation endpoint's flagged categories for one picture (none: it passed)."""
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"

    async def once(record: CallRecord) -> list[str]:
        picture: ModerationImageURLInputParam = {"type": "image_url", "image_url": {"url": url}}
        answer = await llm.client.moderations.create(model=model, input=[picture])
        result = answer.results[0]
        if not result.flagged:
            return []
        flagged = result.categories.model_dump(by_alias=True)
        return sorted(name for name, on in flagged.items() if on)

    found, _ = await llm.call(once)
    return found
