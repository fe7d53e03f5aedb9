"""Which split each row of a version goes to: by a hash of its item key and the spec's salt, so
that an item keeps its split from version to version, and with a test split that only grows.

    u = int.from_bytes(sha256(f"{salt}\\x00{item_key}".encode()).digest()[:8], "big") / 2**64

The item goes to the first split (in the spec's canonical order, `exports.specs`) whose
cumulative ratio exceeds u; the last split when rounding leaves the ratios' sum a hair under
u. A frozen test split (`freeze_test`) changes this against the parent version:
- an item in the parent's "test" split stays in "test";
- an item that was in the parent in another split never moves into "test": where its hash says
  "test", it takes a split among the others by its ratio renormalised: u's place within the
  test split's stretch of [0, 1), stretched back to [0, 1) (uniform again, and independent of
  the split the hash gave: laying u itself along the other splits would send all of these
  items to the last of them), laid along the non-test splits' cumulative ratios over their sum;
- an item new since the parent goes by its hash.
So evaluation sets grow as new items join them, and nothing a model trained on moves into them.
The parent's keys are read from its Parquet file, two columns, a row group at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exports.specs import TEST_SPLIT, DatasetSpec

TWO_TO_64 = float(2**64)


def split_positions(keys: Sequence[str], salt: str) -> np.ndarray:
    """Each key's u in [0, 1) (the module's formula), as float64: the first 8 bytes of every
    digest are read as big-endian unsigned integers at once."""
    prefix = hashlib.sha256(salt.encode() + b"\x00")
    digests = bytearray()
    for key in keys:
        hasher = prefix.copy()
        hasher.update(key.encode())
        digests += hasher.digest()[:8]
    # uint64 -> float64 rounds to nearest, and dividing by 2**64 is exact: the same float as
    # Python's correctly rounded int / 2**64.
    return np.frombuffer(bytes(digests), dtype=">u8").astype(np.float64) / TWO_TO_64


def _cumulative(ratios: Sequence[float]) -> np.ndarray:
    return np.cumsum(np.asarray(ratios, dtype=np.float64))


def _first_exceeding(cumulative: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Index of the first cumulative ratio that exceeds each position (the last one when none
    does, by rounding)."""
    found = np.searchsorted(cumulative, positions, side="right")
    return np.minimum(found, len(cumulative) - 1)


@dataclass(frozen=True)
class ParentSplits:
    """The keys of the parent version's rows: those in its test split, and all of them."""

    test_keys: frozenset[str]
    keys: pa.Array

    @classmethod
    def read(cls, source: str | IO[bytes]) -> ParentSplits:
        """From the parent's Parquet file (a path or an open binary file), reading only
        `item_key` and `split`, a row group at a time."""
        parquet = pq.ParquetFile(source)
        test: set[str] = set()
        chunks: list[pa.Array] = []
        for batch in parquet.iter_batches(columns=["item_key", "split"], batch_size=65_536):
            keys = batch.column(0)
            chunks.append(keys)
            test.update(pc.filter(keys, pc.equal(batch.column(1), TEST_SPLIT)).to_pylist())
        keys_all = pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
        return cls(test_keys=frozenset(test), keys=keys_all)


class Splitter:
    """Assigns the rows of a version to its splits, batch by batch (the module says how)."""

    def __init__(self, spec: DatasetSpec, parent: ParentSplits | None = None) -> None:
        self.salt = spec.salt
        self.names = np.asarray(spec.split_names, dtype=object)
        self.cumulative = _cumulative([ratio for _, ratio in spec.splits])
        self.parent = parent if spec.freeze_test and TEST_SPLIT in spec.split_names else None
        if self.parent is not None:
            self.test_index = spec.split_names.index(TEST_SPLIT)
            others = [(index, ratio) for index, (name, ratio) in enumerate(spec.splits)
                      if name != TEST_SPLIT]  # fmt: skip
            total = sum(ratio for _, ratio in others)
            self.other_indexes = np.asarray([index for index, _ in others])
            self.other_cumulative = _cumulative([ratio / total for _, ratio in others])
            self.test_low = float(self.cumulative[self.test_index - 1]) if self.test_index else 0.0
            self.test_width = float(self.cumulative[self.test_index]) - self.test_low

    def assign(self, keys: Sequence[str], positions: np.ndarray | None = None) -> list[str]:
        """The split of each key, in order; `positions`, when given, are the keys' u as the
        database computed them (exports.services.rows), else they are computed here."""
        if not keys:
            return []
        if positions is None:
            positions = split_positions(keys, self.salt)
        index = _first_exceeding(self.cumulative, positions)
        if self.parent is not None:
            index = self._frozen(keys, positions, index)
        return self.names[index].tolist()  # type: ignore[no-any-return]

    def _frozen(self, keys: Sequence[str], positions: np.ndarray, index: np.ndarray) -> np.ndarray:
        assert self.parent is not None
        test_keys = self.parent.test_keys
        kept = np.fromiter((key in test_keys for key in keys), dtype=bool, count=len(keys))
        index = np.where(kept, self.test_index, index)
        hashed_in = np.flatnonzero((index == self.test_index) & ~kept)
        if len(hashed_in) and len(self.parent.keys):
            candidates = pa.array([keys[i] for i in hashed_in.tolist()], self.parent.keys.type)
            # Which of them the parent had (in another split, since not in its test split):
            # the parent's keys are scanned against the few candidates, rather than a hash
            # table of a million parent keys built for every batch.
            was_there = set(
                pc.filter(
                    self.parent.keys, pc.is_in(self.parent.keys, value_set=candidates)
                ).to_pylist()
            )
            moved = np.fromiter(
                (keys[i] in was_there for i in hashed_in.tolist()), dtype=bool, count=len(hashed_in)
            )
            rows = hashed_in[moved]
            if len(rows):
                within = (positions[rows] - self.test_low) / self.test_width
                others = _first_exceeding(self.other_cumulative, np.clip(within, 0.0, 1.0))
                index[rows] = self.other_indexes[others]
        return index
