"""Avro contracts: the codec, schema compatibility, contract examples."""
