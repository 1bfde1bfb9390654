"""A WebSocket client for the reverse-proxy tests (Debian's python3-websockets):

    /usr/bin/python3 ws_client.py URL [--messages N] [--size BYTES] [--pings N] [--idle SECONDS]
                                      [--vanish]

Connects to URL, sends N messages alternately text and binary of BYTES bytes each (each one
different), checks that each comes back unchanged, sends --pings pings and waits for each pong,
then, with --idle, says "idle" on stderr, waits that long (or until the peer closes) and sends
one more. Then it closes with the close handshake,
or with --vanish exits at once without one (its socket closed by the kernel). Prints one line of
JSON: {"echoed": N, "bytes": TOTAL, "pongs": N, "closed": null or {"code": C, "after_idle":
bool}, "close_code": the code of the peer's close frame (1000 after a clean handshake),
"response_headers": {...}}; exits 1 on a mismatch, 2 when the connection cannot be opened.
"""

import asyncio
import json
import os
import sys

import websockets


async def run(url, messages, size, idle, pings, vanish):
    result = {"echoed": 0, "bytes": 0, "pongs": 0, "closed": None, "close_code": None,
              "response_headers": {}}
    try:
        ws = await asyncio.wait_for(websockets.connect(url, max_size=None), 10)
    except Exception as e:  # the handshake failed: report it
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        return 2
    result["response_headers"] = {k: v for k, v in ws.response_headers.raw_items()}
    try:
        for i in range(messages):
            text = i % 2 == 0
            if text:
                message = (("%d:" % i) + "é" * size)[:size] if size else ""
            else:
                message = bytes((i + j) % 256 for j in range(size))
            await ws.send(message)
            back = await asyncio.wait_for(ws.recv(), 30)
            if back != message:
                print(json.dumps({"error": "message %d came back changed" % i}))
                return 1
            result["echoed"] += 1
            result["bytes"] += len(message)
        for _ in range(pings):
            await asyncio.wait_for(await ws.ping(), 10)
            result["pongs"] += 1
        if vanish:
            print(json.dumps(result), flush=True)
            os._exit(0)
        if idle:
            # Tells that the messages went through (on stderr: stdout is the result's).
            print("idle", file=sys.stderr, flush=True)
            # Idle, but a close by the other side ends the wait at once.
            try:
                await asyncio.wait_for(ws.wait_closed(), idle)
            except asyncio.TimeoutError:
                pass
            try:
                await ws.send("after idle")
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                result["closed"] = {"code": e.code, "after_idle": True}
        await ws.close()
        result["close_code"] = ws.close_code
    except websockets.ConnectionClosed as e:
        result["closed"] = {"code": e.code, "after_idle": False}
    print(json.dumps(result))
    return 0


def main():
    args = sys.argv[1:]
    url = args.pop(0)
    messages, size, idle, pings, vanish = 3, 16, 0.0, 0, False
    while args:
        flag = args.pop(0)
        if flag == "--messages":
            messages = int(args.pop(0))
        elif flag == "--size":
            size = int(args.pop(0))
        elif flag == "--idle":
            idle = float(args.pop(0))
        elif flag == "--pings":
            pings = int(args.pop(0))
        elif flag == "--vanish":
            vanish = True
        else:
            sys.exit("unknown argument " + flag)
    sys.exit(asyncio.run(run(url, messages, size, idle, pings, vanish)))


if __name__ == "__main__":
    main()
