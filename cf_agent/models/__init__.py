"""The classifier being explained, the LLM backends and the classic baselines."""
