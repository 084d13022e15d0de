"""Micro-batching: queries run in parallel threads; their proposals meet in one batched call.

Each query is its own LangGraph run, so its propose node asks for one or k CFs at a time. A
local model is far faster per CF when it decodes many conversations together (one padded
batch, one KV cache), and an OpenAI-compatible endpoint when requests overlap. The
BatchingProposer holds each caller until every active query is waiting (or the batch is
full), then makes one call to the wrapped proposer and hands each caller its own proposals.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cf_agent.proposers import CFRequest, Proposal, Proposer


@dataclass
class _Pending:
    requests: list[CFRequest]
    proposals: list[Proposal] | None = None
    error: BaseException | None = None


class BatchingProposer:
    """A Proposer that coalesces concurrent `propose` calls from worker threads.

    Workers are announced with `add_workers` and leave with `retire_worker`; a batch goes out
    when every active worker is waiting for proposals or `max_batch` requests are queued. One
    batch runs at a time. A caller that is not an announced worker is never held.
    """

    def __init__(self, proposer: Proposer, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.proposer = proposer
        self.max_batch = max_batch
        self.name = proposer.name
        self.is_llm = proposer.is_llm
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._active = 0
        self._busy = False

    def add_workers(self, n: int) -> None:
        """Announce n worker threads before they start, so none is flushed alone early."""
        with self._cond:
            self._active += n

    def retire_worker(self) -> None:
        """A worker leaves: the others stop waiting for it."""
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        pending = _Pending(list(requests))
        with self._cond:
            self._queue.append(pending)
            self._cond.notify_all()
            while pending.proposals is None and pending.error is None:
                if self._ready():
                    self._flush()
                else:
                    self._cond.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.proposals is not None
        return pending.proposals

    def _ready(self) -> bool:
        if self._busy or not self._queue:
            return False
        queued = sum(len(p.requests) for p in self._queue)
        return queued >= self.max_batch or len(self._queue) >= self._active

    def _flush(self) -> None:
        """Take up to max_batch requests (whole callers) and propose them; lock held on entry."""
        batch: list[_Pending] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].requests) <= self.max_batch):
            size += len(self._queue[0].requests)
            batch.append(self._queue.pop(0))
        self._busy = True
        self._cond.release()
        try:
            proposals = self.proposer.propose([r for p in batch for r in p.requests])
            if len(proposals) != size:
                raise RuntimeError(f"{self.name} returned {len(proposals)} proposals for {size}")
            start = 0
            for p in batch:
                p.proposals = proposals[start : start + len(p.requests)]
                start += len(p.requests)
        except BaseException as exc:  # every caller of the batch sees the failure
            for p in batch:
                p.error = exc
        finally:
            self._cond.acquire()
            self._busy = False
            self._cond.notify_all()
