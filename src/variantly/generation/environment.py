"""Keep the generation stack offline: no telemetry, no tokenizer downloads.

guardrails-ai reports usage to an outside host unless told not to, and tiktoken
downloads its encodings on first use. Both would break DESIGN invariant 8 ("no data
leaves the machine except requests to the configured LLM endpoint"). litellm, which
guardrails-ai installs, ships the encodings; we point tiktoken at them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def offline_environment() -> None:
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("GUARDRAILS_DISABLE_TELEMETRY", "true")
    # Our validators are plain CPU-bound Python; guardrails' default async service
    # makes an event loop and threads per validate call, which costs more than the
    # checks (measured by tests/benchmarks/bench_generation.py).
    os.environ.setdefault("GUARDRAILS_RUN_SYNC", "true")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        spec = importlib.util.find_spec("litellm")
        if spec is not None and spec.origin is not None:
            cache = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
            if cache.is_dir():
                os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
