"""Prompt templates as files; render.py fills them, quoting every data value as data."""
