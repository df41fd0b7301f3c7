"""Reusable constructs: block handler functions, the shared layer, workflow state machines."""
