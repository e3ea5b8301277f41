"""Outside text as data: how a remote name, an id, a server message or file content
is written into each kind of sink so that it can never act as instructions.

* ``visible``: terminals and plain logs. C0/C1 controls, DEL and bidi/invisible
  format characters are shown as ``\\uXXXX`` (valid inside JSON strings too);
  ``visible_lines`` keeps newlines for multi-line messages.
* ``actions_line``: GitHub Actions' log reads a line that begins with ``::`` as a
  workflow command; a line from outside text is never allowed to begin so.
* ``actions_data`` / ``actions_property``: data inside our own workflow commands,
  escaped as the Actions toolkit does.
* ``md_text`` / ``md_code``: Markdown and HTML (PR comments, job summaries,
  ``--format markdown``): HTML-escaped, ``@mentions``, ``#refs`` and autolinks
  neutralised; code spans and fences that the text inside cannot close.
* ``short``: a value quoted in a message: at most a short, visible prefix.
"""

from __future__ import annotations

import html
import re

# Unicode format characters that reorder or hide text (Trojan Source): bidi
# embeddings, overrides and isolates, marks, zero-width characters, BOM.
BIDI_AND_INVISIBLE = (
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_CONTROL_CHARS = [chr(c) for c in range(0x00, 0x20)] + [chr(0x7F)] + [chr(c) for c in range(0x80, 0xA0)]
# The one set of characters outside text may not carry into a sink: C0, DEL, C1, bidi and invisible
# format characters, the line and paragraph separators (they break lines in some terminals and
# editors), and lone surrogates (a JSON "\ud800" from outside cannot be encoded in any stream or file).
# visible() shows them, the doors (doors.py) and validate (definitions.py) take them from here.
UNSAFE_CHARACTERS = ("".join(_CONTROL_CHARS) + BIDI_AND_INVISIBLE + "\u2028\u2029"
                     + "".join(map(chr, range(0xD800, 0xE000))))
_ESCAPED = {ord(ch): f"\\u{ord(ch):04x}" for ch in UNSAFE_CHARACTERS}
_ESCAPED_KEEP_NEWLINES = {k: v for k, v in _ESCAPED.items() if k != 0x0A}


def unsafe_pattern(allowed: str = "") -> "re.Pattern[str]":
    """A character class of ``UNSAFE_CHARACTERS`` less ``allowed`` (the doors allow tab and newline)."""
    return re.compile("[" + re.escape("".join(ch for ch in UNSAFE_CHARACTERS if ch not in allowed)) + "]")


_UNSAFE = unsafe_pattern()


def unsafe_characters(text: str) -> list[tuple[int, str]]:
    """(offset, U+XXXX name) of every control, bidi or invisible character in ``text``."""
    return [(m.start(), f"U+{ord(m.group()):04X}") for m in _UNSAFE.finditer(text)]


def visible(text: object) -> str:
    """One line for a terminal or a plain log: every control and bidi character shown, none emitted."""
    return str(text).translate(_ESCAPED)


def visible_lines(text: object) -> str:
    """Like ``visible`` but newlines stay (a multi-line message shown as lines)."""
    return str(text).translate(_ESCAPED_KEEP_NEWLINES)


def clip(value: object, limit: int = 40) -> str:
    """A short visible prefix, unquoted: for key paths, file paths, placeholder names and parser messages."""
    text = visible(value if isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A value quoted in a message, at most: enough to recognise it, too little to leak a key or token
# pasted into the wrong field into a CI log.
QUOTE_LIMIT = 24


def short(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value quoted in a message: a visible prefix of at most ``limit`` characters (text in quotes)."""
    text = clip(value, limit)
    return f"'{text}'" if isinstance(value, str) else text


def actions_line(line: str) -> str:
    """A line of outside text for the Actions log: it may not begin a workflow command."""
    stripped = line.lstrip()
    if stripped.startswith("::"):
        cut = len(line) - len(stripped)
        return line[:cut] + "\\u003a" + stripped[1:]
    return line


def actions_data(text: str) -> str:
    """The message part of a workflow command (as @actions/core escapes it)."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def actions_property(text: str) -> str:
    """A property value of a workflow command (file=, title=)."""
    return actions_data(text).replace(":", "%3A").replace(",", "%2C")


def actions_command(level: str, message: str, *, file: str | None = None, line: int = 0,
                    title: str | None = None) -> str:
    """``::error file=F,line=L,title=T::message`` (or warning, notice), escaped as the runner expects."""
    props = []
    if file:
        props.append(f"file={actions_property(file)}")
        if line:
            props.append(f"line={int(line)}")
    if title:
        props.append(f"title={actions_property(title)}")
    return f"::{level}{' ' + ','.join(props) if props else ''}::{actions_data(message)}"


_MD_NEUTRAL = {
    "@": "&#64;",  # no @mention notifies anyone
    "#": "&#35;",  # no #123 links an issue
    "[": "&#91;", "]": "&#93;",  # no [link](…)
    "*": "&#42;", "_": "&#95;", "~": "&#126;", "`": "&#96;",
    "|": "&#124;",  # tables stay well formed
    "\\": "&#92;", "!": "&#33;", "=": "&#61;",
    ":": "&#58;",  # no autolink (http://…, www.…, mailto:)
    ".": "&#46;",
}


# GitHub links these after cmark has rendered the text, entities decoded: an @mention (and
# e-mail autolinks), a #123 or owner/repo#123 reference, a GH-123 reference, URL autolinks
# (scheme:// and www.), :emoji: codes. An empty HTML comment inside the pattern splits the
# text node, so nothing matches; the comment itself renders as nothing.
_UNLINK = re.compile(r"(&#64;|&#35;|&#58;(?=//|[\w+-]+&#58;)|(?i:\bwww)&#46;|(?i:\bgh)(?=-\d))")


def md_text(text: object) -> str:
    """Outside text inside Markdown/HTML: rendered literally, one line, never as markup,
    a mention, a reference, a link or an emoji (entities alone are decoded before GitHub links)."""
    # Character by character, so that the entity html.escape makes of a quote (&#x27;) keeps its '#'.
    escaped = "".join(_MD_NEUTRAL.get(ch) or html.escape(ch, quote=True) for ch in visible(text))
    return _UNLINK.sub(r"\1<!-- -->", escaped)


def md_code_block(text: object, lang: str = "") -> str:
    """A fenced block that the text inside cannot close (a longer fence than any run inside)."""
    body = visible_lines(text)
    longest = max((len(run) for run in re.findall(r"`+|~+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def md_code(text: object) -> str:
    """An inline code span that the text inside cannot close."""
    body = visible(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip() else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"
