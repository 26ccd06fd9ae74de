"""asyncio (or uvloop) Protocol echo server, as vmbench's: data_received writes the data back.

    python3 bench/servers/asyncio_echo.py [--uvloop] [--ttl=1800]

Prints "PORT <n>" once listening on 127.0.0.1, or "SKIP <reason>" when uvloop is missing.
Exits on SIGTERM, at EOF of stdin when it is a pipe (the driver is gone), or after --ttl seconds.
"""
import asyncio
import os
import stat
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport  # asyncio and uvloop set TCP_NODELAY themselves

    def data_received(self, data):
        self.transport.write(data)


async def main(ttl):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    gone = loop.create_future()
    mode = os.fstat(0).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # a pipe from the driver: EOF = it is gone
        loop.add_reader(0, lambda: os.read(0, 4096) or gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, ttl)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    ttl = 1800.0
    for arg in sys.argv[1:]:
        if arg.startswith("--ttl="):
            ttl = float(arg[6:])
    if "--uvloop" in sys.argv:
        try:
            import uvloop
        except ImportError:
            print("SKIP uvloop is not installed for " + sys.executable, flush=True)
            sys.exit(0)
        uvloop.install()
    asyncio.run(main(ttl))
