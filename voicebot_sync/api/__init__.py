"""The Voicebot API from the client's side: the only code that imports httpx for it.

``client`` (the five endpoints, strict answers, errors translated at the border),
``ratelimit`` (the sliding-window limiter), ``ledger`` (what earlier runs spent),
``retry`` (backoff). Nothing here knows about plans, commands or the CLI.
"""
