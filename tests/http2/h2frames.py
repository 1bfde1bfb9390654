#!/usr/bin/python3
"""Exact HTTP/2 frame sequences against a server, and what it answered.

    /usr/bin/python3 tests/http2/h2frames.py HOST PORT [--tls] SCENARIO...

Each scenario runs on a fresh connection and prints one line: `SCENARIO<TAB>VERDICT`, where the
verdict is what the server did about it, summarised:

    GOAWAY <CODE>             a connection error (the GOAWAY's code)
    RST_STREAM <CODE>         a stream error on the scenario's stream
    :status <N>               a response (its status; `+body=N` with the body's length)
    alive                     nothing said, and the connection still answers a PING
    closed                    the connection closed without a GOAWAY
    (some scenarios verdict on their own: see each)

Frames are written by hand (a scenario must be able to break every rule), header blocks with
the `hpack` package, responses read with it: Debian's python3-h2 brings both (`hpack`,
`hyperframe`); run it with /usr/bin/python3, which has them.
"""

import socket
import ssl
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20
CODES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
         "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
         "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
         "HTTP_1_1_REQUIRED"]
TIMEOUT = 5.0


def code_name(code):
    return CODES[code] if code < len(CODES) else hex(code)


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


class Conn:
    def __init__(self, host, port, tls):
        raw = socket.create_connection((host, port), timeout=TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
            raw = context.wrap_socket(raw, server_hostname="localhost")
            assert raw.selected_alpn_protocol() == "h2", raw.selected_alpn_protocol()
        self.sock = raw
        self.buf = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.closed = False
        self.frames = []
        # Every response header block is decoded as it comes (HPACK state must follow):
        # the :status of each stream, and a block waiting for its CONTINUATIONs.
        self.status = {}
        self.pending_block = b""
        self.peer_initial = 65535

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def handshake(self, *pairs):
        """The preface, our SETTINGS, the server's SETTINGS, and each side's ACK."""
        self.send(PREFACE + settings(*pairs))
        got = self.read_until(lambda f: f[0] == SETTINGS and not f[1] & ACK)
        assert got is not None, "no SETTINGS from the server"
        for i in range(0, len(got[3]), 6):
            k, v = struct.unpack(">HI", got[3][i:i + 6])
            if k == 4:
                self.peer_initial = v
        self.send(frame(SETTINGS, ACK, 0))
        return got

    def block(self, fields):
        return self.encoder.encode(fields)

    def request(self, stream, path="/", method="GET", extra=(), end_stream=True):
        fields = [(":method", method), (":scheme", "https"), (":authority", "localhost"),
                  (":path", path)] + list(extra)
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        self.send(frame(HEADERS, flags, stream, self.block(fields)))

    def read_frame(self, deadline):
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionError, ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk
        length = int.from_bytes(self.buf[:3], "big")
        kind, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload = self.buf[9:9 + length]
        self.buf = self.buf[9 + length:]
        f = (kind, flags, stream, payload)
        self.frames.append(f)
        if kind in (HEADERS, CONTINUATION):
            self.pending_block += header_block(flags, payload) if kind == HEADERS else payload
            if flags & END_HEADERS:
                fields = dict(self.decoder.decode(self.pending_block))
                self.pending_block = b""
                self.status.setdefault(stream, fields.get(":status"))
        return f

    def read_until(self, done, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline)
            if f is None:
                return None
            if done(f):
                return f

    def ping_answered(self):
        """Sends a PING; True when its ACK comes back (False: closed or a GOAWAY first)."""
        payload = b"webserv!"
        self.send(frame(PING, 0, 0, payload))
        f = self.read_until(lambda f: f[0] == GOAWAY or (f[0] == PING and f[1] & ACK
                                                           and f[3] == payload))
        return f is not None and f[0] == PING

    def stream_verdict(self, stream, text):
        """What became of `stream` in the frames received so far, or None while it is open."""
        body = b""
        for kind, flags, sid, payload in self.frames:
            if kind == GOAWAY and int.from_bytes(payload[4:8], "big") != 0:
                return "GOAWAY " + code_name(int.from_bytes(payload[4:8], "big"))
            if sid != stream:
                continue
            if kind == RST_STREAM:
                return "RST_STREAM " + code_name(int.from_bytes(payload[:4], "big"))
            if kind == DATA:
                body += payload
            if flags & END_STREAM and kind in (HEADERS, DATA):
                status = self.status.get(stream)
                if text:
                    return ":status %s %s" % (status, body.decode("utf-8", "replace"))
                return ":status %s" % status + ("+body=%d" % len(body) if body else "")
        return None

    def verdict(self, stream=None, timeout=TIMEOUT, text=False):
        """What the server made of it (see the module's comment); `text`: with the body. A
        GOAWAY with NO_ERROR (a graceful one) does not end a stream's wait."""
        if stream is not None:
            deadline = time.monotonic() + timeout
            while True:
                done = self.stream_verdict(stream, text)
                if done is not None:
                    return done
                f = self.read_frame(deadline)
                if f is None:
                    break
                kind, flags, sid, payload = f
                if kind == DATA and sid == stream and payload:
                    # Give the window back, so that long bodies flow.
                    self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload)))
                              + frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", len(payload))))
            return "closed" if self.closed else "nothing"
        if self.ping_answered():
            return "alive"
        for f in self.frames:
            if f[0] == GOAWAY:
                return "GOAWAY " + code_name(int.from_bytes(f[3][4:8], "big"))
        return "closed" if self.closed else "nothing"

    def goaway(self):
        """The GOAWAY received so far, as (last stream, code name), or None."""
        for f in self.frames:
            if f[0] == GOAWAY:
                last = int.from_bytes(f[3][:4], "big") & 0x7FFFFFFF
                return last, code_name(int.from_bytes(f[3][4:8], "big"))
        return None


def header_block(flags, payload):
    if flags & PADDED:
        payload = payload[1:len(payload) - payload[0]]
    if flags & PRIO:
        payload = payload[5:]
    return payload


def get_fields(conn, path="/index.html", extra=()):
    return [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
            (":path", path)] + list(extra)


# ---- Scenarios. Each takes a connection and returns its verdict.

SCENARIOS = {}


def scenario(f):
    SCENARIOS[f.__name__] = f
    return f


# RFC 9113 §3.4: the preface.
@scenario
def preface_invalid(c):
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings())
    return c.verdict()


@scenario
def preface_without_settings(c):
    c.send(PREFACE + frame(PING, 0, 0, b"12345678"))
    return c.verdict()


# §4.1, §5.5: unknown frame types and flags are ignored.
@scenario
def unknown_frame_type_is_ignored(c):
    c.handshake()
    c.send(frame(0x20, 0xff, 0, b"whatever"))
    return c.verdict()


@scenario
def unknown_flags_are_ignored(c):
    c.handshake()
    c.send(frame(PING, 0x16, 0, b"abcdefgh"))
    return c.verdict()


@scenario
def reserved_bit_is_ignored(c):
    c.handshake()
    fields = get_fields(c)
    data = frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(fields))
    data = data[:5] + bytes([data[5] | 0x80]) + data[6:]
    c.send(data)
    return c.verdict(stream=1)


# §4.2: frame size.
@scenario
def data_over_max_frame_size(c):
    c.handshake()
    c.request(1, "/index.html", "POST", end_stream=False)
    c.send(frame(DATA, 0, 1, b"x" * 16385))
    return c.verdict()


@scenario
def headers_over_max_frame_size(c):
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(get_fields(c)) + b"\x00" * 16384))
    return c.verdict()


# §4.3: a header block that cannot be decoded.
@scenario
def invalid_header_block(c):
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff"))
    return c.verdict()


# §5.1: stream states.
@scenario
def data_on_idle_stream(c):
    c.handshake()
    c.send(frame(DATA, 0, 1, b"x"))
    return c.verdict()


@scenario
def rst_stream_on_idle_stream(c):
    c.handshake()
    c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
    return c.verdict()


@scenario
def window_update_on_idle_stream(c):
    c.handshake()
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1)))
    return c.verdict()


@scenario
def data_on_half_closed_remote(c):
    c.handshake((4, 0))  # our initial window 0: the response waits
    c.request(1, "/index.html")
    c.send(frame(DATA, 0, 1, b"x"))
    return c.verdict(stream=1)


@scenario
def headers_on_half_closed_remote(c):
    c.handshake((4, 0))
    c.request(1, "/index.html")
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(get_fields(c))))
    return c.verdict(stream=1)


@scenario
def data_on_closed_stream(c):
    c.handshake()
    c.request(1, "/index.html")
    c.verdict(stream=1)
    c.send(frame(DATA, 0, 1, b"x"))
    return c.verdict()


@scenario
def headers_on_closed_stream(c):
    c.handshake()
    c.request(1, "/index.html")
    c.verdict(stream=1)
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(get_fields(c))))
    return c.verdict()


@scenario
def frames_after_rst_stream_from_the_client(c):
    c.handshake((4, 0))
    c.request(1, "/index.html")
    c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
    c.send(frame(DATA, 0, 1, b"x"))
    return c.verdict(stream=1)


@scenario
def priority_on_closed_stream_is_allowed(c):
    c.handshake()
    c.request(1, "/index.html")
    c.verdict(stream=1)
    c.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 15)))
    return c.verdict()


@scenario
def even_stream_id(c):
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 2, c.block(get_fields(c))))
    return c.verdict()


@scenario
def stream_id_lower_than_the_last(c):
    c.handshake()
    c.request(5, "/index.html")
    c.verdict(stream=5)
    c.request(3, "/index.html")
    return c.verdict()


# §5.1.2: concurrency. Our window 0 keeps every response open.
@scenario
def streams_past_the_concurrency_limit_are_refused(c):
    got = c.handshake((4, 0))
    limit = None
    payload = got[3]
    for i in range(0, len(payload), 6):
        k, v = struct.unpack(">HI", payload[i:i + 6])
        if k == 3:
            limit = v
    for n in range(limit):
        c.request(1 + 2 * n, "/index.html")
    over = 1 + 2 * limit
    c.request(over, "/index.html")
    return "limit=%d %s" % (limit, c.verdict(stream=over))


# §5.3.1: a stream cannot depend on itself.
@scenario
def headers_depending_on_itself(c):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM | PRIO, 1, struct.pack(">IB", 1, 15) + block))
    return c.verdict(stream=1)


@scenario
def priority_depending_on_itself(c):
    c.handshake()
    c.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 15)))
    return c.verdict(stream=1)


# §6.1 DATA.
@scenario
def data_on_stream_0(c):
    c.handshake()
    c.send(frame(DATA, 0, 0, b"x"))
    return c.verdict()


@scenario
def data_with_too_much_padding(c):
    c.handshake()
    c.request(1, "/index.html", "POST", extra=[("content-length", "4")], end_stream=False)
    c.send(frame(DATA, PADDED, 1, bytes([10]) + b"abcd"))
    return c.verdict()


# §6.2 HEADERS.
@scenario
def headers_on_stream_0(c):
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 0, c.block(get_fields(c))))
    return c.verdict()


@scenario
def headers_with_too_much_padding(c):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, bytes([255]) + block))
    return c.verdict()


@scenario
def headers_padded_and_prioritised_are_served(c):
    c.handshake()
    block = c.block(get_fields(c))
    payload = bytes([3]) + struct.pack(">IB", 0, 200) + block + b"\0\0\0"
    c.send(frame(HEADERS, END_HEADERS | END_STREAM | PADDED | PRIO, 1, payload))
    return c.verdict(stream=1)


# §6.3 PRIORITY.
@scenario
def priority_on_stream_0(c):
    c.handshake()
    c.send(frame(PRIORITY, 0, 0, struct.pack(">IB", 1, 15)))
    return c.verdict()


@scenario
def priority_of_wrong_length(c):
    c.handshake()
    c.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 15) + b"x"))
    return c.verdict(stream=1)


# §6.4 RST_STREAM.
@scenario
def rst_stream_on_stream_0(c):
    c.handshake()
    c.send(frame(RST_STREAM, 0, 0, struct.pack(">I", 8)))
    return c.verdict()


@scenario
def rst_stream_of_wrong_length(c):
    c.handshake((4, 0))
    c.request(1, "/index.html")
    c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8) + b"x"))
    return c.verdict()


# §6.5 SETTINGS.
@scenario
def settings_ack_with_payload(c):
    c.handshake()
    c.send(frame(SETTINGS, ACK, 0, struct.pack(">HI", 4, 1)))
    return c.verdict()


@scenario
def settings_on_a_stream(c):
    c.handshake()
    c.send(frame(SETTINGS, 0, 1, b""))
    return c.verdict()


@scenario
def settings_of_wrong_length(c):
    c.handshake()
    c.send(frame(SETTINGS, 0, 0, b"\x00\x04\x00\x00\x00"))
    return c.verdict()


@scenario
def settings_enable_push_2(c):
    c.handshake()
    c.send(settings((2, 2)))
    return c.verdict()


@scenario
def settings_initial_window_too_large(c):
    c.handshake()
    c.send(settings((4, 2 ** 31)))
    return c.verdict()


@scenario
def settings_max_frame_size_too_small(c):
    c.handshake()
    c.send(settings((5, 16383)))
    return c.verdict()


@scenario
def settings_max_frame_size_too_large(c):
    c.handshake()
    c.send(settings((5, 2 ** 24)))
    return c.verdict()


@scenario
def settings_unknown_is_ignored(c):
    c.handshake()
    c.send(settings((0xff, 1)))
    return c.verdict()


@scenario
def settings_are_acknowledged(c):
    c.handshake()
    c.send(settings((4, 100)))
    f = c.read_until(lambda f: f[0] == SETTINGS and f[1] & ACK)
    return "SETTINGS ACK" if f is not None and f[3] == b"" else "no ack"


# §6.7 PING.
@scenario
def ping_is_answered_with_the_same_payload(c):
    c.handshake()
    c.send(frame(PING, 0, 0, b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    f = c.read_until(lambda f: f[0] == PING)
    return "PING ACK" if f and f[1] & ACK and f[3] == b"\x01\x02\x03\x04\x05\x06\x07\x08" \
        else "wrong"


@scenario
def ping_ack_is_not_answered(c):
    c.handshake()
    c.send(frame(PING, ACK, 0, b"unasked!"))
    answered = c.read_until(lambda f: f[0] == PING, timeout=0.5)
    return "answered" if answered else c.verdict()


@scenario
def ping_on_a_stream(c):
    c.handshake()
    c.send(frame(PING, 0, 1, b"12345678"))
    return c.verdict()


@scenario
def ping_of_wrong_length(c):
    c.handshake()
    c.send(frame(PING, 0, 0, b"1234567"))
    return c.verdict()


# §6.8 GOAWAY.
@scenario
def goaway_on_a_stream(c):
    c.handshake()
    c.send(frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0)))
    return c.verdict()


@scenario
def goaway_from_the_client_keeps_the_connection_answering(c):
    c.handshake()
    c.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    return c.verdict()


# §6.9 WINDOW_UPDATE.
@scenario
def window_update_of_0_on_the_connection(c):
    c.handshake()
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
    return c.verdict()


@scenario
def window_update_of_0_on_a_stream(c):
    c.handshake((4, 0))
    c.request(1, "/index.html")
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)))
    return c.verdict(stream=1)


@scenario
def window_update_of_wrong_length(c):
    c.handshake()
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1) + b"x"))
    return c.verdict()


@scenario
def connection_window_overflow(c):
    c.handshake()
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2 ** 31 - 1)))
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2 ** 31 - 1)))
    return c.verdict()


@scenario
def stream_window_overflow(c):
    # A body larger than the connection window keeps the stream open whatever its window.
    c.handshake((4, 0))
    c.request(1, "/big.bin")
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 2 ** 31 - 1))
           + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 2 ** 31 - 1)))
    return c.verdict(stream=1)


@scenario
def initial_window_change_overflowing_a_stream(c):
    c.handshake((4, 0))
    c.request(1, "/big.bin")
    # In one write: no DATA can go (and shrink the window) between the two.
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 2 ** 31 - 1)) + settings((4, 10)))
    return c.verdict()


@scenario
def a_window_of_1_octet_still_delivers_the_whole_body(c):
    c.handshake((4, 1))
    c.request(1, "/index.html")
    got = b""
    while True:
        f = c.read_until(lambda f: f[2] == 1 and f[0] in (DATA, RST_STREAM) or f[0] == GOAWAY)
        if f is None or f[0] != DATA:
            return "broken"
        if len(f[3]) > 1:
            return "frame of %d octets past a window of 1" % len(f[3])
        got += f[3]
        if f[1] & END_STREAM:
            return "body=%d in frames of 1" % len(got)
        c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1)))


@scenario
def a_negative_window_waits_until_it_is_positive(c):
    c.handshake((4, 0))
    c.request(1, "/index.html")
    c.send(settings((4, 0)))
    if c.read_until(lambda f: f[0] == DATA, timeout=0.3):
        return "data past a shut window"
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 100000)))
    return c.verdict(stream=1)


# §6.10 CONTINUATION.
@scenario
def continuation_after_end_headers(c):
    c.handshake((4, 0))
    c.request(1, "/index.html")
    c.send(frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    return c.verdict()


@scenario
def frame_interleaved_in_a_header_block(c):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_STREAM, 1, block[:2]))
    c.send(frame(DATA, 0, 1, b"x"))
    return c.verdict()


@scenario
def continuation_on_another_stream(c):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_STREAM, 1, block[:2]))
    c.send(frame(CONTINUATION, END_HEADERS, 3, block[2:]))
    return c.verdict()


@scenario
def continuation_on_stream_0(c):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_STREAM, 1, block[:2]))
    c.send(frame(CONTINUATION, END_HEADERS, 0, block[2:]))
    return c.verdict()


@scenario
def headers_split_over_continuations_are_served(c):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_STREAM, 1, block[:1]))
    for i in range(1, len(block) - 1):
        c.send(frame(CONTINUATION, 0, 1, block[i:i + 1]))
    c.send(frame(CONTINUATION, END_HEADERS, 1, block[-1:]))
    return c.verdict(stream=1)


# §8.1: HTTP messages.
@scenario
def content_length_larger_than_the_data(c):
    c.handshake()
    c.request(1, "/index.html", "POST", extra=[("content-length", "10")], end_stream=False)
    c.send(frame(DATA, END_STREAM, 1, b"abc"))
    return c.verdict(stream=1)


@scenario
def content_length_smaller_than_the_data(c):
    c.handshake()
    c.request(1, "/index.html", "POST", extra=[("content-length", "1")], end_stream=False)
    c.send(frame(DATA, END_STREAM, 1, b"abc"))
    return c.verdict(stream=1)


@scenario
def trailers_without_end_stream(c):
    c.handshake()
    c.request(1, "/index.html", "POST", end_stream=False)
    c.send(frame(DATA, 0, 1, b"abc"))
    c.send(frame(HEADERS, END_HEADERS, 1, c.block([("x-trailer", "1")])))
    return c.verdict(stream=1)


@scenario
def trailers_are_accepted(c):
    c.handshake()
    c.request(1, "/index.html", "POST", end_stream=False)
    c.send(frame(DATA, 0, 1, b"abc"))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block([("x-trailer", "1")])))
    return c.verdict(stream=1)


@scenario
def pseudo_header_in_trailers(c):
    c.handshake()
    c.request(1, "/index.html", "POST", end_stream=False)
    c.send(frame(DATA, 0, 1, b"abc"))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block([(":method", "GET")])))
    return c.verdict(stream=1)


def malformed(c, fields):
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(fields)))
    return c.verdict(stream=1)


BASE = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
        (":path", "/index.html")]


# §8.2: fields.
@scenario
def uppercase_field_name(c):
    return malformed(c, BASE + [("X-Upper", "1")])


@scenario
def connection_specific_field(c):
    return malformed(c, BASE + [("connection", "keep-alive")])


@scenario
def upgrade_to_websocket(c):
    return malformed(c, BASE + [("upgrade", "websocket"), ("sec-websocket-version", "13")])


@scenario
def te_other_than_trailers(c):
    return malformed(c, BASE + [("te", "gzip")])


@scenario
def te_trailers_is_allowed(c):
    return malformed(c, BASE + [("te", "trailers")])


@scenario
def field_value_with_a_newline(c):
    return malformed(c, BASE + [("x-a", "b\nc")])


# §8.3: pseudo-header fields.
@scenario
def missing_method(c):
    return malformed(c, BASE[1:])


@scenario
def missing_scheme(c):
    return malformed(c, [BASE[0]] + BASE[2:])


@scenario
def missing_path(c):
    return malformed(c, BASE[:3])


@scenario
def empty_path(c):
    return malformed(c, BASE[:3] + [(":path", "")])


@scenario
def path_not_absolute(c):
    return malformed(c, BASE[:3] + [(":path", "index.html")])


@scenario
def duplicate_method(c):
    return malformed(c, BASE + [(":method", "GET")])


@scenario
def pseudo_after_regular(c):
    return malformed(c, BASE[:3] + [("x-a", "b"), (":path", "/")])


@scenario
def unknown_pseudo(c):
    return malformed(c, BASE + [(":foo", "bar")])


@scenario
def status_in_a_request(c):
    return malformed(c, BASE + [(":status", "200")])


@scenario
def connect_is_not_served(c):
    return malformed(c, [(":method", "CONNECT"), (":authority", "localhost:443")])


@scenario
def unknown_method_is_501(c):
    return malformed(c, [(":method", "BREW")] + BASE[1:])


@scenario
def host_field_instead_of_authority(c):
    return malformed(c, [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"),
                         ("host", "localhost")])


# RFC 7541: header compression.
def raw_block(c, block):
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    return c.verdict(stream=1)


@scenario
def hpack_index_0(c):
    return raw_block(c, b"\x80")


@scenario
def hpack_index_past_the_tables(c):
    return raw_block(c, b"\xff\x80\x01")  # index 62 + 128 - 1: nothing there


@scenario
def hpack_table_size_update_above_the_limit(c):
    return raw_block(c, b"\x3f\xe2\x1f" + b"\x82\x87\x84")  # 4097


@scenario
def hpack_table_size_update_after_a_field(c):
    return raw_block(c, b"\x82\x20\x87\x84")


@scenario
def hpack_huffman_with_eos(c):
    # A literal value, Huffman-coded, holding the EOS symbol (30 ones).
    return raw_block(c, b"\x82\x87\x84\x41\x84\xff\xff\xff\xff")


@scenario
def hpack_huffman_padding_not_ones(c):
    return raw_block(c, b"\x82\x87\x84\x41\x81\x00")


@scenario
def hpack_huffman_padding_over_7_bits(c):
    return raw_block(c, b"\x82\x87\x84\x41\x82\x1f\xff")


@scenario
def hpack_static_and_dynamic_table_references_are_served(c):
    c.handshake()
    c.request(1, "/index.html", extra=[("x-custom", "value")])
    first = c.verdict(stream=1)
    # The encoder now refers to its dynamic table entries.
    c.request(3, "/index.html", extra=[("x-custom", "value")])
    return first + " then " + c.verdict(stream=3)


@scenario
def hpack_table_size_0_then_requests(c):
    c.handshake()
    c.encoder.header_table_size = 0
    c.request(1, "/index.html")
    return c.verdict(stream=1)


# Responses.
@scenario
def get_index(c):
    c.handshake()
    c.request(1, "/index.html")
    return c.verdict(stream=1)


@scenario
def head_index(c):
    c.handshake()
    c.request(1, "/index.html", "HEAD")
    return c.verdict(stream=1)


@scenario
def missing_file(c):
    c.handshake()
    c.request(1, "/no-such-file")
    return c.verdict(stream=1)


# ---- Scenarios with arguments (`name:arg:arg`): bodies, attacks, signals.

def send_body(c, stream, body, end=True):
    """Sends `body` on `stream` in DATA frames, within the windows the server gives."""
    window = {"conn": 65535, "stream": c.peer_initial}
    sent = 0
    deadline = time.monotonic() + 30
    while sent < len(body):
        room = min(window["conn"], window["stream"], 16384, len(body) - sent)
        if room <= 0:
            f = c.read_frame(deadline)
            if f is None:
                return False
            kind, flags, sid, payload = f
            if kind == WINDOW_UPDATE:
                inc = int.from_bytes(payload[:4], "big")
                if sid == 0:
                    window["conn"] += inc
                elif sid == stream:
                    window["stream"] += inc
            elif kind in (RST_STREAM, GOAWAY) or (sid == stream and flags & END_STREAM):
                return False
            continue
        last = sent + room == len(body)
        c.send(frame(DATA, END_STREAM if last and end else 0, stream, body[sent:sent + room]))
        sent += room
        window["conn"] -= room
        window["stream"] -= room
    return True


@scenario
def post(c, path, size, with_length="1"):
    """POST of `size` octets to `path` (content-length declared unless `with_length` is 0)."""
    c.handshake()
    size = int(size)
    extra = [("content-length", str(size))] if with_length == "1" else []
    c.request(1, path, "POST", extra=extra, end_stream=False)
    body = bytes((i * 7 + 3) % 251 for i in range(size))
    send_body(c, 1, body)
    return c.verdict(stream=1, text=True)


@scenario
def get_text(c, path):
    c.handshake()
    c.request(1, path)
    return c.verdict(stream=1, text=True)


@scenario
def rapid_reset(c, count):
    """Streams opened and reset at once, `count` of them, then whatever the server says."""
    c.handshake()
    batch = b""
    for n in range(int(count)):
        sid = 1 + 2 * n
        batch += frame(HEADERS, END_HEADERS | END_STREAM, sid, c.block(get_fields(c)))
        batch += frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
        if len(batch) > 32768:
            c.send(batch)
            batch = b""
    c.send(batch)
    c.read_until(lambda f: f[0] == GOAWAY, timeout=10)
    got = c.goaway()
    if got is None:
        return "no GOAWAY after %s resets" % count
    return "GOAWAY %s last<=%d" % (got[1], bound(got[0]))


def bound(last):
    """A stream id rounded up to the next hundred streams (for a stable verdict)."""
    streams = (last + 1) // 2
    return ((streams + 99) // 100) * 100 * 2 - 1


@scenario
def continuation_flood(c, count, size):
    c.handshake()
    block = c.block(get_fields(c))
    c.send(frame(HEADERS, END_STREAM, 1, block))
    filler = b"\x00" * int(size)  # an indexed... nothing: never decoded, never finished
    batch = b""
    for _ in range(int(count)):
        batch += frame(CONTINUATION, 0, 1, filler)
        if len(batch) > 32768:
            c.send(batch)
            batch = b""
    c.send(batch)
    return c.verdict()


@scenario
def hpack_bomb(c, refs):
    """One 4000-octet field in the dynamic table, then a request naming it `refs` times with
    one octet each: a header list `refs` times the size of what was sent."""
    c.handshake()
    c.request(1, "/index.html", extra=[("x-bomb", "b" * 4000)])
    first = c.verdict(stream=1)
    fields = get_fields(c) + [("x-bomb", "b" * 4000)] * int(refs)
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, c.block(fields)))
    return first + " then " + c.verdict(stream=3)


@scenario
def flood(c, kind, count):
    """`count` frames that do no work, sent without reading: SETTINGS, PING, empty DATA,
    WINDOW_UPDATE, PRIORITY or unknown."""
    c.handshake()
    one = {
        "settings": settings((4, 65535)),
        "ping": frame(PING, 0, 0, b"flooding"),
        "window_update": frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)),
        "priority": frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 15)),
        "unknown": frame(0x30, 0, 0, b""),
        "empty_data": frame(DATA, 0, 1, b""),
    }[kind]
    if kind == "empty_data":
        c.request(1, "/index.html", "POST", end_stream=False)
    batch = one * 256
    for _ in range(int(count) // 256):
        c.send(batch)
        if c.closed:
            break
    c.read_until(lambda f: f[0] == GOAWAY, timeout=10)
    got = c.goaway()
    return "GOAWAY " + got[1] if got else "no GOAWAY"


@scenario
def window_stall(c, big, small):
    """Our initial window is 0: the stream for `big` never gets any; the one for `small` gets
    a window of its own and must complete meanwhile."""
    c.handshake((4, 0))
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2 ** 30)))
    c.request(1, big)
    c.request(3, small)
    c.send(frame(WINDOW_UPDATE, 0, 3, struct.pack(">I", 2 ** 30)))
    small_verdict = c.verdict(stream=3)
    big_data = sum(len(f[3]) for f in c.frames if f[0] == DATA and f[2] == 1)
    return "small %s; big got %d octets" % (small_verdict, big_data)


@scenario
def never_read(c, path, streams, seconds):
    """`streams` requests for `path` with large windows, then nothing read for `seconds`."""
    c.handshake((4, 2 ** 31 - 1))
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2 ** 31 - 1 - 65535)))
    for n in range(int(streams)):
        c.request(1 + 2 * n, path)
    time.sleep(float(seconds))
    return "held"


@scenario
def goaway_on_signal(c, pid, signal_name, path):
    """A request for `path` (a slow one), then the signal to the server: its GOAWAY must name
    our stream as processed, and the stream must still complete."""
    import os
    import signal as signals
    c.handshake()
    c.request(1, path)
    c.read_until(lambda f: f[0] == HEADERS and f[2] == 1)
    os.kill(int(pid), getattr(signals, signal_name))
    stream = c.verdict(stream=1, timeout=15)
    c.read_until(lambda f: f[0] == GOAWAY, timeout=5)
    got = c.goaway()
    if got is None:
        return "no GOAWAY; stream " + stream
    ended = c.read_until(lambda f: False, timeout=5) is None and c.closed
    return "GOAWAY %s last=%d; stream %s%s" % (got[1], got[0], stream,
                                               "; closed" if ended else "")


@scenario
def goaway_after_reload(c, pid):
    import os
    import signal as signals
    c.handshake()
    c.request(1, "/index.html")
    c.verdict(stream=1)
    os.kill(int(pid), signals.SIGHUP)
    c.read_until(lambda f: f[0] == GOAWAY, timeout=3)
    got = c.goaway()
    return "GOAWAY %s last=%d" % (got[1], got[0]) if got else c.verdict()


@scenario
def idle(c, seconds, request="1"):
    """A request (none if `request` is 0), then nothing: the server's idle timeout (or header
    timeout) ends the connection with a GOAWAY within `seconds`."""
    c.handshake()
    if request == "1":
        c.request(1, "/index.html")
        c.verdict(stream=1)
    started = time.monotonic()
    c.read_until(lambda f: f[0] == GOAWAY, timeout=float(seconds))
    got = c.goaway()
    waited = time.monotonic() - started
    if got is None:
        return "no GOAWAY in %ss" % seconds
    closed = c.read_until(lambda f: False, timeout=3) is None and c.closed
    return "GOAWAY %s last=%d after %.0fs%s" % (got[1], got[0], waited,
                                                "; closed" if closed else "")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    tls = "--tls" in args
    names = [a for a in args if a != "--tls"] or list(SCENARIOS)
    for name in names:
        try:
            conn = Conn(host, port, tls)
            scenario_name, *scenario_args = name.split(":")
            verdict = SCENARIOS[scenario_name](conn, *scenario_args)
            conn.sock.close()
        except Exception as error:  # noqa: BLE001 (the verdict says what went wrong)
            verdict = "error: %r" % (error,)
        print("%s\t%s" % (name, verdict), flush=True)


if __name__ == "__main__":
    main()
