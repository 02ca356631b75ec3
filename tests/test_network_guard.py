"""The suite's network guard: tests may reach 127.0.0.1 and nothing else."""

from __future__ import annotations

import socket

import pytest


@pytest.mark.parametrize("address", [("10.0.0.1", 80), ("192.168.1.1", 443), ("8.8.8.8", 53)])
def test_outside_addresses_are_refused_before_any_packet(address):
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ConnectionRefusedError, match=r"127\.0\.0\.1"),
    ):
        sock.connect(address)


def test_names_other_than_localhost_are_refused():
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ConnectionRefusedError),
    ):
        sock.connect(("api.telegram.org", 443))


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())


def test_dns_lookups_of_outside_names_are_refused():
    with pytest.raises(socket.gaierror, match="may not resolve"):
        socket.getaddrinfo("api.telegram.org", 443)
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)
