#!/usr/bin/env python3
"""Ten lines, one a second, each flushed: the response reaches the client as it is made
(chunked, since no Content-Length is given). Try: curl -N http://127.0.0.1:8080/cgi-bin/stream.py"""

import sys
import time

out = sys.stdout
out.write("Content-Type: text/plain; charset=utf-8\r\n")
# Lets browsers show text/plain as it arrives instead of buffering it to sniff its type.
out.write("X-Content-Type-Options: nosniff\r\n\r\n")
out.flush()
for n in range(1, 11):
    out.write(f"line {n} of 10 at {time.strftime('%H:%M:%S')}\n")
    out.flush()
    if n < 10:
        time.sleep(1)
