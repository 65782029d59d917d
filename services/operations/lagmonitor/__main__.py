"""`python -m operations.lagmonitor`: run the lag monitor service."""

from operations.lagmonitor.service import main

main()
