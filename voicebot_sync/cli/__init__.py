"""The command line: options -> one library call (``commands/``) -> rendering -> exit code.

``app`` holds the group and its one error handler; ``options`` what commands share;
``sync`` the commands that talk to the API; ``doctor`` the server check; ``local`` authoring and local work.
"""

from . import doctor, local, sync  # noqa: F401 - they register their commands on main
from .app import main

__all__ = ["main"]
