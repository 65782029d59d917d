"""Development tooling, never run in production.

The embedded Kafka broker, the sandbox, the local supervisor (`ketenbus up`), benchmarks,
the adapter scaffold and synthetic data.
"""
