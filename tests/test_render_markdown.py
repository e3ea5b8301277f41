"""The plan comment as GitHub shows it: rendered with cmark-gfm (GitHub's own Markdown library)
and checked as HTML: one collapsible block per change, tables well formed, outside text never
markup, never a mention, a reference or a link."""

import re
from html.parser import HTMLParser

import pytest

from voicebot_sync.core.plan import Change, Plan
from voicebot_sync.output.render import markdown_previews, message_preview, render_markdown, word_diff

from fakes import FakeDefinition

cmarkgfm = pytest.importorskip("cmarkgfm")
from cmarkgfm.cmark import Options  # noqa: E402

# GitHub lets <details>, <summary>, <b> and <br> through: render as it does (raw HTML kept), so
# whatever outside text could turn into would show here.
UNSAFE = Options.CMARK_OPT_UNSAFE
ALLOWED_TAGS = {"h3", "p", "strong", "em", "del", "code", "pre", "blockquote", "br", "b", "details", "summary",
                "table", "thead", "tbody", "tr", "th", "td"}

HOSTILE = [
    "</details><img src=x onerror=alert(1)>", "@someone please look", "#12 and o/r#3 and GH-4",
    "[click](https://evil.example/login) www.evil.example mail me@evil.example :smile:",
    "`code` ``` ~~~ | pipe | <b>bold</b> *em* _u_ ~~s~~", "evil\u202eeulav\u200b", "- list\n1) item\n---\n    indented",
    "<!-- open comment", "A" * 10_000, "\x1b[2Jx\r\n::warning ::forged", "&lt;img src=x&gt; &#64;someone",
]
PARAGRAPH = ("Hello [name], this is Riverside Clinic calling about your appointment with Dr. Okafor on Tuesday "
             "at [time]. Please bring your insurance card and arrive fifteen minutes early. Press 1 to confirm.")


class Html(HTMLParser):
    """Tags, and text outside <code>/<pre> (where GitHub looks for mentions, references and links)."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, list]] = []
        self.stack: list[str] = []
        self.prose: list[str] = []
        self.rows: list[int] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, attrs))
        if tag not in ("br",):
            self.stack.append(tag)
        if tag == "tr":
            self.rows.append(0)
        if tag in ("td", "th"):
            self.rows[-1] += 1

    def handle_startendtag(self, tag, attrs):  # <br />
        self.tags.append(tag)
        self.attrs.append((tag, attrs))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        if not {"code", "pre"} & set(self.stack):
            self.prose.append(data)


def html_of(md: str) -> Html:
    parser = Html()
    parser.feed(cmarkgfm.github_flavored_markdown_to_html(md, options=UNSAFE))
    parser.close()
    assert parser.stack == [], "unclosed elements"
    return parser


def assert_inert(page: Html) -> None:
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    assert all(not attrs or tag in ("th", "td", "pre") for tag, attrs in page.attrs)
    for text in page.prose:
        assert not re.search(r"@\w", text), f"a mention: {text[:80]!r}"
        assert not re.search(r"#\d|\bGH-\d", text, re.I), f"a reference: {text[:80]!r}"
        assert not re.search(r"(?i)\b(https?|ftp)://|\b(mailto|xmpp):\w|\bwww\.\w|:[\w+-]+:", text), f"a link or emoji: {text[:80]!r}"


def plan_of(changes, **kw) -> Plan:
    return Plan(api_url="https://api.test/v1", remote_fingerprint="sha256:0", changes=changes, **kw)


def fields(name, message, **kw):
    return {"name": name, "description": kw.get("description", ""), "workflow_type": "ROBOCALL", "message": message}


def example_plan() -> Plan:
    return plan_of([
        Change("create", "Reminder", None, "workflows/reminder.yaml", None, fields("Reminder", PARAGRAPH), 3),
        Change("update", "Follow-up", "6f1c", "workflows/follow-up.yaml", {"message": PARAGRAPH},
               {"message": PARAGRAPH.replace("Tuesday", "Wednesday morning")}, 2),
        Change("delete", "Old survey", "91ab", None, fields("Old survey", "How did we do?\nPress 1 to 5.",
                                                             description="2023 survey"), None),
    ], unchanged=4, remote_count=6)


# -- structure ---------------------------------------------------------------------------


def test_every_change_create_update_and_delete_has_exactly_one_collapsible_block():
    plan = example_plan()
    md = render_markdown(plan)
    page = html_of(md)
    assert page.tags.count("details") == page.tags.count("summary") == 3
    assert md.count("<details><summary>") == md.count("</details>") == 3
    assert "<details><summary>- delete <b>Old survey</b></summary>" in md
    assert_inert(page)
    # Two tables, every row as wide as its header: the counts (5) and the changes (6).
    assert page.rows == [5, 5, 6, 6, 6, 6]


def test_a_delete_shows_every_field_it_loses():
    md = render_markdown(example_plan())
    block = md[md.index("<summary>- delete"):]
    block = block[:block.index("</details>")]
    assert "Deleting id `91ab` loses these fields:" in block
    assert 'name: "Old survey"' in block and 'description: "2023 survey"' in block
    assert "message: |\n  How did we do?\n  Press 1 to 5." in block  # a multi-line text as a block scalar
    assert "| - | delete | Old survey | 91ab | name, description, workflow&#95;type, message |" in md


def test_a_one_word_edit_in_a_long_line_is_marked_beside_the_line_diff():
    md = render_markdown(example_plan())
    assert "~~Tuesday~~ **Wednesday morning**" in md
    assert "```diff\nmessage:\n@@ -1 +1 @@\n-Hello [name]" in md  # the line diff stays
    html = cmarkgfm.github_flavored_markdown_to_html(md, options=UNSAFE)
    assert "<del>Tuesday</del> <strong>Wednesday morning</strong>" in html
    # Long unchanged runs are cut to a few words either side, so the edit stands out.
    marked = next(line for line in md.splitlines() if "~~Tuesday~~" in line)
    assert marked.startswith("> … ") and marked.endswith(" …") and len(marked) < len(PARAGRAPH)


def test_word_diff_marks_only_the_changed_words_and_line_breaks():
    assert word_diff("a b c", "a x c") == [("=", "a"), ("-", "b"), ("+", "x"), ("=", "c")]
    items = word_diff("one\ntwo", "one two")
    assert ("-", "\n") in items
    assert word_diff("x " * 1000, "y " * 1000) is None  # too big: the line diff alone


def test_changed_words_are_escaped_outside_text():
    before, after = "Call us today", "Call <img src=x onerror=alert(1)> @someone #12 today"
    plan = plan_of([Change("update", "W", "1", "w.yaml", {"message": before}, {"message": after}, 1)])
    md = render_markdown(plan)
    assert "**&lt;img src&#61;x onerror&#61;alert(1)&gt; &#64;<!-- -->someone &#35;<!-- -->12**" in md
    page = html_of(md)
    assert_inert(page)
    assert page.tags.count("details") == 1


def test_a_multi_line_change_keeps_its_lines_in_the_word_diff():
    before, after = "Hello [name]\nline two\nbye", "Hello [name]\nline 2\nbye\n- and a list?"
    plan = plan_of([Change("update", "W", "1", "w.yaml", {"message": before}, {"message": after}, 1)])
    md = render_markdown(plan)
    assert "> Hello &#91;name&#93;\\\n> line ~~two~~ **2**\\\n> bye **⏎**\\\n> **- and a list?**" in md
    page = html_of(md)
    assert_inert(page)
    assert "ul" not in page.tags and "ol" not in page.tags


# -- the message as a patient hears it ---------------------------------------------------


def test_message_preview_fills_examples_and_bounds_the_length():
    params = {"name": {"example": "Maria", "max_length": 30}, "time": {"example": "9:30 AM", "max_length": 8}}
    assert message_preview("Hi [name], at [time].", params) == ("Hi Maria, at 9:30 AM.", 9 + 30 + 8)
    assert message_preview("Hi [name], at [time].", {"name": {"example": "Maria"}}) == ("Hi Maria, at [time].", None)
    assert message_preview("No placeholders.", None) == ("No placeholders.", 16)


def test_markdown_previews_come_from_definitions():
    class Def(FakeDefinition):
        parameters = {"name": {"example": "Maria", "max_length": 20}}

    examples, limits = markdown_previews([Def("Reminder", "Hi [name]"), FakeDefinition("Plain", "Hello")])
    assert examples == {"Reminder": {"name": "Maria"}, "Plain": {}}
    assert limits == {"Reminder": 23, "Plain": 5}


def test_created_and_changed_messages_are_shown_filled_in_with_their_worst_length():
    plan = example_plan()
    md = render_markdown(plan, examples={"Reminder": {"name": "Maria", "time": "9:30 AM"}, "Follow-up": {"name": "Sam"}},
                         limits={"Reminder": 204, "Follow-up": None, "Old survey": 10})
    reminder = md[md.index("<summary>+ create"):md.index("<summary>~ update")]
    assert "**As a patient hears it** (example values):" in reminder
    assert "> Hello Maria, this is Riverside Clinic" in reminder and "at 9&#58;30 AM&#46;" in reminder
    assert "Longest length (every placeholder at its `max_length`): 204 of 1000 characters." in reminder
    follow = md[md.index("<summary>~ update"):md.index("<summary>- delete")]
    assert "no example for `[time]`" in follow and "on Wednesday morning at `[time]`" in follow
    assert "_Longest length unknown: not every placeholder has a `max_length`" in follow
    assert "As a patient hears it" not in md[md.index("<summary>- delete"):]  # a delete has no message to hear
    assert_inert(html_of(md))


def test_a_message_over_the_limit_is_said_in_bold():
    md = render_markdown(example_plan(), limits={"Reminder": 1034})
    assert "**Longest length: 1034 of 1000 characters, 34 over the limit.**" in md


def test_without_examples_there_is_no_filled_in_section():
    md = render_markdown(example_plan())
    assert "As a patient hears it" not in md and "Longest length" not in md


# -- hostile outside text ----------------------------------------------------------------


def hostile_plan() -> Plan:
    changes = []
    for i, text in enumerate(HOSTILE):
        changes.append(Change("create", text, None, f"workflows/{text}.yaml", None, fields(text, text + " [name]"), i + 1))
        changes.append(Change("update", text, f"id-{text}", "w.yaml", {"message": "Call us " + text, "name": "old"},
                              {"message": "Call them " + text + " now", "name": text}, 1))
        changes.append(Change("delete", text, text, None, fields(text, text, description=text), None))
    return plan_of(changes, unmanaged=[{"name": t, "id": t} for t in HOSTILE], notes=HOSTILE[:3])


def test_hostile_names_and_messages_never_become_html_mentions_or_links():
    plan = hostile_plan()
    examples = {t: {"name": t} for t in HOSTILE}
    md = render_markdown(plan, examples=examples, limits={t: 5 for t in HOSTILE})
    assert "\u202e" not in md and "\x1b" not in md and "\r" not in md
    page = html_of(md)
    assert_inert(page)
    assert page.tags.count("details") == len(plan.changes)
    assert page.tags.count("summary") == len(plan.changes)
    assert "img" not in page.tags and "a" not in page.tags
    assert page.rows == [5, 5] + [6] * (1 + len(plan.changes))
    # GitHub's default renderer (raw HTML escaped) agrees: nothing but our own markup.
    safe = cmarkgfm.github_flavored_markdown_to_html(md)
    assert "<img" not in safe and "<a " not in safe


def test_a_ten_thousand_character_name_is_clipped_in_the_table_and_the_summary():
    name = "A" * 10_000
    md = render_markdown(plan_of([Change("create", name, None, "w.yaml", None, fields(name, "m"), 1)]))
    assert f"<b>{'A' * 200}… (10000 characters)</b>" in md
    assert f'name: "{name}"' in md  # the block keeps it whole


@pytest.mark.parametrize("max_chars", [600, 1_500, 4_000, 20_000, 60_000])
def test_a_cut_plan_is_cut_on_block_boundaries(max_chars):
    plan = hostile_plan()
    md = render_markdown(plan, max_chars=max_chars, examples={t: {"name": "x"} for t in HOSTILE})
    assert len(md) <= max_chars and "full plan is in the job summary" in md
    page = html_of(md)  # every element closed
    assert_inert(page)
    assert page.tags.count("details") == md.count("<details><summary>") == page.tags.count("summary")
    assert md.count("\n```") % 2 == 0 or max_chars >= 20_000
