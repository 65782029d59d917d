"""ketenbus common package: what every service shares (settings, Avro codec, producer,
logging, metrics, topic admin, the embedded broker) and the `ketenbus` command line."""

__version__ = "0.1.0"
