"""The webhook bridge: delivers an agency's notifications by HTTP POST to its endpoint.

`core` is the pure part (filters, bodies, signatures, the retry schedule); `subscriptions`
reads the subscriptions file; `journal` keeps the delivery log and dead-letter list;
`bridge` consumes, posts and commits; `service` runs one bridge per subscription
(`python -m operations.webhook`).
"""
