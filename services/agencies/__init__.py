"""The agency adapters, one package each, built on the intake SDK."""
