"""The serving path: profile -> cohort -> decision -> HTML, fast and free.

Imports nothing from ``variantly.authoring`` or ``variantly.generation`` and never the
generation stack (openai, guardrails-ai, litellm, tiktoken): a test checks. What a render
process holds (the last good workspace, the current release, recent activity) is in
``service``; one request is ``render.render_target``.
"""
