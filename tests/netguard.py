"""Fail loudly when a test reaches beyond this machine.

`install()` patches the socket layer (``socket.socket.connect``/``connect_ex``/``sendto``,
``socket.getaddrinfo``/``gethostbyname``/``gethostbyname_ex``, ``socket.create_connection``)
and asyncio's ``getaddrinfo``/``create_connection`` so that anything other
than loopback (127.0.0.0/8, ::1, ``localhost``) or a unix socket raises `RealNetworkAccess`.
Host names are refused before any resolution, so ``api.telegram.org`` is refused even when DNS
is unavailable (otherwise aiogram would log the failure and retry forever).

`RealNetworkAccess` derives from ``BaseException``: aiogram's polling loop, aiohttp and any
``except Exception`` in the code under test let it through. Every refusal is also recorded
(`violations()`), in case one happens in a thread or callback whose exception gets logged only.

In a conftest::

    @pytest.fixture(scope="session", autouse=True)
    def _no_network() -> Iterator[None]:
        yield from netguard.guard()
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_address
from typing import Any

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class RealNetworkAccess(BaseException):
    """A test tried to reach a non-loopback host."""


_lock = threading.Lock()
_depth = 0
_saved: list[tuple[Any, str, Any]] = []
_violations: list[str] = []


def is_local_host(host: object) -> bool:
    """True for loopback addresses, local names, a missing host and unix socket paths."""
    if host is None:
        return True
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip().rstrip(".").lower()
    if name in ("", *LOCAL_NAMES) or name.endswith(".localhost"):
        return True
    name = name.removeprefix("[").removesuffix("]").split("%", 1)[0]
    try:
        address = ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _is_literal(host: object) -> bool:
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ip_address(host.removeprefix("[").removesuffix("]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _refuse(what: str, target: object) -> RealNetworkAccess:
    message = f"test tried to reach the real network: {what} {target!r}"
    _violations.append(message)
    return RealNetworkAccess(message)


def _check_address(what: str, family: int, address: object) -> None:
    if family == getattr(socket, "AF_UNIX", None) or not isinstance(address, tuple):
        return
    if not address or not is_local_host(address[0]):
        raise _refuse(what, address)


def _check_resolve(what: str, host: object) -> None:
    # IP literals are "resolved" without any traffic (a server binding 0.0.0.0 does this);
    # any other name must be a local one, checked before asking a resolver.
    if not is_local_host(host) and not _is_literal(host):
        raise _refuse(what, host)


_MISSING = object()


def _patch(owner: Any, name: str, replacement: Any) -> None:
    # For a class, remember only what it defines itself: an inherited method is restored by
    # deleting the override.
    original = vars(owner).get(name, _MISSING)
    _saved.append((owner, name, original))
    setattr(owner, name, replacement)


def _install_patches() -> None:
    sock_connect = socket.socket.connect
    sock_connect_ex = socket.socket.connect_ex
    sock_sendto = socket.socket.sendto
    getaddrinfo = socket.getaddrinfo
    gethostbyname = socket.gethostbyname
    gethostbyname_ex = socket.gethostbyname_ex
    create_connection = socket.create_connection
    loop_class = asyncio.BaseEventLoop
    loop_getaddrinfo = loop_class.getaddrinfo
    loop_create_connection = loop_class.create_connection

    def connect(self: socket.socket, address: Any) -> None:
        _check_address("connect to", self.family, address)
        return sock_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address("connect to", self.family, address)
        return sock_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _check_address("send a datagram to", self.family, args[-1] if args else None)
        return sock_sendto(self, data, *args)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _check_resolve("resolve", host)
        return getaddrinfo(host, *args, **kwargs)

    def guarded_gethostbyname(host: str) -> str:
        _check_resolve("resolve", host)
        return gethostbyname(host)

    def guarded_gethostbyname_ex(host: str) -> Any:
        _check_resolve("resolve", host)
        return gethostbyname_ex(host)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not is_local_host(address[0]):
            raise _refuse("connect to", address)
        return create_connection(address, *args, **kwargs)

    async def loop_guarded_getaddrinfo(self: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
        _check_resolve("resolve", host)
        return await loop_getaddrinfo(self, host, *args, **kwargs)

    async def loop_guarded_create_connection(
        self: Any, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> Any:
        if host is not None and not is_local_host(host):
            raise _refuse("connect to", (host, port))
        return await loop_create_connection(self, protocol_factory, host, port, **kwargs)

    _patch(socket.socket, "connect", connect)
    _patch(socket.socket, "connect_ex", connect_ex)
    _patch(socket.socket, "sendto", sendto)
    _patch(socket, "getaddrinfo", guarded_getaddrinfo)
    _patch(socket, "gethostbyname", guarded_gethostbyname)
    _patch(socket, "gethostbyname_ex", guarded_gethostbyname_ex)
    _patch(socket, "create_connection", guarded_create_connection)
    _patch(loop_class, "getaddrinfo", loop_guarded_getaddrinfo)
    _patch(loop_class, "create_connection", loop_guarded_create_connection)


def install() -> None:
    """Turn the guard on (nestable: each install() needs its uninstall())."""
    global _depth
    with _lock:
        if _depth == 0:
            _install_patches()
        _depth += 1


def uninstall() -> None:
    """Undo one install(); the last one restores the original functions."""
    global _depth
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth == 0:
            while _saved:
                owner, name, original = _saved.pop()
                if original is _MISSING:
                    delattr(owner, name)
                else:
                    setattr(owner, name, original)


def installed() -> bool:
    return _depth > 0


@contextmanager
def guarded() -> Iterator[None]:
    """The guard for the duration of a ``with`` block."""
    install()
    try:
        yield
    finally:
        uninstall()


def guard() -> Iterator[None]:
    """Generator body for a pytest fixture: ``yield from netguard.guard()``."""
    with guarded():
        yield


def violations() -> list[str]:
    """Every refusal since the last clear_violations(), oldest first."""
    return list(_violations)


def clear_violations() -> None:
    _violations.clear()
