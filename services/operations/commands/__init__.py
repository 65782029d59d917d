"""Commands of the operations tools: lag, wait-idle, subscribe, webhook."""
