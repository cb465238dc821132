"""Draw the example workspace's hero pictures offline, with Pillow, so `variantly demo` shows generated-style
pictures without an image model or a key. Run it again to redraw them: `python examples/draw_pictures.py`.

One picture per industry, 1536x1024 PNG as `modules/hero_image.jinja` declares: a person at a screen showing one
customer's record, in the industry's colours. No text in the pictures (the slot does not allow it).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent / "pictures"
SIZE = (1536, 1024)
PALETTES = {  # background, floor, accent, screen, skin, clothes
    "retail": ("#fbf1e6", "#e6d3bd", "#d6752c", "#e8edfb", "#f3c9a8", "#2747d6"),
    "financial_services": ("#eef2f7", "#cfd8e3", "#1d3b6f", "#e8edfb", "#c98e6b", "#3b8f6b"),
    "healthcare": ("#eaf6f3", "#c9e4dc", "#2f8f83", "#f4f8ff", "#8d5a3b", "#5b6bd6"),
}


def draw(industry: str) -> Image.Image:
    back, floor, accent, screen, skin, clothes = PALETTES[industry]
    image = Image.new("RGB", SIZE, back)
    d = ImageDraw.Draw(image)
    d.rectangle((0, 760, 1536, 1024), fill=floor)
    # a shelf, a desk or a care station: three blocks in the accent colour
    for i, height in enumerate((260, 340, 300)):
        x = 120 + i * 150
        d.rounded_rectangle((x, 760 - height, x + 110, 760), radius=18, fill=accent)
    # a person
    d.ellipse((820, 250, 980, 410), fill=skin)
    d.rounded_rectangle((780, 420, 1020, 760), radius=70, fill=clothes)
    # the screen with one customer's record: a portrait, lines of a timeline
    d.rounded_rectangle((1040, 380, 1440, 660), radius=24, fill="#1d2433")
    d.rounded_rectangle((1060, 400, 1420, 640), radius=12, fill=screen)
    d.ellipse((1085, 425, 1165, 505), fill=accent)
    for row, length in enumerate((220, 280, 180, 250)):
        y = 530 + row * 26
        d.rounded_rectangle((1085, y, 1085 + length, y + 12), radius=6, fill="#9aa6c4")
    d.rounded_rectangle((1190, 440, 1380, 460), radius=10, fill=clothes)
    return image


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name in PALETTES:
        draw(name).save(HERE / f"{name}.png", optimize=True)
        print(HERE / f"{name}.png")
