"""Old import path of the proposer interface, now `cf_agent.proposers`.

Kept only for `cf_agent.finetune`, which is being changed elsewhere; new code imports
`cf_agent.proposers`. Remove once nothing imports this module.
"""

from cf_agent.proposers import CFRequest, ChatMessage, Proposal, Proposer

__all__ = ["CFRequest", "ChatMessage", "Proposal", "Proposer"]
