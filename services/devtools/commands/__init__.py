"""Commands of the development tooling: kafka, up/down/status, demo, bench, new-adapter."""
