"""The ``file_parser`` tool (Sim's File block): a file fetched from a URL on a local server,
its text extracted: PDF (pypdf), DOCX, CSV, plain text and HTML; errors name the file."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepweave.blocks.tool_block import run_tool_block
from stepweave.errors import BlockError, HttpStatusError
from stepweave.runtime.settings import Settings
from tests.fakeapi import FakeApi, fake_api


def _pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (Helvetica), with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1,
                                                                              xref)
    return bytes(out)


def _docx(*paragraphs: str) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
                f'openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body>'
                "</w:document>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApi]:
    with fake_api() as fake:
        yield fake


def _parse(server: FakeApi, path: str, tmp_path: Path, **params: object) -> dict[str, object]:
    return run_tool_block({"tool": "file_parser", "params": {"fileUrl": server.url + path,
                                                             **params}}, {},
                          settings=Settings(local_dir=tmp_path))


@pytest.mark.parametrize(("path", "body", "headers", "kind", "content"), [
    ("/files/invoice.pdf", _pdf("Invoice 42 total 99.50"), {"Content-Type": "application/pdf"},
     "application/pdf", "Invoice 42 total 99.50"),
    ("/files/download?id=7", _pdf("No extension"), {}, "application/pdf", "No extension"),
    ("/files/resume.docx", _docx("Ada Lovelace", "Analyst"), {},
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "Ada Lovelace\nAnalyst"),
    ("/files/leads.csv", b"name,email\nAda,ada@example.com\n", {"Content-Type": "text/csv"},
     "text/csv", "name,email\nAda,ada@example.com\n"),
    ("/files/notes.txt", "caf\u00e9 notes".encode(), {"Content-Type": "text/plain; charset=utf-8"},
     "text/plain", "caf\u00e9 notes"),
    ("/files/page.html", b"<html><style>p{}</style><p>Hello</p><p>World</p></html>",
     {"Content-Type": "text/html"}, "text/html", "Hello World"),
])
def test_a_files_text_is_extracted(server: FakeApi, tmp_path: Path, path: str, body: bytes,
                                   headers: dict[str, str], kind: str, content: str) -> None:
    server.reset({f"GET {path.split('?')[0]}": [(200, headers, body)]})
    out = _parse(server, path, tmp_path)
    (entry,) = out["files"]  # type: ignore[misc]
    assert entry["fileType"] == kind and entry["size"] == len(body) and not entry["binary"]
    assert entry["content"].strip() == content.strip()
    assert out["combinedContent"] == entry["content"]


def test_csv_metadata_and_an_unknown_binary(server: FakeApi, tmp_path: Path) -> None:
    server.reset({"GET /a.csv": [(200, {"Content-Type": "text/csv"}, b"a,b\n1,2\n3,4\n")],
                  "GET /blob": [(200, {}, b"\x00\x01\x02")]})
    assert _parse(server, "/a.csv", tmp_path)["files"][0]["metadata"] == {  # type: ignore[index]
        "rowCount": 3, "headers": ["a", "b"]}
    blob = _parse(server, "/blob", tmp_path)["files"][0]  # type: ignore[index]
    assert blob["binary"] is True and blob["content"] == ""


def test_failures_name_the_file(server: FakeApi, tmp_path: Path) -> None:
    server.reset({"GET /missing.pdf": [(404, {}, "nope")],
                  "GET /broken.pdf": [(200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 junk")],
                  "GET /big.txt": [(200, {}, b"x" * 100)]})
    with pytest.raises(HttpStatusError, match=r"GET /missing.pdf answered 404"):
        _parse(server, "/missing.pdf", tmp_path)
    with pytest.raises(BlockError, match=r"'broken.pdf' is not a readable PDF"):
        _parse(server, "/broken.pdf", tmp_path)
    with pytest.raises(BlockError, match=r"'big.txt' is 100 bytes, more than maxBytes \(10\)"):
        _parse(server, "/big.txt", tmp_path, maxBytes=10)
