"""The OpenAI wire format, both ways: the structured output asked for, and what answers and errors say.

Which failures are worth another attempt, how long a 429 asks us to wait, and which
400s refuse a setting every request of a run sends (so the run stops at the first)
are read here, so that ``variantly.generation.llm`` holds only the client's policy.
"""

from __future__ import annotations

import json
import math
import time
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import httpx
import openai
from pydantic import BaseModel, ValidationError

MAX_RETRY_AFTER_SECONDS = 120.0


class NotJSONBody(Exception):
    """The endpoint answered 200 with something other than JSON (a proxy's HTML page)."""


def require_json(response: httpx.Response) -> None:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        raise NotJSONBody(f"the endpoint answered {content_type or 'no content type'}: {response.text[:80]!r}")


# Exceptions worth another attempt. ValidationError: the content was not the JSON we
# asked for; JSONDecodeError / NotJSONBody: the HTTP body itself was not JSON.
RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    ValidationError,
    json.JSONDecodeError,
    NotJSONBody,
)


# Keywords OpenAI's strict structured outputs refuse with a 400 ("'minLength' is not permitted"),
# while servers that decode by grammar (vLLM, llama.cpp, Ollama) enforce them.
STRING_LENGTHS = ("minLength", "maxLength")


@lru_cache(maxsize=256)
def response_format_for(output: type[BaseModel], string_lengths: bool = False) -> dict[str, Any]:
    """Structured output in OpenAI's strict form: every object closed, every property required.

    Counts (``minItems``/``maxItems``) are kept: strict mode enforces them. String lengths
    are kept only with ``string_lengths`` (``generation.schema_string_lengths``); without
    them a slot's limits are still in its description and the prompt, and the guardrails
    enforce them.
    """
    schema = output.model_json_schema()

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            if not string_lengths and node.get("type") == "string":
                for keyword in STRING_LENGTHS:
                    node.pop(keyword, None)
            if "default" in node and node["default"] is None:  # as the openai SDK's own strict schemas: nullable
                node.pop("default")
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return {"type": "json_schema", "json_schema": {"name": output.__name__, "schema": schema, "strict": True}}


# A 400 naming one of these refuses what every request of the run sends: the run stops at the first.
SETTINGS_OF_EVERY_REQUEST = {
    "model": "check the model name (VARIANTLY_MODEL or generation.model in variantly.yml)",
    "response_format": "set generation.response_format: json_object in variantly.yml for servers without JSON "
    "schema support, and generation.schema_string_lengths: false if the schema's minLength/maxLength is refused",
    "temperature": "check generation.temperature in variantly.yml (some models take only the default)",
    "max_completion_tokens": "check generation.max_completion_tokens in variantly.yml (older servers want max_tokens)",
}


def error_message(exc: openai.APIStatusError) -> str:
    """The provider's own words from an error body, not the SDK's whole repr of it."""
    body = exc.body if isinstance(exc.body, dict) else {}
    return str(body.get("message") or exc.message)[:300]


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, RETRYABLE)


def why(exc: BaseException) -> str:
    """The innermost cause of a connection error: the SDK says "Connection error." or "Request
    timed out." for a refused connection too, and the transport's own error names host and port."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, ``Retry-After`` seconds or date, each within 0 and
    ``MAX_RETRY_AFTER_SECONDS``. A value that is no number of seconds (``nan``, which ``float`` reads and ``min``
    passes through) is ignored, as a header that does not parse is."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    if (ms := headers.get("retry-after-ms")) is not None and (seconds := _seconds(ms, 1000)) is not None:
        return seconds
    if (value := headers.get("retry-after")) is not None:
        if (seconds := _seconds(value, 1)) is not None:
            return seconds
        try:
            return _within(parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return None


def _seconds(text: str, per_second: int) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else _within(number / per_second)


def _within(seconds: float) -> float:
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
