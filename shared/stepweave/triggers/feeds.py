"""RSS and Atom feeds read safely: the items of a feed as Sim's RSS trigger outputs them.

The XML is parsed with the standard library's expat, the way ``defusedxml`` guards it: a
document that declares a DTD (``<!DOCTYPE``), an entity or an external reference is refused
before any entity could expand (no "billion laughs", no external entities, no network), and
it is refused above ``MAX_FEED_BYTES`` or ``MAX_ELEMENTS`` elements. RSS 0.9x/2.0, RSS 1.0
(RDF) and Atom 1.0 are read; ``content:encoded``, ``dc:creator`` and ``dc:date`` too.

Each item becomes ``{"item": {title, link, pubDate, guid, summary, description, content,
contentSnippet, author, categories, enclosure, isoDate}, "feed": {title, link,
feedDescription, description}}`` -- Sim's ``rss_poller`` outputs (``<rss.item.title>``),
with the names of Sim's payload as well -- and its id is the guid, else the link, else the
title with the date (Sim's rule).
"""

from __future__ import annotations

import html
import re
import xml.parsers.expat
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder

from stepweave.errors import StepweaveError

__all__ = ["MAX_ELEMENTS", "MAX_FEED_BYTES", "FeedError", "FeedItem", "parse_feed", "safe_xml"]

MAX_FEED_BYTES = 5 * 1024 * 1024
MAX_ELEMENTS = 100_000
_ATOM = "http://www.w3.org/2005/Atom"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_RSS1 = "http://purl.org/rss/1.0/"
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


class FeedError(StepweaveError):
    """The document is not a feed we read (or is refused as unsafe)."""


@dataclass(frozen=True)
class FeedItem:
    id: str
    output: dict[str, Any]
    date: datetime | None


def safe_xml(data: bytes) -> Element:
    """The document's root element; ``FeedError`` for a DTD, an entity declaration, an
    external reference, malformed XML or a document over the limits."""
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(f"the feed is over {MAX_FEED_BYTES} bytes")
    builder = TreeBuilder()
    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    count = [0]

    def refuse(*_: Any) -> None:
        raise FeedError("the feed declares a DTD or entities (refused: XML entity attacks)")

    def start(tag: str, attrs: dict[str, str]) -> None:
        count[0] += 1
        if count[0] > MAX_ELEMENTS:
            raise FeedError(f"the feed has over {MAX_ELEMENTS} elements")
        builder.start("{" + tag if "}" in tag else tag,
                      {("{" + k if "}" in k else k): v for k, v in attrs.items()})

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end("{" + tag if "}" in tag else tag)
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise FeedError(f"the feed is not well-formed XML ({exc})") from None
    return builder.close()


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _child(element: Element, *tags: str) -> Element | None:
    for tag in tags:
        found = element.find(tag)
        if found is not None:
            return found
    return None


def _snippet(markup: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", markup))).strip()[:2000]


def _date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") \
        if moment else ""


def _item_id(item: dict[str, Any]) -> str:
    if item["guid"]:
        return str(item["guid"])
    if item["link"]:
        return str(item["link"])
    return f"{item['title']}-{item['pubDate']}" if item["title"] and item["pubDate"] else ""


def _rss_item(node: Element, ns: str) -> dict[str, Any]:
    def get(*tags: str) -> str:
        return _text(_child(node, *tags))

    pub = get(f"{ns}pubDate", f"{{{_DC}}}date")
    description = get(f"{ns}description")
    content = get(f"{{{_CONTENT}}}encoded") or description
    enclosure = node.find(f"{ns}enclosure")
    return {
        "title": get(f"{ns}title"), "link": get(f"{ns}link") or node.get(
            "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", ""),
        "pubDate": pub, "guid": get(f"{ns}guid"),
        "summary": description, "description": description, "content": content,
        "contentSnippet": _snippet(content),
        "author": get(f"{{{_DC}}}creator", f"{ns}author"),
        "categories": [_text(c) for c in node.findall(f"{ns}category") if _text(c)]
        + [_text(c) for c in node.findall(f"{{{_DC}}}subject") if _text(c)],
        "enclosure": {k: enclosure.get(k, "") for k in ("url", "type", "length")}
        if enclosure is not None else None,
        "isoDate": _iso(_date(pub)),
    }


def _atom_item(node: Element) -> dict[str, Any]:
    a = f"{{{_ATOM}}}"
    links = node.findall(f"{a}link")
    link = next((x.get("href", "") for x in links if x.get("rel", "alternate") == "alternate"),
                links[0].get("href", "") if links else "")
    enclosure = next((x for x in links if x.get("rel") == "enclosure"), None)
    summary = _text(node.find(f"{a}summary"))
    content = _text(node.find(f"{a}content")) or summary
    pub = _text(_child(node, f"{a}published", f"{a}updated"))
    return {
        "title": _text(node.find(f"{a}title")), "link": link, "pubDate": pub,
        "guid": _text(node.find(f"{a}id")), "summary": summary, "description": summary,
        "content": content, "contentSnippet": _snippet(content),
        "author": _text(_child(node, f"{a}author/{a}name", f"{a}author")),
        "categories": [c.get("term", "") for c in node.findall(f"{a}category") if c.get("term")],
        "enclosure": {"url": enclosure.get("href", ""), "type": enclosure.get("type", ""),
                      "length": enclosure.get("length", "")} if enclosure is not None else None,
        "isoDate": _iso(_date(pub)),
    }


def parse_feed(data: bytes) -> list[FeedItem]:
    """The feed's items, oldest first (by date where every item has one, else the reverse
    of the document's order, feeds listing the newest first)."""
    root = safe_xml(data)
    a = f"{{{_ATOM}}}"
    if root.tag == f"{a}feed":
        feed = {"title": _text(root.find(f"{a}title")),
                "link": next((x.get("href", "") for x in root.findall(f"{a}link")
                              if x.get("rel", "alternate") == "alternate"), ""),
                "feedDescription": _text(root.find(f"{a}subtitle"))}
        raw = [_atom_item(e) for e in root.findall(f"{a}entry")]
    elif root.tag in ("rss", "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF"):
        ns = "" if root.tag == "rss" else f"{{{_RSS1}}}"
        channel = root.find(f"{ns}channel")
        if channel is None:
            raise FeedError("the RSS document has no <channel>")
        feed = {"title": _text(channel.find(f"{ns}title")), "link": _text(channel.find(f"{ns}link")),
                "feedDescription": _text(channel.find(f"{ns}description"))}
        nodes = channel.findall(f"{ns}item") if root.tag == "rss" else root.findall(f"{ns}item")
        raw = [_rss_item(e, ns) for e in nodes]
    else:
        raise FeedError(f"not an RSS or Atom feed (the root element is <{root.tag.split('}')[-1]}>)")
    feed["description"] = feed["feedDescription"]
    items = [FeedItem(_item_id(entry), {"item": entry, "feed": feed}, _date(entry["pubDate"]))
             for entry in reversed(raw)]
    items = [item for item in items if item.id]
    if items and all(item.date is not None for item in items):
        items.sort(key=lambda item: item.date or datetime.min.replace(tzinfo=UTC))
    return items
