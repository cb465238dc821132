"""A variants file can name picture files: read and checked with every line before anything is kept, kept by content,
the picture's own checks in the variant's report."""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from fake_openai import draw_picture
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.errors import ImportFileError
from variantly.store import Store
from variantly.store.images import image_names
from variantly.store.schema import VariantRow

ALT = "A shop worker beside a screen showing one customer"
LINE = {"module": "hero_image", "cohort": {"industry": "retail", "locale": "en"},
        "slots": {"alt": ALT, "caption": "Order history at hand."}}  # fmt: skip


def write(folder: Path, picture: str) -> Path:
    path = folder / "pictures.jsonl"
    path.write_text(json.dumps(LINE | {"slots": LINE["slots"] | {"picture": picture}}) + "\n")
    return path


def png(size: tuple[int, int], colour=None) -> bytes:
    image = Image.new("RGB", size, colour or (90, 120, 200))
    if colour is None:
        image.paste((240, 200, 170), (size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def store(tmp_path: Path):
    found = Store(f"sqlite:///{tmp_path / 'pictures.db'}")
    yield found
    found.dispose()


def test_a_missing_picture_file_names_its_line_and_nothing_is_imported(workspace, store, tmp_path) -> None:
    with pytest.raises(ImportFileError) as found:
        import_variants(store, workspace, write(tmp_path, "nowhere.png"), actor="t", check=check_constraints)
    assert "pictures.jsonl:1: slots.picture: cannot read the picture 'nowhere.png'" in found.value.message
    with store.sessions() as session:
        assert session.query(VariantRow).count() == 0


@pytest.mark.parametrize("slot", ["picture", "alt"])
def test_a_nul_in_a_slot_is_refused_by_line_before_any_file_is_read(workspace, store, tmp_path, slot: str) -> None:
    path = tmp_path / "pictures.jsonl"
    slots = LINE["slots"] | {"picture": "pictures/retail.png"}
    path.write_text(json.dumps(LINE | {"slots": slots | {slot: slots[slot] + "\x00.png"}}) + "\n")
    with pytest.raises(ImportFileError) as found:  # the picture's name was a ValueError from the file system
        import_variants(store, workspace, path, actor="t", check=check_constraints)
    assert f"pictures.jsonl:1: slots.{slot}: contains a NUL character" in found.value.message
    with store.sessions() as session:
        assert session.query(VariantRow).count() == 0


def test_a_device_or_a_folder_named_as_a_picture_is_refused_without_reading_it(workspace, store, tmp_path) -> None:
    for name in (".", "/dev/zero"):  # /dev/zero was read until memory ran out
        with pytest.raises(ImportFileError) as found:
            import_variants(store, workspace, write(tmp_path, name), actor="t", check=check_constraints)
        assert f"pictures.jsonl:1: slots.picture: '{name}' is not a file" in found.value.message


def test_a_file_that_is_not_a_picture_is_refused_by_line(workspace, store, tmp_path) -> None:
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImportFileError) as found:
        import_variants(store, workspace, write(tmp_path, "notes.png"), actor="t", check=check_constraints)
    assert "pictures.jsonl:1: slots.picture: 'notes.png' is not a picture (PNG, JPEG or WebP)" in found.value.message


def test_a_picture_of_the_wrong_size_is_kept_for_review_but_fails_its_check(workspace, store, tmp_path) -> None:
    (tmp_path / "square.png").write_bytes(png((1024, 1024)))
    summary = import_variants(store, workspace, write(tmp_path, "square.png"), actor="t", check=check_constraints)
    assert summary.failed == 1
    with store.sessions() as session:
        row = session.query(VariantRow).one()
    assert row.status == "guardrail_failed" and row.slots["picture"].startswith("image:")
    said = row.report["slots"]["picture"][0]["message"]
    assert said == "is 1024x1024 (aspect 1.00); the slot asks for 1536x1024 (aspect 1.50)"
    digest = row.slots["picture"][6:70]
    assert sorted(image_names(store, digest)) == sorted(
        [f"{digest}.png"] + [f"{digest}-{w}.{e}" for w in (480, 960, 1024) for e in ("png", "webp")]
    )


def test_a_good_picture_passes_and_a_blank_one_does_not(workspace, store, tmp_path) -> None:
    (tmp_path / "hero.png").write_bytes(png((1536, 1024)))
    summary = import_variants(store, workspace, write(tmp_path, "hero.png"), actor="t", check=check_constraints)
    assert (summary.pending, summary.failed) == (1, 0)
    (tmp_path / "grey.png").write_bytes(png((1536, 1024), (128, 128, 128)))
    summary = import_variants(store, workspace, write(tmp_path, "grey.png"), actor="t", check=check_constraints)
    assert summary.failed == 1 and "is blank or nearly" in summary.failures[0]


def test_an_imported_picture_that_says_buy_now_fails_as_a_generated_one_would(workspace, store, tmp_path) -> None:
    """OCR reads imported pictures too: text where the module allows none is not approved on import."""
    (tmp_path / "sale.png").write_bytes(draw_picture("text", "1536x1024", 1))
    path = write(tmp_path, "sale.png")
    summary = import_variants(store, workspace, path, actor="t", check=check_constraints, approve=True)
    assert (summary.failed, summary.approved) == (1, 0)
    with store.sessions() as session:
        row = session.query(VariantRow).one()
    said = [f["message"] for f in row.report["slots"]["picture"]]
    assert row.status == "guardrail_failed" and len(said) == 1
    assert said[0].startswith("text in the picture where the module allows none: ") and "BUY NOW" in said[0].upper()


def test_text_a_module_allows_in_an_imported_picture_goes_through_the_policy_and_brand(
    workspace_dir, store, tmp_path
) -> None:
    from variantly.authoring.policy_checks import BuiltInChecker
    from variantly.workspace import load_workspace

    module = workspace_dir / "modules" / "hero_image.jinja"
    module.write_text(module.read_text().replace("widths: [480, 960]", "widths: [480, 960]\n      allow_text: true"))
    workspace = load_workspace(workspace_dir)
    (tmp_path / "sale.png").write_bytes(draw_picture("text", "1536x1024", 1))
    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)
    summary = import_variants(store, workspace, write(tmp_path, "sale.png"), actor="t", check=checker.check)
    assert summary.failed == 1
    with store.sessions() as session:
        row = session.query(VariantRow).one()
    said = [f["message"] for f in row.report["slots"]["picture"]]
    assert "text in the picture 'BUY NOW 50% OFF': banned phrase 'buy now'" in said
    assert any(m.startswith("text in the picture 'BUY NOW 50% OFF': brand guideline") for m in said)
    assert row.report["slots"]["alt"] == [] and row.report["slots"]["caption"] == []  # the line's own words pass


def test_where_ocr_cannot_run_an_imported_picture_waits_for_a_person(workspace, store, tmp_path, monkeypatch) -> None:
    from variantly.authoring import picture_text

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # as if the package (or libGL) were missing
    monkeypatch.setattr(picture_text, "_OCR", threading.local())  # no engine loaded in this thread yet
    monkeypatch.setattr(picture_text, "_IMPORTED", {})  # nor the text of this file read before
    (tmp_path / "hero.png").write_bytes(png((1536, 1024)))
    path = write(tmp_path, "hero.png")
    summary = import_variants(store, workspace, path, actor="t", check=check_constraints, approve=True)
    assert (summary.failed, summary.approved) == (1, 0)
    assert "picture: the text in it could not be read here (ModuleNotFoundError" in summary.failures[0]


def test_a_policy_change_pulls_an_approved_picture_whose_text_it_now_refuses(workspace_dir, store, tmp_path) -> None:
    from variantly.authoring.pictures import keep_picture
    from variantly.authoring.policy_checks import BuiltInChecker
    from variantly.authoring.report import CheckReport, GenerationRecord, PictureRecord, VariantReport
    from variantly.authoring.review import recheck_policy
    from variantly.store.variants import add_variant, history
    from variantly.workspace import load_workspace

    workspace = load_workspace(workspace_dir)
    ref = keep_picture(store, png((1536, 1024)), [480, 960])
    made = PictureRecord(prompt="p", model="gpt-image-1-mini", moderated=True, text="Spring sale at the till",
                         text_read=True)  # fmt: skip
    report = VariantReport(check=CheckReport.of({}, workspace.policy_hash),
                           generation=GenerationRecord(run_id="r", picture=made))  # fmt: skip
    row = VariantRow(id="v-pic", module_id="hero_image", cohort_key="industry=retail;segment=*;locale=en", locale="en",
                     slots={"picture": str(ref), "alt": ALT, "caption": "Order history at hand."}, status="approved",
                     module_hash=workspace.modules["hero_image"].content_hash, policy_hash=workspace.policy_hash,
                     source="generated", report=report.stored())  # fmt: skip
    add_variant(store, row, actor="t")
    policy = workspace_dir / "guardrails" / "policy.yml"
    policy.write_text(policy.read_text().replace("  - buy now\n", "  - buy now\n  - spring sale\n"))
    changed = load_workspace(workspace_dir)
    assert recheck_policy(store, changed, BuiltInChecker(changed.policy, changed.policy_hash).check_slots) == ["v-pic"]
    last = history(store, "v-pic")[-1]
    assert last.action == "policy_recheck"
    assert "text in the picture 'Spring sale at the till': banned phrase 'spring sale'" in last.reason


def bomb() -> bytes:
    """A PNG header claiming 20,000 x 20,000 pixels (400 MB decoded) in a few bytes: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_by_line_without_decoding_it(workspace, store, tmp_path) -> None:
    (tmp_path / "bomb.png").write_bytes(bomb())
    with pytest.raises(ImportFileError) as found:
        import_variants(store, workspace, write(tmp_path, "bomb.png"), actor="t", check=check_constraints)
    assert "slots.picture: 'bomb.png' is not a picture (PNG, JPEG or WebP) that can be read" in found.value.message
