"""Listeners: the running service, its sockets and the protocols on them (UDP, TCP, TLS, HTTPS)."""
