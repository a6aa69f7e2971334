"""Placeholder: this contract plugin is being written; it registers nothing yet."""
