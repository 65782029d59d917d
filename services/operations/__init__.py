"""Operations tools: the lag monitor, the webhook bridge, following notification streams."""
