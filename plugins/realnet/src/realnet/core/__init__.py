"""``realnet.core``: the network."""
