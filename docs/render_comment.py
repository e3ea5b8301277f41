"""Render the example plan comment the way GitHub shows it, and screenshot it for the README.

    pip install cmarkgfm          # GitHub's own Markdown library
    apt-get install chromium      # or chromium-browser
    python docs/render_comment.py [--out docs/plan-comment.png] [--html plan-comment.html]

The plan is made by the real planner from a few definitions and a remote: two creates with
parameters, a one-word message edit and a pruned workflow. Its Markdown is what the GitHub
Action posts; cmark-gfm turns it into HTML (raw HTML kept, as GitHub keeps <details>), a
minimal GitHub-like stylesheet wraps it, and headless Chromium takes the picture with every
collapsible block opened.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from voicebot_sync.core.schedule import parse_rate_limit  # noqa: E402
from voicebot_sync.core.model import desired_fields  # noqa: E402
from voicebot_sync.core.planner import make_plan  # noqa: E402
from voicebot_sync.output.render import markdown_previews, render_markdown  # noqa: E402


@dataclass
class Definition:
    """What the planner needs of a definition file (name, id, source, line, desired(), parameters)."""

    name: str
    message: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int = 1
    id: str | None = None

    def desired(self) -> dict[str, Any]:
        return desired_fields({"name": self.name, "message": self.message, "description": self.description})


APPOINTMENT = ("Hello [first_name], this is Riverside Family Clinic calling to remind you of your appointment "
               "with [provider] on [day] at [time]. Please arrive fifteen minutes early and bring your insurance "
               "card. Press 1 to confirm or 2 to speak with our front desk.")

DEFINITIONS = [
    Definition(
        "Appointment reminder", APPOINTMENT, "Robocall two days before a visit",
        {"first_name": {"example": "Maria", "max_length": 30}, "provider": {"example": "Dr. Okafor", "max_length": 40},
         "day": {"example": "Tuesday, May 14", "max_length": 20}, "time": {"example": "9:30 AM", "max_length": 8}},
        "workflows/appointment-reminder.yaml", 1),
    Definition(
        "Lab results ready", "Hi [first_name], your lab results from [date] are ready. Press 1 and a nurse "
        "will call you back today.", "",
        {"first_name": {"example": "Sam", "max_length": 30}, "date": {"example": "March 3"}},
        "workflows/lab-results.yaml", 1),
    Definition(
        "Flu shot campaign", "Hi [first_name], flu shots are now available at Riverside. Walk in Monday to "
        "Saturday, or press 1 to book a time.", "Seasonal outreach, September to November",
        {"first_name": {"example": "Jordan", "max_length": 30}}, "workflows/flu-shot.yaml", 1),
]

REMOTE = [
    {"id": "wf_8c21", "name": "Flu shot campaign", "workflow_type": "ROBOCALL",
     "description": "Seasonal outreach, September to November",
     "message": "Hi [first_name], flu shots are now available at Riverside. Walk in Monday to Friday, "
                "or press 1 to book a time."},
    {"id": "wf_13d0", "name": "Patient survey 2023", "workflow_type": "CONVERSATION",
     "description": "Post-visit satisfaction survey (retired)",
     "message": "Thank you for visiting Riverside Family Clinic.\nHow likely are you to recommend us, 1 to 5?"},
]

CSS = """
body { margin: 0; background: #fff; color: #1f2328; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans",
       Helvetica, Arial, sans-serif; }
.comment { margin: 12px; border: 1px solid #d1d9e0; border-radius: 6px; }
.header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e;
          border-radius: 6px 6px 0 0; }
.header b { color: #1f2328; } .bot { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 6px; font-size: 12px; }
.body { padding: 4px 16px 12px; }
h3 { font-size: 1.25em; margin: 16px 0 8px; }
p, blockquote, pre, table, details { margin: 0 0 12px; }
table { border-collapse: collapse; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 4px 10px; } tr:nth-child(2n) { background: #f6f8fa; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3;
       border-radius: 6px; padding: 0.2em 0.4em; }
pre { background: #f6f8fa; border-radius: 6px; padding: 10px 14px; overflow: hidden; white-space: pre-wrap; }
pre code { background: none; padding: 0; }
blockquote { border-left: 0.25em solid #d1d9e0; color: #59636e; padding: 0 1em; margin-left: 0; }
del { color: #cf222e; background: #ffebe9; } blockquote strong { color: #116329; background: #dafbe1; }
.del-line { color: #82071e; background: #ffebe9; } .add-line { color: #116329; background: #dafbe1; }
.hunk { color: #8250df; }
summary { cursor: pointer; font-weight: 600; margin-bottom: 8px; }
details { border-top: 1px solid #d1d9e0; padding-top: 8px; }
"""


def example_markdown() -> str:
    rate_limit = "6/1m,60/1h"
    plan = make_plan(DEFINITIONS, REMOTE, api_url="https://api.voicebot.example/v1", prune=True,
                     windows=parse_rate_limit(rate_limit))
    examples, limits = markdown_previews(DEFINITIONS)
    return render_markdown(plan, rate_limit=rate_limit, examples=examples, limits=limits)


def page(markdown: str) -> str:
    import cmarkgfm
    from cmarkgfm.cmark import Options

    body = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    # The picture shows what a click opens; the second block stays closed, as every block arrives.
    blocks = body.split("<details>")
    body = blocks[0] + "".join(("<details>" if i == 2 else "<details open>") + b for i, b in enumerate(blocks[1:], 1))
    body = re.sub(r'(<pre lang="diff"><code>)(.*?)(</code></pre>)', _diff_colours, body, flags=re.S)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape('voicebot-sync plan')}</title>"
            f"<style>{CSS}</style></head><body><div class='comment'><div class='header'><b>github-actions</b> "
            f"<span class='bot'>bot</span> commented</div><div class='body'>{body}</div></div></body></html>")


def _diff_colours(m: re.Match) -> str:
    """Red and green lines in a diff fence, as GitHub highlights them."""
    lines = m.group(2).split("\n")
    kinds = {"-": "del-line", "+": "add-line", "@": "hunk"}
    out = [f'<span class="{kinds[line[0]]}">{line}</span>' if line[:1] in kinds else line for line in lines]
    return m.group(1) + "\n".join(out) + m.group(3)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no chromium found: apt-get install chromium (or chromium-browser)")


def screenshot(html_path: Path, out: Path, size: str = "900,1400") -> None:
    args = [chromium(), "--headless", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--screenshot={out}", f"--window-size={size}", html_path.resolve().as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not out.exists():
        raise SystemExit(f"chromium wrote no screenshot to {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "plan-comment.png")
    parser.add_argument("--html", type=Path, help="also keep the HTML page here")
    parser.add_argument("--size", default="900,1400", help="window size, WIDTH,HEIGHT")
    args = parser.parse_args()
    markdown = example_markdown()
    with tempfile.TemporaryDirectory() as tmp:
        html_path = args.html or Path(tmp) / "plan-comment.html"
        html_path.write_text(page(markdown), encoding="utf-8")
        screenshot(html_path, args.out, args.size)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
