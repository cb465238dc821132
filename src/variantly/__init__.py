"""Variantly: generative content personalisation with humans in the loop.

The package splits along the two paths in DESIGN.md. The serving path
(``workspace``, ``cohorts``, ``release``, ``render``, ``api``) must stay importable
without the generation stack (openai, guardrails-ai, litellm, tiktoken); the
authoring path (``generation``) imports those lazily.
"""

__version__ = "0.1.0"
