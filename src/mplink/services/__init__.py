"""Use cases: one function each, called by both the web app and the CLI."""
