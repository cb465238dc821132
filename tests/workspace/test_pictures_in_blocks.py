"""A picture as the workspace and the render path see it: named by its content, shown with a srcset on a page and by
one absolute URL in an email, the module's asset until a picture is approved; lint names what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from variantly.workspace.blocks import picture_context
from variantly.workspace.channels import CHANNELS
from variantly.workspace.images import PictureRef
from variantly.workspace.loader import load_workspace

DIGEST = "ab" * 32
REF = f"image:{DIGEST}.png@1536x1024"


def test_a_picture_is_named_by_its_content_hash_format_and_size() -> None:
    ref = PictureRef.parse(REF)
    assert ref == PictureRef(DIGEST, "png", 1536, 1024) and str(ref) == REF
    assert ref.path() == f"/assets/{DIGEST}.png" and ref.path(480, "webp") == f"/assets/{DIGEST}-480.webp"
    assert ref.widths([480, 960, 2048]) == [480, 960, 1536] and ref.height_at(480) == 320
    assert PictureRef.parse("team_dashboard") is None and PictureRef.parse(f"image:{DIGEST}.gif@1x1") is None


def test_a_page_gets_a_webp_srcset_a_fallback_srcset_and_the_pictures_size(workspace) -> None:
    module = workspace.modules["hero_image"].module
    spec = module.slots["picture"].image
    shown = picture_context(workspace, module, spec, REF, CHANNELS["web"])
    assert shown["generated"] and (shown["width"], shown["height"]) == (1536, 1024)
    assert shown["webp_srcset"] == (
        f"/assets/{DIGEST}-480.webp 480w, /assets/{DIGEST}-960.webp 960w, /assets/{DIGEST}-1536.webp 1536w"
    )
    assert shown["srcset"].startswith(f"/assets/{DIGEST}-480.png 480w") and shown["src"].endswith("-1536.png")


def test_an_email_gets_one_absolute_url_in_a_format_every_client_shows(workspace_dir: Path) -> None:
    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text() + "\nimages:\n  public_base_url: https://cdn.lumen.example/\n")
    workspace = load_workspace(workspace_dir)
    module = workspace.modules["hero_image"].module
    shown = picture_context(workspace, module, module.slots["picture"].image, REF, CHANNELS["email"])
    assert shown["src"] == f"https://cdn.lumen.example/assets/{DIGEST}-960.png"  # the first copy >= 600 px wide
    assert (shown["width"], shown["height"]) == (600, 400) and shown["srcset"] == ""


def test_until_a_picture_is_approved_the_modules_asset_is_shown(workspace) -> None:
    module = workspace.modules["hero_image"].module
    shown = picture_context(workspace, module, module.slots["picture"].image, "store_floor", CHANNELS["web"])
    assert not shown["generated"] and shown["src"] == "/assets/store_floor.svg"
    assert shown["description"].startswith("A shop floor")


WIDTHS = "widths: [480, 960]"


@pytest.mark.parametrize(
    ("original", "replacement", "message"),
    [
        (
            "alt_slot: alt",
            "alt_slot: caption_text",
            "names 'caption_text' as its alt text: add a text slot of that name",
        ),
        (
            WIDTHS,
            WIDTHS + "\n      references: [logo.png]",
            "reference 'logo.png' is not one of the module's asset files",
        ),
        (WIDTHS, WIDTHS + "\n      references: [team_dashboard.svg]", "must be a PNG, JPEG or WebP file"),
    ],
)
def test_lint_names_a_missing_alt_slot_and_references_the_image_model_cannot_take(
    workspace_dir: Path, original: str, replacement: str, message: str
) -> None:
    path = workspace_dir / "modules" / "hero_image.jinja"
    path.write_text(path.read_text().replace(original, replacement))
    with pytest.raises(Exception) as found:
        load_workspace(workspace_dir)
    assert message in str(found.value) and "hero_image.jinja:" in str(found.value)


def test_a_picture_sent_by_email_needs_a_public_base_url(workspace_dir: Path) -> None:
    path = workspace_dir / "modules" / "hero_image.jinja"
    text = path.read_text().replace("channels: [web]", "channels: [web, email]")
    text += '{% block email_html %}<img src="{{ picture.src }}" alt="{{ slots.alt }}">{% endblock %}\n'
    text += "{% block email_text %}{{ slots.caption }}{% endblock %}\n"
    path.write_text(text)
    with pytest.raises(Exception) as found:
        load_workspace(workspace_dir)
    assert "a picture sent by email needs an absolute URL: set images.public_base_url" in str(found.value)
    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text() + "\nimages:\n  public_base_url: https://cdn.lumen.example\n")
    assert load_workspace(workspace_dir).modules["hero_image"].module.channels == ["web", "email"]
