"""`python -m ketenbus ...` is the `ketenbus` command."""

from ketenbus.cli import main

main()
