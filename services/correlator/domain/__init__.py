"""Pure domain core of the correlator: no I/O, no Kafka, no clocks but the one passed in."""
