"""voicebot-sync: keep Voicebot workflows in git and make the API match."""

__version__ = "0.1.0"
