"""The click group the commands register on, and how a ValidationError's problems are printed.

The one error handler is around the group, in ``voicebot_sync.main`` (not in here), so tests that
invoke the group see a bug as an exception. Heavy imports (httpx, jsonschema, deepdiff) happen
inside the commands that need them, so ``--help`` and ``--version`` start at once.
"""

from __future__ import annotations

import os

import click

from .. import __version__
from ..errors import EXIT, ValidationError

EXIT_CHANGES = EXIT["changes"]


def _print_problems(exc: ValidationError) -> None:
    from ..doors import workflow_command
    from ..escaping import actions_command, visible

    github = os.environ.get("GITHUB_ACTIONS") == "true"
    for problem in exc.problems:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        # Problems go to stderr, so stdout holds only the document (`--format json | jq` never breaks).
        click.echo(visible(f"{where}: {problem.message}"), err=True)
        if github:
            workflow_command(actions_command("error", problem.message, file=problem.file, line=problem.line))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="voicebot-sync")
def main() -> None:
    """Keep Voicebot workflows in git and make the API match.

    Typical use: `validate` in a pre-commit hook, `plan` in pull-request checks,
    `apply` on merge. Try it with no server and no key: --api-url local.
    Shell completion: eval "$(_VOICEBOT_SYNC_COMPLETE=bash_source voicebot-sync)".
    """


