"""The HTTP server's protection against slow clients: uvicorn's protocols with a deadline for receiving a request.

uvicorn times out idle kept-alive connections, but not a request sent a byte at a time: a few hundred such clients
hold every connection. Here a request (its headers and its body) must arrive within `REQUEST_TIMEOUT` seconds of its
first byte, or the connection is closed. The deadline stops when the request is in, so a slow response (an outfit,
a large feed) is never cut.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT = 30.0  # seconds; a 10 MB photo needs about 3 Mbit/s

logger = logging.getLogger(__name__)


class RequestDeadline:
    """Mixed into a uvicorn HTTP protocol class (it uses their ``cycle``, ``loop`` and ``transport``)."""

    request_timeout = REQUEST_TIMEOUT
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._between_requests():  # the next request of a kept-alive connection
            self._arm()
        super().data_received(data)
        if not self._receiving():
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _receiving(self) -> bool:
        return self._between_requests() or self.cycle.more_body

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._receiving() and not self.transport.is_closing():
            logger.warning("closed a connection from %s: its request was not in after %.0f s", self.client,
                           self.request_timeout)
            self.transport.close()


class H11WithDeadline(RequestDeadline, H11Protocol):
    pass


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsWithDeadline(RequestDeadline, HttpToolsProtocol):
        pass

    PROTOCOL: type = HttpToolsWithDeadline
except ImportError:  # httptools is optional in uvicorn
    PROTOCOL = H11WithDeadline
