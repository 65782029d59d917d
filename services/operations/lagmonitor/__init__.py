"""lagmonitor: consumer-lag monitoring of every consumer group on the cluster.

`collector` samples the cluster (AdminClient), `status` evaluates a sliding window of
samples Burrow-style, `idle` waits until every group caught up, `service` exposes it all
as Prometheus metrics (`python -m operations.lagmonitor`).
"""
