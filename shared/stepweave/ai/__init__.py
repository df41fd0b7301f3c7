"""Model providers and the AI blocks' logic (agent, router, evaluator).

Providers speak one interface (``stepweave.ai.providers``): OpenAI chat completions, any
OpenAI-compatible base URL, Anthropic messages, AWS Bedrock Converse, and a deterministic
offline ``local`` model. Nothing here imports httpx or boto3 at import time.
"""
