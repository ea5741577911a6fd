"""``realnet.training``: the trainer."""
