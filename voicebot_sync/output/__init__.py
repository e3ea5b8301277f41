"""Rendering finished Plans and Reports: text, Markdown, JSON, live progress."""
