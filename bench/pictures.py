"""Pictures at the speed of static files, and a render with a picture as fast as one without.

    .venv/bin/python bench/pictures.py [--seconds 3] [--rounds 3]

The example workspace with its pictures approved (``variantly demo``), served by
``variantly serve`` on the fast stack. wrk (1 thread, 16 connections) in interleaved
rounds, medians printed:

- ``GET /assets/<hash>-480.webp`` (a picture from the process's memory) against a bare
  FastAPI app serving the same file from disk with Starlette's ``StaticFiles`` on the same
  stack (the baseline; the target is at least 0.8 of it), and against a bare FastAPI route
  answering the same bytes from memory (what is left to win);
- ``POST /v1/render`` of one module for the same profile (Ben, a fintech startup): the
  hero image block (a generated picture, its srcset) against the hero headline block
  (text only); the target is within 5%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, REPO, STACKS, prepared_workspace, server, variantly_server, wrk
from rich.console import Console
from rich.table import Table


def picture_name(url: str) -> tuple[str, bytes]:
    """The smallest WebP copy of an approved picture, and its bytes."""
    from variantly.store import Store
    from variantly.store.images import image_file, image_names

    store = Store(url)
    try:
        with store.sessions() as session:
            from variantly.store.schema import ImageFileRow

            digest = session.query(ImageFileRow.hash).first()[0]
        name = sorted(n for n in image_names(store, digest) if n.endswith("-480.webp"))[0]
        found = image_file(store, name)
        assert found is not None
        return name, found.data
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        root, url = prepared_workspace(folder)
        name, data = picture_name(url)
        static = folder / "static"
        static.mkdir()
        (static / name).write_bytes(data)
        profile = json.loads((REPO / "examples" / "profiles" / "ben_fintech_startup_en.json").read_text())
        bodies = {}
        for module in ("hero", "hero_image"):
            bodies[module] = folder / f"{module}.json"
            bodies[module].write_text(json.dumps({"module": module, "profile": profile}))
        baseline = [PYTHON, "-m", "uvicorn", "--factory", "bench.static_app:create", "--port", "{port}",
                    "--log-level", "warning", "--no-access-log", *STACKS["fast"]]  # fmt: skip
        with (
            variantly_server(root, url, "--render-only", "--no-access-log") as ours,
            server("static files", baseline, f"/static/{name}", env={"BENCH_STATIC_DIR": str(static)}) as bare,
        ):
            runs = {
                "baseline: StaticFiles, the same file": ("GET", f"{bare.base}/static/{name}", None),
                "bare FastAPI route, from memory": ("GET", f"{bare.base}/memory/{name}", None),
                "/assets/<hash>-480.webp (from memory)": ("GET", f"{ours.base}/assets/{name}", None),
                "render hero (text only)": ("POST", f"{ours.base}/v1/render", bodies["hero"]),
                "render hero_image (a picture, srcset)": ("POST", f"{ours.base}/v1/render", bodies["hero_image"]),
            }
            for method, target, body in runs.values():  # warm: the picture into memory, the renders compiled
                wrk(target, seconds=1, method=method, body=body)
            results: dict[str, list[dict]] = {label: [] for label in runs}
            for _ in range(args.rounds):
                for label, (method, target, body) in runs.items():
                    result = wrk(target, seconds=args.seconds, method=method, body=body)
                    assert result["non2xx"] == 0 and result["errors"] == 0, (label, result)
                    results[label].append(result)
    median = {label: statistics.median(r["rps"] for r in found) for label, found in results.items()}
    p99 = {label: statistics.median(r["p99_ms"] for r in found) for label, found in results.items()}
    table = Table(title=f"Pictures: wrk, 16 connections, median of {args.rounds} x {args.seconds:g} s, fast stack")
    for column in ("what", "requests/s", "p99 ms", "ratio"):
        table.add_column(column, justify="left" if column == "what" else "right")
    labels = list(runs)
    against = {
        labels[0]: labels[0],
        labels[1]: labels[0],
        labels[2]: labels[0],
        labels[3]: labels[3],
        labels[4]: labels[3],
    }
    for label in labels:
        ratio = median[label] / median[against[label]]
        table.add_row(label, f"{median[label]:,.0f}", f"{p99[label]:.2f}", f"{ratio:.2f}")
    console.print(table)
    console.print(
        f"pictures from memory: {median[labels[2]] / median[labels[0]]:.2f} of StaticFiles (target >= 0.80), "
        f"{median[labels[2]] / median[labels[1]]:.2f} of a bare route answering from memory; "
        f"a render with a picture: {median[labels[4]] / median[labels[3]]:.2f} of one without (target >= 0.95)"
    )


if __name__ == "__main__":
    main()
