"""Commands of the common package: `ketenbus topics` and `ketenbus schemas`."""
