"""`python -m operations.webhook`: run the webhook bridge service."""

from operations.webhook.service import main

main()
