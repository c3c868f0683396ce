"""Reading users' text files: UTF-8 or a clear error that says where the bad byte is; CSV with room for long texts."""
from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import Iterator

from zoo.errors import DataError

# One CSV field may hold a long document (a review, an article): 16 Mi characters is a book, far above the
# csv module's default of 128 Ki. A field larger still is almost always an unclosed quote that swallowed the
# rest of the file, which the limit turns into an error instead of one giant text.
CSV_FIELD_LIMIT = 16 * 1024 * 1024


class NotUTF8Error(DataError):
    """A text file with bytes that are not UTF-8."""


def not_utf8(path: Path) -> NotUTF8Error:
    """The error for `path`, which failed to decode: it names the first bad byte's offset and line.

    A streaming decoder's UnicodeDecodeError counts from the start of its current chunk, not of the file, so the
    file is decoded once more as a whole to place the byte."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
        where = "somewhere"  # unreachable unless the file changed since the first read
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        where = f"at byte offset {err.start} (line {line}: byte {data[err.start:err.end].hex(' ')}, {err.reason})"
    return NotUTF8Error(
        f"{path} is not UTF-8 text: the first byte that is not valid UTF-8 is {where}. zoo reads text files as "
        f"UTF-8; re-encode the file, e.g. `iconv -f latin1 -t utf-8 {path} > fixed{Path(path).suffix}` (use the "
        "file's real encoding in place of latin1: cp1252, utf-16, ...), and pass the new file.")


def read_utf8(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise not_utf8(path) from None


@contextlib.contextmanager
def csv_rows(path: Path) -> Iterator[Iterator[list[str]]]:
    """The rows of a UTF-8 CSV file; bad bytes and oversized fields end as DataErrors that name the file and line.
    The csv module's field limit is process-wide, so it is raised only while this file is read."""
    previous = csv.field_size_limit(max(CSV_FIELD_LIMIT, csv.field_size_limit()))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)

            def rows():
                done = 0  # the last line of the last whole row: a bad row starts after it
                try:
                    for row in reader:
                        done = reader.line_num
                        yield row
                except UnicodeDecodeError:
                    raise not_utf8(path) from None
                except csv.Error as err:
                    if "field larger than field limit" in str(err):
                        raise DataError(
                            f"{path}: a field of the row that starts on line {done + 1} is longer than "
                            f"{CSV_FIELD_LIMIT:,} characters. A field this long is almost always a quote (\") opened "
                            "and never closed, which takes in the rest of the file; close the quote (or double each "
                            "\" inside a quoted text, as CSV requires), or cut the text down.") from None
                    raise DataError(f"{path}: the row that starts on line {done + 1} is not valid CSV ({err}); fix "
                                    "it, or write the file again with a CSV writer (pandas .to_csv, Python's csv).") \
                        from None

            yield rows()
    finally:
        csv.field_size_limit(previous)
