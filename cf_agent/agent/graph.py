"""Wiring only: propose -> verify -> (propose | refine | finish), run with an AgentContext."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from cf_agent.agent.context import AgentContext
from cf_agent.agent.nodes import (
    finish_query,
    propose_counterfactuals,
    refine_proposals,
    route_after_verify,
    verify_proposals,
)
from cf_agent.agent.state import CFState


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[CFState, AgentContext, CFState, CFState]:
    builder = StateGraph(CFState, context_schema=AgentContext)
    builder.add_node("propose", propose_counterfactuals)
    builder.add_node("verify", verify_proposals)
    builder.add_node("refine", refine_proposals)
    builder.add_node("finish", finish_query)
    builder.add_edge(START, "propose")
    builder.add_edge("propose", "verify")
    builder.add_conditional_edges(
        "verify", route_after_verify, {"propose": "propose", "refine": "refine", "finish": "finish"}
    )
    builder.add_edge("refine", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)
