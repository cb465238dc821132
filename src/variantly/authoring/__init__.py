"""The authoring path's library: candidates, copy checks, import, review, preview, staleness.

Free of the generation stack, so import and review work on a plain install; the
guardrails-ai Guards and the LLM runs that build on it are in ``variantly.generation``.
"""
