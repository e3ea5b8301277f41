"""``python -m voicebot_sync``: the same command line as ``voicebot-sync``."""

import sys

from .main import main

sys.exit(main())
