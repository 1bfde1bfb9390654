"""A WebSocket client for the reverse-proxy tests (Debian's python3-websockets):

    /usr/bin/python3 ws_client.py URL [--messages N] [--size BYTES] [--idle SECONDS]

Connects to URL, sends N messages alternately text and binary of BYTES bytes each (each one
different), checks that each comes back unchanged, then, with --idle, waits that long and sends
one more. Prints one line of JSON: {"echoed": N, "bytes": TOTAL, "closed": null or
{"code": C, "after_idle": bool}, "response_headers": {...}}; exits 1 on a mismatch, 2 when the
connection cannot be opened.
"""

import asyncio
import json
import sys

import websockets


async def run(url, messages, size, idle):
    result = {"echoed": 0, "bytes": 0, "closed": None, "response_headers": {}}
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
            back = await asyncio.wait_for(ws.recv(), 10)
            if back != message:
                print(json.dumps({"error": "message %d came back changed" % i}))
                return 1
            result["echoed"] += 1
            result["bytes"] += len(message)
        if idle:
            await asyncio.sleep(idle)
            try:
                await ws.send("after idle")
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                result["closed"] = {"code": e.code, "after_idle": True}
        await ws.close()
    except websockets.ConnectionClosed as e:
        result["closed"] = {"code": e.code, "after_idle": False}
    print(json.dumps(result))
    return 0


def main():
    args = sys.argv[1:]
    url = args.pop(0)
    messages, size, idle = 3, 16, 0.0
    while args:
        flag = args.pop(0)
        if flag == "--messages":
            messages = int(args.pop(0))
        elif flag == "--size":
            size = int(args.pop(0))
        elif flag == "--idle":
            idle = float(args.pop(0))
        else:
            sys.exit("unknown argument " + flag)
    sys.exit(asyncio.run(run(url, messages, size, idle)))


if __name__ == "__main__":
    main()
