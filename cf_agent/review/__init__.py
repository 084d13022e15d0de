"""Human review of the agent's CFs: history from the audit log, decisions, re-checks, export.

Core code: no user-interface imports. The terminal UI (`cf_agent.tui`) and the CLI call these.
"""
