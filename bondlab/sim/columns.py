"""Compact storage for what a long run keeps per stats interval and per frame.

A row tuple of Python objects costs ~400 bytes (the tuple and a float object per field); the same
row in typed columns costs ~8 bytes a field. `Columns` takes rows as the sender loop appends them
(`append(tuple)`), buffers a block and moves it into one typed array per column, and gives back
what a list of those tuples would have given: the rows (`len`, iteration) and, at the end, the
columns as pandas infers them from lists (`as_columns`), so the DataFrame and the files are the
same. A column that meets a value its array cannot hold exactly (or that pandas would read
differently, like a bool among numbers) is kept as a plain list from then on.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

BLOCK = 512

_FLOAT, _INT, _BOOL, _LIST = "d", "q", "b", "list"
NoneType = type(None)
# The exact types a typed column takes (a subclass, e.g. numpy's float64, sends it to a list).
_TYPES = {_FLOAT: {float, NoneType}, _INT: {int}, _BOOL: {bool}}


def _kind(value: Any) -> str:
    if value is None or type(value) is float:
        return _FLOAT
    if type(value) is bool:
        return _BOOL
    if type(value) is int:
        return _INT
    return _LIST


class _Column:
    __slots__ = ("kind", "data", "nones", "has_value")

    def __init__(self) -> None:
        self.kind: str | None = None  # decided by the first value
        self.data: Any = None
        self.nones: list[int] = []  # rows holding None in a float column (stored as NaN)
        self.has_value = False  # a float column with at least one value that is not None

    def extend(self, values: Sequence[Any], offset: int) -> None:
        if self.kind is None:
            self.kind = _kind(values[0])
            self.data = [] if self.kind == _LIST else array(self.kind)
        kind = self.kind
        if kind == _LIST:
            self.data.extend(values)
            return
        types = set(map(type, values))
        if not types <= _TYPES[kind]:
            self._to_list()
            self.data.extend(values)
            return
        if kind == _FLOAT:
            if NoneType in types:
                self.nones.extend(offset + i for i, v in enumerate(values) if v is None)
                self.has_value = self.has_value or float in types
                values = [np.nan if v is None else v for v in values]
            else:
                self.has_value = True
            self.data.extend(values)
        else:
            try:
                self.data.extend(values)
            except OverflowError:  # an int beyond 64 bits
                self._to_list()
                self.data.extend(values)

    def _to_list(self) -> None:
        values = self.values()
        self.kind, self.data, self.nones = _LIST, values, []

    def values(self) -> list[Any]:
        """The column as the list of the objects appended (floats, ints, bools, None)."""
        if self.kind == _LIST or self.kind is None:
            return list(self.data or [])
        if self.kind == _BOOL:
            return [bool(v) for v in self.data]
        out = self.data.tolist()
        for i in self.nones:
            out[i] = None
        return out

    def value_at(self, i: int) -> Any:
        """values()[i], without building the list."""
        if self.kind == _BOOL:
            return bool(self.data[i])
        if self.kind == _FLOAT and i in self.nones:
            return None
        return self.data[i]

    def for_pandas(self) -> Any:
        """What pandas makes of values() (float64 with NaN for None, int64, bool), without the list."""
        if self.kind == _FLOAT and (self.has_value or not self.nones):
            return np.frombuffer(self.data, dtype=np.float64).copy()
        if self.kind == _INT:
            return np.frombuffer(self.data, dtype=np.int64).copy()
        if self.kind == _BOOL:
            return np.frombuffer(self.data, dtype=np.int8).astype(bool)
        return self.values()  # lists, and float columns of None only (pandas: object)


class Columns:
    """A list of equal-length row tuples, stored as typed columns (see the module doc).

    `append` is the buffer's own list.append (the hot path pays nothing extra); the owner calls
    `settle()` now and then to move full blocks into the columns (reads settle first).
    """

    def __init__(self, width: int | None = None) -> None:
        self._cols: list[_Column] = [] if width is None else [_Column() for _ in range(width)]
        self._stored = 0  # rows moved into the columns
        self._buf: list[tuple[Any, ...]] = []
        self.append = self._buf.append

    def settle(self) -> None:
        """Move the buffered rows into the columns once a block has gathered."""
        if len(self._buf) >= BLOCK:
            self._flush()

    def _flush(self) -> None:
        buf = self._buf
        if not buf:
            return
        if not self._cols:
            self._cols = [_Column() for _ in buf[0]]
        for col, values in zip(self._cols, zip(*buf), strict=True):
            col.extend(values, self._stored)
        self._stored += len(buf)
        buf.clear()  # the same list: `append` stays bound to it

    def __len__(self) -> int:
        return self._stored + len(self._buf)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        self._flush()
        return zip(*(col.values() for col in self._cols)) if self._cols else iter(())

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, int):
            return list(self)[index]  # a slice: rebuilds the rows
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError("row index out of range")
        if i >= self._stored:
            return self._buf[i - self._stored]
        return tuple(col.value_at(i) for col in self._cols)

    def as_columns(self, names: Sequence[str]) -> dict[str, Any]:
        """name -> column, for pd.DataFrame: the same frame as from the rows' lists."""
        self._flush()
        if not self._cols:
            return {name: [] for name in names}
        return {name: col.for_pandas() for name, col in zip(names, self._cols, strict=True)}
