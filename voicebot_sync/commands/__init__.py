"""The commands as library calls, shared by the CLI and the GitHub Action.

Each is a plain function handed its settings and dependencies, returning a result
(a Plan, a Report, a drift report); rendering and exit codes belong to the callers.
"""
