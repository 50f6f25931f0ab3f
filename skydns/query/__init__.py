"""The query path: a packet read, routed, answered by a chain, and delivered."""
