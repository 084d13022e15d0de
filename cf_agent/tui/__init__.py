"""The review UI (`cf-agent tui`): a Textual app over the audit log. The only textual user."""
