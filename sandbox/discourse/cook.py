"""Raw -> cooked, the way Discourse's pipeline treats the raw we and its users send.

Discourse cooks Markdown and lets allow-listed inline HTML through (its sanitizer drops
``<script>``, event-handler attributes, ``javascript:`` links and HTML comments). This is
a small subset: blank-line paragraphs, ``**bold**``, ``*em*``, `` `code` ``, ``[text](url)``
links, and HTML blocks passed through the allow-list. Enough to tell raw from cooked and
to prove the client never trusts cooked HTML.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

ALLOWED_TAGS = {"p", "br", "b", "strong", "i", "em", "u", "s", "code", "pre", "blockquote", "ul", "ol", "li",
                "a", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "div", "span", "table", "thead", "tbody",
                "tr", "th", "td"}
ALLOWED_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}}
VOID_TAGS = {"br", "hr", "img"}
DROP_CONTENT = {"script", "style", "iframe", "object"}
SAFE_URL = re.compile(r"^(https?:|mailto:|/|#)", re.I)
BLOCK_START = re.compile(r"^\s*<(p|div|ul|ol|blockquote|pre|h[1-6]|table|hr)\b", re.I)
COMMENT = re.compile(r"<!--.*?-->", re.S)


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in DROP_CONTENT:
            self._skip += 1
            return
        if self._skip or tag not in ALLOWED_TAGS:
            return
        kept = []
        for name, value in attrs:
            if name not in ALLOWED_ATTRS.get(tag, set()) or value is None:
                continue
            if name in ("href", "src") and not SAFE_URL.match(value.strip()):
                continue
            kept.append(f' {name}="{html.escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")

    def handle_endtag(self, tag):
        if tag in DROP_CONTENT:
            self._skip = max(0, self._skip - 1)
            return
        if not self._skip and tag in ALLOWED_TAGS and tag not in VOID_TAGS:
            self.out.append(f"</{tag}>")

    def handle_data(self, data):
        if not self._skip:
            self.out.append(html.escape(data, quote=False))


def sanitize(fragment: str) -> str:
    parser = _Sanitizer()
    parser.feed(COMMENT.sub("", fragment))
    parser.close()
    return "".join(parser.out)


def _inline(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<!\*)\*([^*]+)\*(?!\*)", r"<em>\1</em>", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)
    return text.replace("\n", "<br>\n")


def cook(raw: str) -> str:
    """Cooked HTML for a post's raw."""
    raw = COMMENT.sub("", raw or "").strip()
    blocks = [b.strip() for b in re.split(r"\n\s*\n", raw) if b.strip()]
    out = []
    for block in blocks:
        if BLOCK_START.match(block):
            out.append(sanitize(block))
        else:
            # Inline HTML inside Markdown is allowed too; sanitize after the Markdown pass.
            out.append(f"<p>{sanitize(_inline(block))}</p>")
    return "\n".join(out)


def excerpt(cooked: str, limit: int = 200) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", "", cooked)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


LINK = re.compile(r'<a href="(https?://[^"]+)"([^>]*)>')
BARE_LINK_PARAGRAPH = re.compile(r'<p><a href="(https?://[^"]+)"[^>]*>\1</a></p>')


def post_process(cooked: str) -> str:
    """What Discourse's background job does to a cooked post after it is saved: external links get
    ``rel="noopener nofollow ugc"``, and a link alone on its line gets a onebox preview. Neither is an
    edit: raw, version and updated_at stay."""
    out = BARE_LINK_PARAGRAPH.sub(
        lambda m: f'<aside class="onebox" data-onebox-src="{m.group(1)}"><header class="source">'
                  f'<a href="{m.group(1)}">{html.escape(m.group(1))}</a></header>'
                  f'<article class="onebox-body"><p>A preview of the linked page.</p></article></aside>',
        cooked)
    return LINK.sub(lambda m: m.group(0) if "rel=" in m.group(2)
                    else f'<a href="{m.group(1)}" rel="noopener nofollow ugc"{m.group(2)}>', out)
