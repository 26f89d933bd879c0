"""What a person types into a Canvas Flow form, as the HTML the hub stores (the hub sanitizes it)."""
from __future__ import annotations

import re

from markupsafe import escape

TAG = re.compile(r"<[A-Za-z/!]")
BLANK_LINES = re.compile(r"\n\s*\n")


def to_html(text: str) -> str:
    """HTML stays HTML; plain text becomes paragraphs, single line breaks kept."""
    text = (text or "").replace("\r\n", "\n").strip()
    if TAG.search(text):
        return text
    paragraphs = [p.strip() for p in BLANK_LINES.split(text) if p.strip()]
    return "".join("<p>" + str(escape(p)).replace("\n", "<br>") + "</p>" for p in paragraphs)
