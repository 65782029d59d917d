"""Commands of the intake SDK: publish."""
