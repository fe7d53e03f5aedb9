"""The handwritten-digits demo: 300 scanned digits of the UCI "Optical Recognition of
Handwritten Digits" data set, kept in `digits.csv.gz` next to this module (its source, licence
and how it was made are in README.md there), rendered to PNG with Pillow. Nothing is downloaded.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

DIGITS_PROJECT = "Handwritten digits"
DIGITS_FILE = Path(__file__).with_name("digits.csv.gz")
DIGITS_COUNT = 300
SCAN_SIDE = 8  # the data set's images are 8x8 counts of 0..16 ink pixels
SCAN_MAX = 16
DIGIT_SIZE = 128  # the PNG's side
DIGIT_INNER = 96  # the digit's side within it: 12 px per scanned pixel

DIGITS_INSTRUCTIONS = """\
## Which digit is this?

Each image is one handwritten digit, **0 to 9**, scanned at 8 by 8 pixels and enlarged, so the
strokes look blocky. Darker squares are ink.

1. Look at the whole shape, not single squares.
2. Press the digit's key (**0** to **9**), then **Enter** to submit.
3. Press **S** to skip only when the image is not a digit at all.

### Digits that are easy to confuse

| Looks like | Often confused with | Tell them apart by |
|---|---|---|
| 1 | 7 | a 7 has a clear bar across the top |
| 3 | 8 | an 8 is closed on the left side, twice |
| 4 | 9 | a 9 has a closed loop at the top; a 4 is open or angular |
| 5 | 6 | a 6 closes its lower loop; a 5 stays open on the left |

Some items have a known answer and are used to measure quality: label every item with the same
care.

*The images come from the UCI "Optical Recognition of Handwritten Digits" data set (E. Alpaydin
and C. Kaynak, 1998; CC BY 4.0).*
"""

DIGIT_LABELS = [
    {"value": str(d), "display_name": str(d), "color": color, "hotkey": str(d)}
    for d, color in enumerate(
        ["#4f6bed", "#2e9e5b", "#d64545", "#c98a1b", "#8b5cf6",
         "#0e9fb0", "#db5a9c", "#6b7a8f", "#a3702c", "#3c8d2f"]
    )
]  # fmt: skip


@dataclass(frozen=True)
class ScannedDigit:
    row: int  # the line of the data set's test file (optdigits.tes), from 0
    digit: int
    gold: bool  # one per digit is a gold item of the demo
    pixels: tuple[int, ...]  # SCAN_SIDE * SCAN_SIDE counts, row by row


def scanned_digits() -> Iterator[ScannedDigit]:
    """The demo's digits, in the order of their keys (digit-0001 first)."""
    with gzip.open(DIGITS_FILE, "rt", newline="") as lines:
        for record in csv.DictReader(lines):
            yield ScannedDigit(
                row=int(record["row"]),
                digit=int(record["digit"]),
                gold=record["demo_gold"] == "1",
                pixels=tuple(int(record[f"p{n}"]) for n in range(SCAN_SIDE * SCAN_SIDE)),
            )


def digit_png(pixels: tuple[int, ...]) -> bytes:
    """An 8x8 scan of 0..16 ink counts as a PNG: dark ink on light paper, each scanned pixel a
    square block (no blur), with a margin of paper around the digit."""
    ink = bytes(255 - round(count / SCAN_MAX * 255) for count in pixels)
    digit = Image.frombytes("L", (SCAN_SIDE, SCAN_SIDE), ink).resize(
        (DIGIT_INNER, DIGIT_INNER), Image.Resampling.NEAREST
    )
    paper = Image.new("L", (DIGIT_SIZE, DIGIT_SIZE), color=255)
    offset = (DIGIT_SIZE - DIGIT_INNER) // 2
    paper.paste(digit, (offset, offset))
    png = io.BytesIO()
    paper.save(png, format="PNG", optimize=True)
    return png.getvalue()


def digits_zip() -> bytes:
    """A ZIP of the demo's digit PNGs and a manifest.jsonl that names each file's key and, for
    the gold items, the true digit."""
    buffer = io.BytesIO()
    manifest: list[str] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for position, scan in enumerate(scanned_digits(), start=1):
            key = f"digit-{position:04d}"
            filename = f"images/{key}.png"
            archive.writestr(filename, digit_png(scan.pixels))
            row: dict[str, Any] = {"file": filename, "key": key, "optdigits_row": scan.row}
            if scan.gold:
                row["gold"] = str(scan.digit)
            manifest.append(json.dumps(row))
        archive.writestr("manifest.jsonl", "\n".join(manifest) + "\n")
    return buffer.getvalue()
