"""A local OpenAI-compatible chat completions server with a fixed latency.

It writes valid candidates from what the prompt asks for (slot limits, language,
required sentences, asset choices), so a run through it exercises the whole
pipeline. Used by the resume test and the generation benchmark. Run it alone with
``python tests/fake_openai.py PORT LATENCY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PHRASES = {
    "en": [
        "One shared view of every customer for your team",
        "See what your customers need and act on it",
        "Know every customer in every team with one view",
        "Customer data and support history in one place",
    ],
    "sv": [
        "En gemensam bild av varje kund för ert team",
        "Se vad era kunder behöver och agera på det",
        "Känn varje kund i varje team med en bild",
        "Kunddata och supporthistorik på ett ställe",
    ],
}
SLOT_LINE = re.compile(r'^- "(\w+)": (.*)$', re.MULTILINE)


def fit(text: str, low: int, high: int) -> str:
    while len(text) < low:
        text += " " + text
    if len(text) > high:
        text = text[:high].rsplit(" ", 1)[0]
    return text


def candidates_for(prompt: str, count: int, enums: dict[str, list[str]], seed: int) -> list[dict[str, str]]:
    locale = "sv" if "Language: Swedish" in prompt else "en"
    out = []
    for i in range(count):
        slots = {}
        rules_by_slot: dict[str, str] = {}
        for name, rules in SLOT_LINE.findall(prompt):  # a slot may have cohort requirements further down
            rules_by_slot[name] = f"{rules_by_slot[name]}; {rules}" if name in rules_by_slot else rules
        for j, (name, rules) in enumerate(rules_by_slot.items()):
            if name in enums:
                slots[name] = enums[name][(seed + i) % len(enums[name])]
                continue
            low = int(m.group(1)) if (m := re.search(r"at least (\d+)", rules)) else 1
            high = int(m.group(1)) if (m := re.search(r"at most (\d+)", rules)) else 120
            must = m.group(1) if (m := re.search(r'must include the sentence "([^"]+)"', rules)) else ""
            base = PHRASES[locale][(seed + i + j) % len(PHRASES[locale])]
            text = fit(base, max(low - len(must) - 1, 1), high - len(must) - 1) if must else fit(base, low, high)
            slots[name] = f"{text} {must}".strip() if must else text
        out.append(slots)
    return out


def _enums(response_format: dict) -> dict[str, list[str]]:
    schema = (response_format or {}).get("json_schema", {}).get("schema", {})
    enums = {}
    for definition in schema.get("$defs", {}).values():
        for name, prop in definition.get("properties", {}).items():
            if "enum" in prop:
                enums[name] = prop["enum"]
    return enums


def create_app(latency: float = 0.0) -> Starlette:
    async def completions(request: Request) -> JSONResponse:
        """Answers ``latency`` seconds after the request arrived: the fake's own work is inside that time,
        so a benchmark's "ideal" (calls x latency) is what a server with exactly that latency would take."""
        arrived = time.perf_counter()
        body = await request.json()
        app.state.requests.append(body)
        user = body["messages"][-1]["content"]
        count = int(m.group(1)) if (m := re.search(r"Write (\d+) (?:different|new) candidate", user)) else 1
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        content = json.dumps(
            {"candidates": candidates_for(prompt, count, _enums(body.get("response_format")), len(app.state.requests))},
            ensure_ascii=False,
        )
        words = sum(len(m["content"].split()) for m in body["messages"])
        response = JSONResponse(
            {
                "id": f"chatcmpl-{len(app.state.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                    }
                ],
                "usage": {
                    "prompt_tokens": words,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": words + len(content) // 4,
                },
            }
        )
        await asyncio.sleep(max(0.0, app.state.latency - (time.perf_counter() - arrived)))
        return response

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    app.state.latency = latency
    app.state.requests = []
    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        create_app(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
    )
