"""``python -m voicebot_sync.github validate|plan|apply|drift``: the Action's steps."""

import sys

from .action import main

sys.exit(main())
