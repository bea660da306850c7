"""The project URL's gateway, doing what Supabase's own (Kong) does and nothing more: /rest/v1/* →
PostgREST behind a key check (`apikey` header or query parameter must be one of the project's
keys; without Authorization the apikey becomes the bearer), /storage/v1/* → the Storage server
without a key check (public and signed URLs carry none; the server judges the JWT), anything else
404. Plus the fault injection the retry tests need. It always reads a request's body before
answering, so an early 401/404 leaves a keep-alive connection usable."""

from __future__ import annotations

import http.client
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "host", "content-length"}
NO_KEY = {"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."}
BAD_KEY = {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}
NO_ROUTE = {"message": "no Route matched with those values"}


class Gateway(BaseHTTPRequestHandler):
    """`stack` (set by a subclass) holds the keys, the upstream ports, the fault counters:
    `fail_next` answers the next requests (either route) with a 503; `fail_storage_deletes` answers
    every Storage DELETE with a 503 while it is set (a fault that starts exactly at a job's deletes,
    whichever thread sends them), `fail_uploads_to` (a bucket) every upload into that bucket; `reset_next` drops the next
    connections without an answer; `stall_next` holds the next requests for `stall_seconds` before
    passing them on (a client's timeout, while the request still lands). Storage requests are
    logged as (method, path) in `stack.storage_requests`."""

    protocol_version = "HTTP/1.1"
    stack = None
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args) -> None:  # quiet
        pass

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _handle(self) -> None:
        s = self.stack
        body = self._read_body()  # first: whatever the answer, the connection stays in step
        url = urlsplit(self.path)
        if url.path.startswith("/rest/v1/"):
            key = self.headers.get("apikey") or (parse_qs(url.query).get("apikey") or [None])[0]
            if not key:
                return self._reply(401, NO_KEY)
            if key not in (s.anon_key, s.service_key):
                return self._reply(401, BAD_KEY)
            query = "&".join(p for p in url.query.split("&") if p and not p.startswith("apikey="))
            port, path = s.postgrest_port, url.path[len("/rest/v1"):] + (f"?{query}" if query else "")
        elif url.path.startswith("/storage/v1/"):
            key = self.headers.get("apikey")
            port, path = s.storage.port, self.path[len("/storage/v1"):]
            s.storage_requests.append((self.command, url.path[len("/storage/v1"):]))
        else:
            return self._reply(404, NO_ROUTE)
        with s.fault_lock:
            fail, reset = s.fail_next > 0, s.fail_next <= 0 and s.reset_next > 0
            injected = fail or (s.fail_storage_deletes and self.command == "DELETE" and port == s.storage.port) or (
                s.fail_uploads_to and self.command == "POST" and url.path.startswith(f"/storage/v1/object/{s.fail_uploads_to}/"))
            stall = not fail and not reset and s.stall_next > 0
            s.fail_next -= fail
            s.reset_next -= reset
            s.stall_next -= stall
        if injected:  # an injected fault, for retry tests
            return self._reply(503, {"message": "upstream unavailable (injected)"})
        if reset:  # the connection dies without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if stall:
            time.sleep(s.stall_seconds)
        headers = {h: v for h, v in self.headers.items() if h.lower() not in HOP_BY_HOP}
        if not self.headers.get("Authorization") and key:
            headers["Authorization"] = f"Bearer {key}"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request(self.command, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            status, out = r.status, r.getheaders()
        finally:
            conn.close()
        self.send_response(status)
        for h, v in out:
            if h.lower() not in HOP_BY_HOP | {"server", "date"} or (h.lower() == "content-length" and
                                                                     self.command == "HEAD"):
                self.send_header(h, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reply(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle
