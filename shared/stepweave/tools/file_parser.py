"""The ``file_parser`` tool (Sim's File block, ``file_v3``): fetch a file from a URL and
extract its text. PDF through pypdf; DOCX by reading its WordprocessingML with the standard
library (python-docx would add lxml, a compiled dependency, to every handler for the same
text); CSV as rows; JSON, HTML, Markdown and plain text as text. Anything else is kept as
binary (``binary: true``, no content).

The output is Sim's: ``files`` (one ``{name, fileType, size, binary, content, metadata}``
per file) and ``combinedContent``. A file larger than ``maxBytes`` (default 25 MB) or that
cannot be read is a ``ToolError`` naming it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from pydantic import Field

from stepweave.tools.base import Tool, ToolContext, ToolError, ToolParams
from stepweave.tools.transport import RetryPolicy, Unreachable, send

__all__ = ["TOOL", "FileParserParams", "extract_text"]

_KINDS = {"pdf": "application/pdf", "docx": "application/vnd.openxmlformats-officedocument."
          "wordprocessingml.document", "csv": "text/csv", "json": "application/json",
          "html": "text/html", "md": "text/markdown", "txt": "text/plain"}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class FileParserParams(ToolParams):
    fileUrl: str = Field(min_length=1, description="the file's URL (http or https)")
    fileType: str | None = Field(default=None, description="pdf, docx, csv, json, html, md or "
                                 "txt (default: from the answer's type or the URL)")
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    maxBytes: int = Field(default=25_000_000, ge=1, le=100_000_000)


def _kind(declared: str | None, content_type: str, url: str, data: bytes) -> str:
    if declared:
        return declared.lower().lstrip(".")
    if data.startswith(b"%PDF"):
        return "pdf"
    mime = content_type.split(";")[0].strip().lower()
    for kind, known in _KINDS.items():
        if mime == known:
            return kind
    suffix = urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path else ""
    if suffix in _KINDS or suffix in ("htm", "markdown", "text"):
        return {"htm": "html", "markdown": "md", "text": "txt"}.get(suffix, suffix)
    if data.startswith(b"PK") and b"word/document.xml" in data[:4096]:
        return "docx"
    if mime.startswith("text/"):
        return "txt"
    return "binary"


def _pdf(data: bytes) -> tuple[str, dict[str, Any]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a readable PDF ({type(exc).__name__})") from None
    return "\n\n".join(p.strip() for p in pages).strip(), {"pageCount": len(pages)}


def _docx(data: bytes) -> tuple[str, dict[str, Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = ElementTree.fromstring(archive.read("word/document.xml"))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        raise ValueError("not a readable DOCX") from None
    paragraphs = []
    for paragraph in root.iter(f"{_W}p"):
        parts = []
        for node in paragraph.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag == f"{_W}tab":
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs).strip(), {"paragraphCount": len(paragraphs)}


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")  # pragma: no cover - latin-1 decodes any bytes


def extract_text(kind: str, data: bytes) -> tuple[str, dict[str, Any]]:
    """The text of a file of ``kind`` and metadata about it; ``ValueError`` if unreadable."""
    if kind == "pdf":
        return _pdf(data)
    if kind == "docx":
        return _docx(data)
    text = _text(data)
    if kind == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        return text, {"rowCount": len(rows), "headers": rows[0] if rows else []}
    if kind == "json":
        try:
            json.loads(text)
        except ValueError:
            raise ValueError("not valid JSON") from None
    if kind == "html":
        stripped = re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text))
        lines = (re.sub(r"[ \t\r]+", " ", line).strip() for line in stripped.split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), {}
    return text, {}


def run_file_parser(params: FileParserParams, ctx: ToolContext) -> dict[str, Any]:
    import httpx

    url = params.fileUrl.strip()
    if urlsplit(url).scheme not in ("http", "https"):
        raise ToolError("file_parser tool: 'fileUrl' must be an http(s) URL")
    try:
        with httpx.Client(transport=ctx.transport, follow_redirects=True) as client:
            response = send(client, "GET", url, policy=RetryPolicy(retries=2, timeout_s=60),
                            headers=params.headers, sleep=ctx.sleep)
    except Unreachable as exc:
        raise ToolError(f"file_parser tool: no answer from {urlsplit(url).netloc} "
                        f"({exc.kind})") from None
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"
    if not 200 <= response.status_code < 300:
        raise ToolError(f"file_parser tool: GET {urlsplit(url).path or '/'} answered "
                        f"{response.status_code}: {response.reason_phrase}")
    data = response.content
    if len(data) > params.maxBytes:
        raise ToolError(f"file_parser tool: '{name}' is {len(data)} bytes, more than "
                        f"maxBytes ({params.maxBytes})")
    kind = _kind(params.fileType, response.headers.get("content-type", ""), url, data)
    entry: dict[str, Any] = {"name": name, "fileType": _KINDS.get(kind, kind), "size": len(data),
                             "binary": kind == "binary", "url": url}
    if kind == "binary":
        entry.update(content="", metadata={})
    else:
        try:
            content, metadata = extract_text(kind, data)
        except ValueError as exc:
            raise ToolError(f"file_parser tool: '{name}' is {exc}") from None
        entry.update(content=content, metadata=metadata)
    return {"files": [entry], "combinedContent": entry["content"]}


TOOL = Tool(
    name="file_parser",
    description="Fetch a file from a URL and extract its text (PDF, DOCX, CSV, JSON, HTML, text).",
    params=FileParserParams,
    output_schema={"type": "object", "properties": {
        "files": {"type": "array"}, "combinedContent": {"type": "string"}}},
    run=run_file_parser,
    sim_types=("file_v2", "file_v3", "file_parser", "file_parser_v2", "file_parser_v3"),
    sim_operations=(("file_v3", "file_parser_v3"), ("file_v4", "file_fetch"),
                    ("file_v2", "file_parser_v2")),
    sim_params=(("fileUrl", "fileUrl"), ("filePath", "fileUrl")),
    model_params=("fileUrl", "fileType"),
)
