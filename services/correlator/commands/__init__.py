"""Commands of the correlator: cases, notifications, rebuild."""
