"""asyncio TLS echo server: create_server(ssl=...) with the bench's key and certificate.

    python3 bench/servers/tls_asyncio.py --key=K --cert=C [--ttl=1800]

Prints "PORT <n>" once listening on 127.0.0.1. Exits at EOF of stdin when it is a pipe (the
driver is gone), on SIGTERM, or after --ttl seconds.
"""
import asyncio
import os
import ssl
import stat
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(opts):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(opts["cert"], opts["key"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=ctx, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    gone = loop.create_future()
    mode = os.fstat(0).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        loop.add_reader(0, lambda: os.read(0, 4096) or gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, float(opts.get("ttl", 1800)))
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    asyncio.run(main(opts))
