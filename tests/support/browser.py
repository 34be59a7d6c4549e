"""Real headless Chromium for the HTML report tests, and a PNG decoder to look at its screenshots.

Chromium comes from Debian's packages (`chromium`, `chromium-driver`; `.ci/run` installs them).
It is driven with its own command line, no pip dependency: `--dump-dom` prints the DOM after
the page's scripts ran, `--screenshot` writes a PNG of the window. Each run gets a private
`--user-data-dir` in a temp dir, runs in its own process group, and is killed (the whole
group) in a `finally`, also after a timeout. As root, Chromium needs `--no-sandbox`.

Without chromium the tests skip with a reason, unless PFCHECK_REQUIRE_BROWSER=1 (set by
`.ci/run`), which makes them fail instead.
"""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

import pytest

TIMEOUT = 90


def chromium() -> str:
    """The chromium binary; skips (or fails under PFCHECK_REQUIRE_BROWSER=1) when absent."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("PFCHECK_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium not found, and PFCHECK_REQUIRE_BROWSER=1 (apt-get install chromium chromium-driver)")
    pytest.skip("chromium not installed (Debian: apt-get install chromium chromium-driver)")


def _run(arguments: list[str]) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="pfcheck-chromium-") as profile:
        command = [chromium(), "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
                   "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={profile}", *arguments]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                   env={**os.environ, "HOME": profile})
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # its renderer and GPU helper processes too
            except ProcessLookupError:
                pass
            process.wait()
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def dump_dom(page: Path) -> str:
    """The DOM of `page` after its scripts ran, as Chromium serializes it."""
    completed = _run(["--dump-dom", page.resolve().as_uri()])
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")[-2000:]
    return completed.stdout.decode("utf-8")


def screenshot(page: Path, out: Path, width: int, height: int) -> bytes:
    """A PNG of `page` in a `width` x `height` window."""
    completed = _run([f"--screenshot={out}", f"--window-size={width},{height}", page.resolve().as_uri()])
    assert completed.returncode == 0 and out.exists(), completed.stderr.decode(errors="replace")[-2000:]
    return out.read_bytes()


# --- PNG --------------------------------------------------------------------------------------


@dataclass
class Image:
    width: int
    height: int
    #: One tuple of (r, g, b) per pixel, row by row.
    pixels: list[tuple[int, int, int]]

    def colours(self) -> set[tuple[int, int, int]]:
        return set(self.pixels)


def decode_png(data: bytes) -> Image:
    """An 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) decoded with zlib: the
    chunks are checked (CRC), the scanlines unfiltered (PNG filter types 0-4)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        offset += 12 + length
    assert header is not None, "no IHDR chunk"
    width, height, depth, colour_type, _compression, _filter, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    position = 0
    for _row in range(height):
        kind = raw[position]
        line = bytearray(raw[position + 1:position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                line[i] = (line[i] + predictor) & 0xFF
        pixels += [tuple(line[i:i + 3]) for i in range(0, stride, channels)]  # type: ignore[misc]
        previous = line
    return Image(width, height, pixels)


# --- the DOM as the tests read it ---------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attributes: dict[str, Optional[str]]
    text: str = ""
    children: "list[Element]" = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.children = self.children or []

    def find_all(self, tag: str, **attributes: str) -> "list[Element]":
        found = []
        for child in self.children:
            if child.tag == tag and all(attributes[k] in (child.attributes.get(k) or "").split()
                                        if k == "class" else child.attributes.get(k) == attributes[k]
                                        for k in attributes):
                found.append(child)
            found += child.find_all(tag, **attributes)
        return found

    def first(self, tag: str, **attributes: str) -> "Element":
        found = self.find_all(tag, **attributes)
        assert found, f"no <{tag} {attributes}>"
        return found[0]

    def all_text(self) -> str:
        # A line break, or a detail span (displayed as a block), separates words as on screen.
        return self.text + "".join((" " if child.tag in ("br", "span") else "") + child.all_text() + child.tail
                                   for child in self.children)

    tail: str = ""


_VOID = {"meta", "link", "br", "input", "img", "hr", "wbr", "col", "area", "base", "source"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        parent = self.stack[-1]
        if parent.children:
            parent.children[-1].tail += data
        else:
            parent.text += data


def parse_dom(markup: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def listener_rows(document: Element) -> list[dict[str, str]]:
    """The hosts x listeners table, one {column class: cell text} per row."""
    table = document.first("table", id="listener-table")
    rows = []
    for row in table.first("tbody").find_all("tr"):
        cells = {}
        for cell in row.find_all("td"):
            name = (cell.attributes.get("class") or "").split()[0]
            cells[name] = " ".join(cell.all_text().split())
        cells["data-relay"] = row.attributes.get("data-relay") or ""
        rows.append(cells)
    return rows


def counts(document: Element) -> dict[str, int]:
    """The summary's counts, by their data-count key."""
    return {item.attributes["data-count"] or "": int(item.first("b").all_text())
            for item in document.first("ul", **{"class": "counts"}).find_all("li")}
