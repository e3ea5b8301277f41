"""``python -m voicebot_sync``: the same command line as ``voicebot-sync``."""

from .cli import main

main(prog_name="voicebot-sync")
