"""Rows as JSON, a batch at a time: each row's canonical JSON (what its `row_hash` hashes) and
its JSON Lines line, built column by column by pyarrow rather than row by row in Python.

Every column becomes the JSON text of each of its values (`fragments`), exactly as Python's
`json.dumps(..., ensure_ascii=False)` writes them:
- a string: quoted as it is, unless it holds a quote, a backslash or a control character
  (then orjson escapes it, as json does; tests/exports/test_writers.py checks they agree);
- a float: Python's own `repr` (which is what json writes);
- an integer or a boolean: pyarrow's decimal text, or true/false;
- a list of ids or of label values: joined inside brackets (label values are letters, digits,
  '_', '-' and '.', which need no escaping);
- null: null.
A row's JSON is then the keys' texts and its values' texts joined in key order (sorted for the
canonical JSON, column order for a line), and its hash is taken over its bytes in place. What
stays per row in Python is one sha256.

`exports.specs.canonical_json(row)` is the definition; this is the same bytes, faster.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _quoted(values: pa.Array) -> pa.Array:
    """JSON strings of a string array."""
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    risky = pc.fill_null(pc.match_substring_regex(values, NEEDS_ESCAPE), False)
    if pc.any(risky).as_py():
        escaped = [orjson.dumps(text).decode() for text in pc.filter(values, risky).to_pylist()]
        quoted = pc.replace_with_mask(quoted, risky, pa.array(escaped, pa.string()))
    return quoted


def _float_text(value: float) -> str:
    return float.__repr__(value) if math.isfinite(value) else json.dumps(value)


def fragments(values: pa.Array | Sequence[object], arrow_type: pa.DataType) -> pa.Array:
    """The JSON text of each value of a column (the module says how), as a string array."""
    if pa.types.is_floating(arrow_type):
        # From the Python floats: their repr is json's text for them.
        floats = values.to_pylist() if isinstance(values, pa.Array) else values
        texts = [None if v is None else _float_text(v) for v in floats]  # type: ignore[arg-type]
        return pc.fill_null(pa.array(texts, pa.string()), "null")
    array = values if isinstance(values, pa.Array) else pa.array(values, arrow_type)
    if pa.types.is_string(arrow_type):
        text = _quoted(array)
    elif pa.types.is_boolean(arrow_type):
        text = pc.if_else(array, "true", "false")
    elif pa.types.is_integer(arrow_type):
        text = pc.cast(array, pa.string())
    elif pa.types.is_list(arrow_type) and pa.types.is_integer(arrow_type.value_type):
        joined = pc.binary_join(pc.cast(array, pa.list_(pa.string())), ",")
        text = pc.binary_join_element_wise("[", joined, "]", "")
    elif pa.types.is_list(arrow_type) and pa.types.is_string(arrow_type.value_type):
        joined = pc.binary_join_element_wise('["', pc.binary_join(array, '","'), '"]', "")
        empty = pc.equal(pc.list_value_length(array), 0)
        text = pc.if_else(empty, pa.scalar("[]"), joined)
    else:
        raise TypeError(f"No JSON text for {arrow_type}")
    return pc.fill_null(text, "null")


def objects(columns: Sequence[tuple[str, pa.Array]], *, end: str = "}") -> pa.Array:
    """One JSON object per row of `columns` (name, fragments), keys in the order given."""
    parts: list[pa.Array | str] = []
    for n, (name, texts) in enumerate(columns):
        key = json.dumps(name, ensure_ascii=False)
        parts += [("{" if n == 0 else ",") + key + ":", texts]
    return pc.binary_join_element_wise(*parts, end, "")


def _offsets_and_data(array: pa.Array) -> tuple[np.ndarray, memoryview]:
    array = pa.concat_arrays([array]) if array.offset else array  # offsets from 0
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[: len(array) + 1]
    return offsets, memoryview(array.buffers()[2])


def sha256_hex(array: pa.Array) -> bytes:
    """The sha256 of each string, as the concatenation of their hex digests (64 characters
    each): the Arrow column of row hashes and, hashed whole, the content hash."""
    if len(array) == 0:
        return b""
    offsets, data = _offsets_and_data(array)
    bounds = offsets.tolist()
    sha256 = hashlib.sha256
    digests = b"".join([sha256(data[a:b]).digest() for a, b in itertools.pairwise(bounds)])
    return digests.hex().encode()


def hex_strings(hexes: bytes) -> pa.Array:
    """The concatenated 64-character hex digests as a string array, without copying them."""
    n = len(hexes) // 64
    offsets = np.arange(0, 64 * (n + 1), 64, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(hexes))


def joined_bytes(array: pa.Array) -> memoryview:
    """The bytes of all the strings of an array, one after another (no separator)."""
    if len(array) == 0:
        return memoryview(b"")
    offsets, data = _offsets_and_data(array)
    return data[int(offsets[0]) : int(offsets[-1])]
