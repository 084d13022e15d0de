"""Deterministic verifier tools and metrics; nothing here calls an LLM."""
