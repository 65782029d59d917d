"""`python -m webhook`: run the webhook bridge service."""

from webhook.service import main

main()
