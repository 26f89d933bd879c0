"""Canvas sanitizes topic and entry messages on save (``sanitize_field :message, CanvasSanitize::SANITIZE``).

The allow list below is CanvasSanitize::SANITIZE (gems/canvas_sanitize in canvas-lms): its elements, the
attributes allowed on every element (style, class, id, title, role, lang, dir, aria-*) and per element, link
protocols ftp/http/https/mailto plus relative, and its CSS properties. Everything else is dropped, ``data-*``
attributes included. Ammonia (nh3) does the parsing, as Nokogiri does for Canvas.
"""
from __future__ import annotations

import nh3

ELEMENTS = {
    "a", "b", "blockquote", "br", "caption", "cite", "code", "col", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "del", "ins", "iframe", "font", "colgroup", "dd", "div", "dl", "dt", "em", "figure", "figcaption", "i", "img",
    "li", "ol", "p", "pre", "q", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul", "object", "embed", "param", "video", "audio",
}
ARIA = {f"aria-{name}" for name in (
    "labelledby", "atomic", "busy", "controls", "describedby", "disabled", "dropeffect", "flowto", "grabbed",
    "haspopup", "hidden", "invalid", "label", "live", "owns", "relevant", "autocomplete", "checked", "expanded",
    "level", "multiline", "multiselectable", "orientation", "pressed", "readonly", "required", "selected", "sort",
    "valuemax", "valuemin", "valuenow", "valuetext")}
ATTRIBUTES = {
    "*": {"style", "class", "id", "title", "role", "lang", "dir", *ARIA},
    "a": {"href", "target", "name"},
    "blockquote": {"cite"}, "col": {"span", "width"}, "colgroup": {"span", "width"},
    "img": {"align", "alt", "height", "src", "width"},
    "iframe": {"src", "width", "height", "name", "align", "frameborder", "scrolling", "sandbox", "allowfullscreen"},
    "ol": {"start", "type"}, "q": {"cite"},
    "table": {"summary", "width", "border", "cellpadding", "cellspacing", "center", "frame", "rules"},
    "tr": {"align", "valign", "dir"},
    "td": {"abbr", "axis", "colspan", "rowspan", "width", "align", "valign", "dir"},
    "th": {"abbr", "axis", "colspan", "rowspan", "width", "align", "valign", "dir", "scope"},
    "ul": {"type"}, "param": {"name", "value"},
    "object": {"width", "height", "style", "data", "type", "classid", "codebase"},
    "embed": {"name", "src", "type", "allowfullscreen", "pluginspage", "wmode", "allowscriptaccess", "width",
              "height"},
    "video": {"name", "src", "allowfullscreen", "muted", "poster", "width", "height"},
    "audio": {"name", "src", "muted"}, "font": {"face", "color", "size"},
}
STYLE_PROPERTIES = {
    "background", "border", "clear", "color", "cursor", "direction", "display", "float", "font", "height", "left",
    "line-height", "list-style", "margin", "max-height", "max-width", "min-height", "min-width", "overflow",
    "overflow-x", "overflow-y", "padding", "position", "right", "text-align", "table-layout", "text-decoration",
    "text-indent", "top", "vertical-align", "visibility", "white-space", "width", "z-index", "zoom",
    "background-color", "background-image", "border-color", "border-style", "border-width", "font-family",
    "font-size", "font-style", "font-weight", "margin-top", "margin-bottom", "margin-left", "margin-right",
    "padding-top", "padding-bottom", "padding-left", "padding-right",
}


def sanitize_message(html: str) -> str:
    return nh3.clean(html or "", tags=ELEMENTS, attributes=ATTRIBUTES, url_schemes={"ftp", "http", "https", "mailto"},
                     link_rel=None, strip_comments=False, filter_style_properties=STYLE_PROPERTIES)
