"""A local OpenAI-compatible server: chat completions with a fixed latency, and the Batch API.

It writes valid candidates from what the prompt asks for (slot limits, language,
required sentences, asset choices), so a run through it exercises the whole
pipeline. Batches (``/v1/files`` + ``/v1/batches``) read ``in_progress`` for the first
``batch_polls`` polls, then ``completed`` with an answer per request. Used by the CLI
tests and the generation benchmark. Run it alone with
``python tests/fake_openai.py PORT LATENCY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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


def verdicts_for(prompt: str) -> list[dict]:
    """A brand judge's answer: every guideline asked ("- id: question") of every copy ("Copy N:") followed, except
    that a copy saying "young" fails the age guideline, quoting the word."""
    asked = re.findall(r"^- ([a-z][a-z0-9_-]*): ", prompt, flags=re.MULTILINE)
    copies = re.split(r"^Copy (\d+):\n", prompt.split("Guidelines (id: question)")[0], flags=re.MULTILINE)[1:]
    out = []
    for number, text in zip(copies[::2], copies[1::2], strict=True):
        for guideline in asked:
            verdict = {"copy_number": int(number), "guideline": guideline, "follows": True, "reason": "follows it"}
            if guideline == "ethics_age" and "young" in text:
                verdict |= {"follows": False, "reason": "assumes an age", "quote": "young"}
            out.append(verdict)
    return out


def answer(body: dict, number: int) -> dict:
    """A chat completion for a request body: valid candidates, as many as the prompt asks for (or a judge's
    verdicts, when the schema asks for those). A message of parts (pictures to describe) is read by its text."""
    user = _text(body["messages"][-1]["content"])
    count = int(m.group(1)) if (m := re.search(r"Write (\d+) (?:different|new) candidate", user)) else 1
    count = _schema_count(body.get("response_format")) or count
    prompt = next(_text(m["content"]) for m in body["messages"] if m["role"] == "user")
    if "verdicts" in json.dumps(body.get("response_format") or {}):
        content = json.dumps({"verdicts": verdicts_for(prompt)}, ensure_ascii=False)
    else:
        content = json.dumps(
            {"candidates": candidates_for(prompt, count, _enums(body.get("response_format")), number)},
            ensure_ascii=False,
        )
    words = sum(len(_text(m["content"]).split()) for m in body["messages"])
    return {
        "id": f"chatcmpl-{number}",
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


def _with_slot_texts(response: dict, slot_texts: dict[str, list[str]]) -> dict:
    """The answer with the texts a test queued for some slots put in, one per candidate that has the slot."""
    message = response["choices"][0]["message"]
    parsed = json.loads(message["content"])
    for candidate in parsed.get("candidates", []):
        for slot, texts in slot_texts.items():
            if slot in candidate and texts:
                candidate[slot] = texts.pop(0)
    message["content"] = json.dumps(parsed, ensure_ascii=False)
    return response


def _text(content: str | list) -> str:
    return content if isinstance(content, str) else "\n".join(p["text"] for p in content if p["type"] == "text")


def _schema_count(response_format: dict | None) -> int | None:
    schema = (response_format or {}).get("json_schema", {}).get("schema", {})
    return schema.get("properties", {}).get("candidates", {}).get("minItems")


# --- pictures: real PNG bytes, drawn; what the next pictures are is the test's to say (app.state.pictures) ---

FLAG = (255, 0, 1)  # a flagged picture carries this colour in its top-left pixel: the moderation fake sees it


def draw_picture(kind: str, size: str, number: int, fmt: str = "png") -> bytes:
    """``plain`` (shapes), ``text`` (BUY NOW 50% OFF drawn large), ``flagged`` (moderation flags it), ``blank``."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = (int(v) for v in size.split("x"))
    image = Image.new("RGB", (width, height), (200, 220, 240) if kind != "blank" else (128, 128, 128))
    if kind != "blank":
        draw = ImageDraw.Draw(image)
        hue = (number * 47) % 200
        draw.rectangle((0, height * 3 // 4, width, height), fill=(180, 160 + hue // 4, 120))
        draw.ellipse((width // 2 - 90, height // 4, width // 2 + 90, height // 4 + 180), fill=(240, 200, 170))
        draw.rounded_rectangle((width // 2 - 140, height // 4 + 200, width // 2 + 140, height * 3 // 4), 60,
                               fill=(40, 70 + hue // 2, 200))  # fmt: skip
        if kind == "text":
            draw.rectangle((80, 80, width - 80, 300), fill=(250, 250, 250))
            draw.text((140, 130), "BUY NOW 50% OFF", fill=(10, 10, 10), font=ImageFont.load_default(size=width // 16))
        if kind == "flagged":
            image.putpixel((0, 0), FLAG)
    import io

    out = io.BytesIO()
    image.save(out, {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt])
    return out.getvalue()


def is_flagged(data: bytes) -> bool:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").getpixel((0, 0)) == FLAG


CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
              "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
              "violence/graphic")  # fmt: skip


def create_app(latency: float = 0.0, batch_polls: int = 1) -> Starlette:
    """``batch_polls``: how many times a batch reads ``in_progress`` before it is ``completed``."""

    async def completions(request: Request) -> JSONResponse:
        """Answers ``latency`` seconds after the request arrived: the fake's own work is inside that time,
        so a benchmark's "ideal" (calls x latency) is what a server with exactly that latency would take."""
        arrived = time.perf_counter()
        body = await request.json()
        app.state.requests.append(body)
        response = JSONResponse(_with_slot_texts(answer(body, len(app.state.requests)), app.state.slot_texts))
        await asyncio.sleep(max(0.0, app.state.latency - (time.perf_counter() - arrived)))
        return response

    async def pictures(request: Request) -> JSONResponse:
        """``images.generate`` (JSON) and ``images.edit`` (multipart): base64 pictures with token usage."""
        if request.headers.get("content-type", "").startswith("multipart/"):
            form = await request.form()
            body = {k: v for k, v in form.items() if isinstance(v, str)}
            body["references"] = len(form.getlist("image[]") or form.getlist("image"))
        else:
            body = await request.json()
        return JSONResponse(picture_answer(body))

    def picture_answer(body: dict) -> dict:
        app.state.picture_requests.append(body)
        count, size, fmt = int(body.get("n", 1)), body.get("size", "1024x1024"), body.get("output_format", "png")
        data = []
        for _ in range(count):
            kind = app.state.pictures.pop(0) if app.state.pictures else "plain"
            app.state.drawn += 1
            data.append({"b64_json": base64.b64encode(draw_picture(kind, size, app.state.drawn, fmt)).decode()})
        words = len(str(body.get("prompt", "")).split())
        usage = {"input_tokens": words, "output_tokens": 1056 * count, "total_tokens": words + 1056 * count,
                 "input_tokens_details": {"text_tokens": words, "image_tokens": 0}}  # fmt: skip
        return {"created": int(time.time()), "data": data, "usage": usage, "output_format": fmt}

    async def moderations(request: Request) -> JSONResponse:
        body = await request.json()
        app.state.moderation_requests.append(body)
        results = []
        for item in body["input"]:
            url = item["image_url"]["url"] if item.get("type") == "image_url" else ""
            flagged = bool(url) and is_flagged(base64.b64decode(url.split(",", 1)[1]))
            categories = {name: flagged and name == "violence" for name in CATEGORIES}
            results.append({"flagged": flagged, "categories": categories,
                            "category_scores": {name: 0.9 if on else 0.01 for name, on in categories.items()},
                            "category_applied_input_types": {name: ["image"] for name in CATEGORIES}})  # fmt: skip
        return JSONResponse({"id": "modr-1", "model": body.get("model", ""), "results": results})

    # --- the Batch API: files in and out, and batches that finish after a few polls ---

    async def upload(request: Request) -> JSONResponse:
        form = await request.form()
        content = await form["file"].read()
        file_id = f"file-{len(app.state.files) + 1}"
        app.state.files[file_id] = content
        return JSONResponse(_file(file_id, len(content), form["purpose"]))

    async def create_batch(request: Request) -> JSONResponse:
        body = await request.json()
        batch_id = f"batch_{len(app.state.batches) + 1}"
        lines = app.state.files[body["input_file_id"]].decode().splitlines()
        app.state.batches[batch_id] = {"input_file_id": body["input_file_id"], "requests": len(lines), "polls": 0}
        return JSONResponse(_batch(batch_id, app.state.batches[batch_id], "validating"))

    async def retrieve_batch(request: Request) -> JSONResponse:
        batch_id = request.path_params["batch_id"]
        batch = app.state.batches[batch_id]
        batch["polls"] += 1
        if batch["polls"] <= app.state.batch_polls:
            return JSONResponse(_batch(batch_id, batch, "in_progress"))
        if "output_file_id" not in batch:
            out = []
            for line in app.state.files[batch["input_file_id"]].decode().splitlines():
                request_line = json.loads(line)
                if request_line["url"] == "/v1/images/generations":
                    answered = picture_answer(request_line["body"])
                else:
                    app.state.requests.append(request_line["body"])
                    answered = answer(request_line["body"], len(app.state.requests))
                response = {"status_code": 200, "request_id": "req", "body": answered}
                out.append(
                    json.dumps({"id": "r", "custom_id": request_line["custom_id"], "response": response, "error": None})
                )
            batch["output_file_id"] = f"file-{len(app.state.files) + 1}"
            app.state.files[batch["output_file_id"]] = "\n".join(out).encode()
        return JSONResponse(_batch(batch_id, batch, "completed"))

    async def file_content(request: Request) -> Response:
        return Response(app.state.files[request.path_params["file_id"]], media_type="application/octet-stream")

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/images/generations", pictures, methods=["POST"]),
            Route("/v1/images/edits", pictures, methods=["POST"]),
            Route("/v1/moderations", moderations, methods=["POST"]),
            Route("/v1/files", upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
            Route("/v1/batches", create_batch, methods=["POST"]),
            Route("/v1/batches/{batch_id}", retrieve_batch, methods=["GET"]),
        ]
    )
    app.state.latency = latency
    app.state.requests = []
    app.state.files = {}
    app.state.batches = {}
    app.state.batch_polls = batch_polls
    app.state.pictures = []  # the kinds of the next pictures drawn (then "plain")
    app.state.slot_texts = {}  # slot -> texts the next candidates take for it, in turn (then the fake's own)
    app.state.drawn = 0
    app.state.picture_requests = []
    app.state.moderation_requests = []
    return app


def _file(file_id: str, size: int, purpose: str) -> dict:
    return {"id": file_id, "object": "file", "bytes": size, "created_at": 1, "filename": "f.jsonl", "purpose": purpose}


def _batch(batch_id: str, batch: dict, status: str) -> dict:
    total, done = batch["requests"], batch["requests"] if status == "completed" else 0
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": batch["input_file_id"],
        "completion_window": "24h",
        "status": status,
        "created_at": 1,
        "output_file_id": batch.get("output_file_id"),
        "error_file_id": None,
        "request_counts": {"total": total, "completed": done, "failed": 0},
    }


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        create_app(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
    )
