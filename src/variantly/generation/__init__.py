"""The authoring path: prompts, the LLM, guardrails and runs.

Importing this package loads openai, guardrails-ai and tiktoken; the render server
never does (DESIGN: two paths). ``offline_environment`` is applied on import so that
neither tiktoken nor guardrails-ai reaches out to the network.
"""

from variantly.generation.environment import offline_environment

offline_environment()
