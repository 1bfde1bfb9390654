"""A WebSocket echo server for the reverse-proxy tests (Debian's python3-websockets, asyncio API):

    /usr/bin/python3 ws_echo.py

Listens on 127.0.0.1 port 0 and prints the port as the first line of stdout; echoes every message
(text or binary) on every path; the path /close closes at once with code 4000. Stopped by its PID.
"""

import asyncio
import sys

import websockets


async def echo(ws, path=None):
    path = path if path is not None else getattr(ws, "path", "/")
    if path == "/close":
        await ws.close(code=4000, reason="asked to")
        return
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    server = await websockets.serve(echo, "127.0.0.1", 0, max_size=None)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
