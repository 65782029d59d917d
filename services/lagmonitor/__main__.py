"""`python -m lagmonitor`: run the lag monitor service."""

from lagmonitor.service import main

main()
