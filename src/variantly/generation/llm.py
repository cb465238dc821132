"""The LLM: any OpenAI-compatible endpoint through the openai SDK.

The SDK's own retries are off (``max_retries=0``) so that one policy, tenacity's,
decides: 429 waits as long as ``Retry-After`` says, 5xx, timeouts, dropped
connections and unparseable answers back off exponentially with jitter, and every
call stops after ``max_attempts``. A refusal or a truncated answer is not retried:
asking the same thing again would give the same result.

Two guards protect the money and the operator's time: ``before_attempt`` is called
before every HTTP attempt (a run reserves the attempt's worst-case cost there and may
refuse it), and a circuit breaker stops every call once the endpoint has refused
``CONNECTION_FAILURES_TO_STOP`` connections in a row, instead of each job retrying alone.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, TypeVar

import httpx
import openai
from openai import AsyncOpenAI
from openai.types import Batch
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from variantly.errors import (
    LLMCallFailed,
    LLMEndpointMisconfigured,
    LLMRefused,
    LLMTruncated,
    LLMUnreachable,
)
from variantly.generation.wire import (
    RETRYABLE,
    SETTINGS_OF_EVERY_REQUEST,
    error_message,
    require_json,
    response_format_for,
    retry_after_seconds,
    retryable,
    why,
)
from variantly.store.schema import LLMCallRow
from variantly.workspace.models import GenerationSettings

T = TypeVar("T")
BatchEndpoint = Literal["/v1/chat/completions", "/v1/images/generations"]  # one endpoint a batch
CONNECTION_FAILURES_TO_STOP = 5  # in a row, across all calls of a client


INTERRUPTED = "interrupted"  # a call cut off in flight (Ctrl-C): its tokens are the prompt's and an estimate


@dataclass
class CallRecord:
    """One HTTP attempt: what it cost and how it ended. Stored per call for cost reports."""

    attempt: int
    outcome: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache
    latency_ms: float = 0.0
    pictures: int = 0  # an image call's pictures answered (what it is billed by)

    def row(self, run_id: str, job_key: str, purpose: str, model: str, cost_usd: float) -> LLMCallRow:
        """The attempt as the store keeps it, for the cost report."""
        return LLMCallRow(
            run_id=run_id,
            job_key=job_key,
            purpose=purpose,
            attempt=self.attempt,
            model=model,
            outcome=self.outcome,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            cost_usd=cost_usd,
            latency_ms=self.latency_ms,
        )


@dataclass
class Completion:
    items: list[dict[str, Any]]
    raw: str
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)


@lru_cache(maxsize=1)
def _verified_tls() -> ssl.SSLContext:
    """Loading the CA bundle takes ~40 ms on the event loop; a process that starts many runs
    (the API's ``POST /v1/runs``) loads it once."""
    return httpx.create_ssl_context()


class LLMClient:
    def __init__(
        self,
        settings: GenerationSettings,
        *,
        api_key: str,
        base_url: str | None,
        model: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.model = model or settings.model
        self.base_url = base_url
        self._api_key = api_key
        self._timeout = settings.timeout_seconds
        self._http_client = http_client
        self._client: AsyncOpenAI | None = None
        self.connection_failures = 0  # in a row; any answer resets it
        self.last_connection_failure: BaseException | None = None

    @property
    def client(self) -> AsyncOpenAI:
        """Made on first use inside the running event loop; ``close`` ends it with the run.

        Requests go through aiohttp (the SDK's ``DefaultAioHttpClient``): httpx's own pool
        checks every idle connection for each request it places, which at 32 calls in
        flight cost 5-9 ms of CPU per call against 0.6 ms through aiohttp.
        """
        if self._client is None:
            self._client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,  # tenacity owns the retries
                timeout=self._timeout,
                http_client=self._http_client or openai.DefaultAioHttpClient(verify=_verified_tls()),
            )
        return self._client

    def _retrying(self) -> AsyncRetrying:
        """The one retry policy, for chat calls and the batch endpoints alike."""
        return AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.settings.max_attempts),
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and (seconds := retry_after_seconds(exc)) is not None:
            return seconds
        return wait_random_exponential(multiplier=self.settings.backoff_seconds, max=30)(state)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        output: type[BaseModel],
        on_call: Callable[[CallRecord], None] | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> Completion:
        """Ask for ``output``; returns its ``candidates`` as plain dicts and every attempt's cost.

        ``before_attempt`` runs before each HTTP attempt and may raise to prevent it (a
        budget); ``on_call`` gets each attempt's record, answered or not.
        """
        parsed, raw, calls = await self.ask(messages, output, on_call, before_attempt)
        items = [c.model_dump() if isinstance(c, BaseModel) else dict(c) for c in parsed.candidates]
        return Completion(items, raw, calls)

    async def ask(
        self,
        messages: list[dict[str, Any]],
        output: type[BaseModel],
        on_call: Callable[[CallRecord], None] | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> tuple[Any, str, list[CallRecord]]:
        """Ask for any structured ``output`` (a brand judge's verdicts too): the parsed answer, its text and every
        attempt's record, with the same retries, circuit breaker and errors as ``complete``."""
        (parsed, raw), calls = await self.call(
            lambda record: self._once(messages, output, record), on_call, before_attempt
        )
        return parsed, raw, calls

    async def call(
        self,
        once: Callable[[CallRecord], Awaitable[T]],
        on_call: Callable[[CallRecord], None] | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> tuple[T, list[CallRecord]]:
        """Any request to the endpoint (``once`` makes one HTTP attempt and fills its record: a chat answer, a
        picture, a moderation) under the one retry policy, circuit breaker and error mapping; returns its result
        and every attempt's record."""
        calls: list[CallRecord] = []
        retrying = self._retrying()
        try:
            async for attempt in retrying:
                with attempt:
                    self._check_circuit()
                    if before_attempt:
                        before_attempt()
                    number = attempt.retry_state.attempt_number
                    started = time.perf_counter()
                    record = CallRecord(number, "error")
                    calls.append(record)
                    try:
                        result = await once(record)
                        record.outcome = "ok"
                        self.connection_failures = 0
                    except BaseException as exc:
                        # cut off in flight (Ctrl-C): the provider may still bill it, so it is recorded as such
                        record.outcome = INTERRUPTED if isinstance(exc, asyncio.CancelledError) else type(exc).__name__
                        if isinstance(exc, openai.APIConnectionError):  # timeouts are a subclass
                            self.connection_failures += 1
                            self.last_connection_failure = exc
                        elif isinstance(exc, openai.APIStatusError | ValidationError | json.JSONDecodeError):
                            self.connection_failures = 0  # the endpoint answered
                        raise
                    finally:
                        record.latency_ms = (time.perf_counter() - started) * 1000
                        if on_call:
                            on_call(record)
        except (LLMRefused, LLMTruncated, LLMUnreachable):
            raise
        except openai.APIConnectionError as exc:
            if self.connection_failures >= CONNECTION_FAILURES_TO_STOP:
                raise self._unreachable() from exc
            raise LLMCallFailed(f"no answer after {len(calls)} attempt(s): {why(exc)}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403, 404):
                raise LLMEndpointMisconfigured(
                    f"the LLM endpoint answered {exc.status_code} ({exc.message}): check OPENAI_API_KEY, "
                    f"OPENAI_BASE_URL and the model name '{self.model}'"
                ) from exc
            if exc.status_code == 400 and exc.param in SETTINGS_OF_EVERY_REQUEST:  # every job would be refused alike
                raise LLMEndpointMisconfigured(
                    f"the LLM endpoint refused '{exc.param}' ({error_message(exc)}): "
                    f"{SETTINGS_OF_EVERY_REQUEST[exc.param]}"
                ) from exc
            raise LLMCallFailed(
                f"the LLM endpoint answered {exc.status_code} after {len(calls)} attempt(s): {exc.message}"
            ) from exc
        except RETRYABLE as exc:
            raise LLMCallFailed(
                f"no usable answer after {len(calls)} attempt(s): {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        return result, calls

    async def _once(
        self, messages: list[dict[str, Any]], output: type[BaseModel], record: CallRecord
    ) -> tuple[Any, str]:
        """One HTTP attempt, through the SDK's plain ``post`` with the body as it is, read as JSON here.

        The SDK's typed ``create``/``parse`` transform the whole request (the JSON schema
        included) and build a response model on every call; with 32 calls in flight that
        work stalls the event loop. Status errors, timeouts and connection errors are the
        SDK's as before, so the retry policy is unchanged.
        """
        body = self.request_body(messages, output)
        response = await self.client.post("/chat/completions", cast_to=httpx.Response, body=body)
        require_json(response)
        return self.read_answer(response.json(), output, record)

    def read_answer(self, response: dict[str, Any], output: type[BaseModel], record: CallRecord) -> tuple[Any, str]:
        """Tokens into ``record``, then the candidates, or why there are none (a live call or a batch result)."""
        usage = response.get("usage") or {}
        record.prompt_tokens = usage.get("prompt_tokens") or 0
        record.completion_tokens = usage.get("completion_tokens") or 0
        record.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        choice = (response.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        if choice.get("finish_reason") == "length":
            raise LLMTruncated(self._truncated_message())
        if choice.get("finish_reason") == "content_filter":
            raise LLMRefused("the LLM's content filter stopped the answer")
        if message.get("refusal"):
            raise LLMRefused(f"the LLM refused: {message['refusal']}")
        content = message.get("content") or ""
        return output.model_validate_json(content), content

    def request_body(self, messages: list[dict[str, Any]], output: type[BaseModel]) -> dict[str, Any]:
        """What a chat completion request sends, live or in a batch."""
        return {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_completion_tokens": self.settings.max_completion_tokens,
            "response_format": self.response_format(output),
        }

    # --- the Batch API (/v1/files + /v1/batches): half the price, results within 24 hours ---

    def response_format(self, output: type[BaseModel]) -> dict[str, Any]:
        if self.settings.response_format == "json_schema":
            return response_format_for(output, self.settings.schema_string_lengths)
        return {"type": "json_object"}

    async def submit_batch(
        self, requests: list[dict[str, Any]], endpoint: BatchEndpoint = "/v1/chat/completions"
    ) -> tuple[str, str]:
        """Upload the requests as JSONL and start a batch of one ``endpoint``; returns (batch id, input file id)."""
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in requests).encode()
        uploaded = await self._with_retries(
            lambda: self.client.files.create(file=("variantly-batch.jsonl", body), purpose="batch")
        )
        batch = await self._with_retries(
            lambda: self.client.batches.create(
                input_file_id=uploaded.id,
                endpoint=endpoint,
                completion_window="24h",
            )
        )
        return batch.id, uploaded.id

    async def batch(self, batch_id: str) -> Batch:
        return await self._with_retries(lambda: self.client.batches.retrieve(batch_id))

    async def batch_file(self, file_id: str) -> list[dict[str, Any]]:
        """A batch's output or error file, one parsed line each."""
        content = await self._with_retries(lambda: self.client.files.content(file_id))
        return [json.loads(line) for line in content.text.splitlines() if line.strip()]

    def batch_request(self, custom_id: str, messages: list[dict[str, str]], output: type[BaseModel]) -> dict[str, Any]:
        """One line of a batch input file: the same request a live call would make."""
        body = self.request_body(messages, output)
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}

    async def _with_retries(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """The live calls' retry policy for the batch endpoints (429 with Retry-After, 5xx, timeouts)."""
        retrying = self._retrying()
        try:
            async for attempt in retrying:
                with attempt:
                    return await call()
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403, 404):
                raise LLMEndpointMisconfigured(
                    f"the batch endpoint answered {exc.status_code} ({exc.message}): check OPENAI_API_KEY and "
                    "OPENAI_BASE_URL, and that the server offers the Batch API"
                ) from exc
            raise LLMCallFailed(f"the batch endpoint answered {exc.status_code}: {exc.message}") from exc
        except RETRYABLE as exc:
            raise LLMCallFailed(f"the batch endpoint did not answer: {type(exc).__name__}: {exc}") from exc

    def _check_circuit(self) -> None:
        if self.connection_failures >= CONNECTION_FAILURES_TO_STOP:
            raise self._unreachable()

    def _unreachable(self) -> LLMUnreachable:
        exc = self.last_connection_failure
        last = f" (last: {why(exc)})" if exc else ""
        return LLMUnreachable(
            f"the LLM endpoint {self.base_url or 'api.openai.com'} refused {self.connection_failures} connections "
            f"in a row{last}: check OPENAI_BASE_URL and the network; finished jobs are kept, run again to continue"
        )

    def _truncated_message(self) -> str:
        return (
            f"the answer was cut off at max_completion_tokens={self.settings.max_completion_tokens}: raise "
            "generation.max_completion_tokens or lower generation.candidates in variantly.yml"
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
