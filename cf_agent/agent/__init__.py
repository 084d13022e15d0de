"""The LangGraph verifier loop: propose -> verify -> revise | refine | finish."""
