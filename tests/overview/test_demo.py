"""The demo's content: the vendored digits render exactly as they did when they were drawn from
scikit-learn's copy of the data set."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter

from PIL import Image

from overview.demo.digits import DIGITS_COUNT, digits_zip, scanned_digits

# sha256 over the names and bytes of the 300 PNGs (in name order) as the demo rendered them from
# `sklearn.datasets.load_digits()` before the selection was vendored.
PNGS_AS_BEFORE = "cdea8a814e8b6b64234312fe71366f5f589a65d45c90b1378ee141751fffded2"


def test_the_vendored_digits_are_thirty_of_each_with_one_gold_each() -> None:
    scans = list(scanned_digits())
    assert len(scans) == DIGITS_COUNT
    assert Counter(scan.digit for scan in scans) == {digit: 30 for digit in range(10)}
    assert sorted(scan.digit for scan in scans if scan.gold) == list(range(10))
    assert len({scan.row for scan in scans}) == DIGITS_COUNT
    assert all(len(scan.pixels) == 64 and 0 <= min(scan.pixels) <= max(scan.pixels) <= 16
               for scan in scans)  # fmt: skip


def test_the_digits_render_byte_for_byte_as_before() -> None:
    archive = zipfile.ZipFile(io.BytesIO(digits_zip()))
    pngs = sorted(name for name in archive.namelist() if name.endswith(".png"))
    digest = hashlib.sha256()
    for name in pngs:
        digest.update(name.encode())
        digest.update(archive.read(name))
    assert len(pngs) == DIGITS_COUNT
    assert digest.hexdigest() == PNGS_AS_BEFORE
    first = Image.open(io.BytesIO(archive.read("images/digit-0001.png")))
    assert (first.format, first.size, first.mode) == ("PNG", (128, 128), "L")
    manifest = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
    assert manifest[0] == {"file": "images/digit-0001.png", "key": "digit-0001",
                           "optdigits_row": 866}  # fmt: skip
    assert sum("gold" in row for row in manifest) == 10
