"""Whether a port is free to listen on: taken while something listens (even with SO_REUSEPORT,
as Granian binds), free again as soon as its listener is gone, its closed connections lingering
in TIME_WAIT (a server restarted after kill -9)."""

from __future__ import annotations

import os
import socket

import pytest

import ports
from tools.local import free_port


def test_a_listened_port_is_taken_and_its_holder_named():
    port = free_port()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        with pytest.raises(
            ports.PortTaken, match=rf"port {port} on 127.0.0.1 .* by pid {os.getpid()}"
        ):
            ports.require_free("127.0.0.1", port, "the web")


def test_a_port_whose_listener_closed_is_free_though_its_connections_linger():
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as every server binds
    listener.bind(("127.0.0.1", port))
    listener.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server's side closes first: its end waits in TIME_WAIT
    client.close()
    listener.close()
    ports.require_free("127.0.0.1", port, "the web")
