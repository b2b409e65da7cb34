#!/usr/bin/env python3
"""The lab's STIR/SHAKEN certificate repository: an HTTPS server for x5u URLs and the CRL their
certificates name (identity_verified).

  x5u_server.py --port 8443 --path /NAME.pem --file configs/lab-stir-cert.pem
                [--also /OTHER.pem=configs/lab-stir-cert-cdp.pem ...]
                [--crl /lab-stir.crl=configs/lab-stir.crl ...]
                [--bind 127.0.0.1] [--cert configs/lab-x5u-tls.pem] [--key configs/lab-stir.key]
                [--report FILE] [--max-seconds 300]

Serves the PEM certificates of --file (only the -----BEGIN/END CERTIFICATE----- blocks: an
application/pem-certificate-chain body carries no explanatory text, RFC 8555 9.1; the lab's files
start with a comment) at --path, and those of each --also PATH=FILE at its PATH, as
`application/pem-certificate-chain`; and each --crl PATH=FILE at its PATH as a DER CRL,
`application/pkix-crl` (RFC 5280 4.2.1.13: a CRL distribution point's HTTP URL serves DER; the
first -----BEGIN/END X509 CRL----- block of FILE, base64-decoded). All over HTTPS (TLS certificate
--cert, issued by the lab CA for IP 127.0.0.1, key --key), 200, `Cache-Control: max-age=3600`; any
other path gets 404, any other method 405. Only loopback addresses may be bound: the lab test runs
it in sf-sbc, where the appliance's kernel loopback is. Stdlib only (http.server, ssl, base64).

Every request is counted before it is answered; --report FILE gets, whole or not at all (a temp
file, then os.replace), after start-up (so a test can wait for it: the server listens by then) and
with every request:
  {"listening": "127.0.0.1:8443", "path": ..., "gets": N (GETs of --path answered 200),
   "gets_by_path": {PATH: N} (GETs answered 200, for every served path: --path, --also, --crl;
   0 until asked for), "requests": N (every request, any path or method), "tls_failures": N
   (connections whose TLS handshake or request failed), "log": [{"time", "method", "path",
   "status", "client"}] (first 64), "stopped": bool}
and a line per request goes to stdout. SIGTERM or SIGINT (or --max-seconds, default 300, a bound
for a server a test forgot) ends it: a last report with stopped true, exit 0.
"""
import argparse
import base64
import binascii
import ipaddress
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTENT_TYPE = "application/pem-certificate-chain"
CRL_CONTENT_TYPE = "application/pkix-crl"  # RFC 2585 4.2: a DER CRL
LOG_MAX = 64
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----\r?\n?", re.S)
PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----\r?\n(.*?)-----END X509 CRL-----", re.S)


class Stop(Exception):
    pass


def pem_certificates(path):
    """The certificate blocks of a PEM file, without the text around them."""
    with open(path, "rb") as f:
        blocks = PEM_CERT.findall(f.read())
    return b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blocks)


def der_crl(path):
    """The first CRL of a PEM file as DER (b"" when there is none or it is no base64)."""
    with open(path, "rb") as f:
        m = PEM_CRL.search(f.read())
    if not m:
        return b""
    try:
        der = base64.b64decode(b"".join(m.group(1).split()), validate=True)
    except binascii.Error:
        return b""
    return der if der[:1] == b"\x30" else b""  # a DER SEQUENCE, or not a CRL at all


class State:
    def __init__(self, report, listening, path, paths):
        self.lock = threading.Lock()
        self.report = report
        self.path = path
        self.data = {"listening": listening, "path": path, "gets": 0, "gets_by_path": {p: 0 for p in paths},
                     "requests": 0, "tls_failures": 0, "log": [], "stopped": False}

    def write(self):
        """The report, whole or not at all (caller holds the lock)."""
        if not self.report:
            return
        tmp = f"{self.report}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.report)

    def request(self, method, path, status, client, served):
        with self.lock:
            self.data["requests"] += 1
            if served:
                self.data["gets_by_path"][path] += 1
                if path == self.path:
                    self.data["gets"] += 1
            if len(self.data["log"]) < LOG_MAX:
                self.data["log"].append({"time": time.time(), "method": method, "path": path, "status": status,
                                         "client": client})
            self.write()
        print(f"x5u_server: {client} {method} {path} -> {status}", flush=True)

    def tls_failure(self, client, why):
        with self.lock:
            self.data["tls_failures"] += 1
            self.write()
        print(f"x5u_server: {client}: {why}", flush=True)


def make_handler(state, routes):
    """routes: {path: (body, content type)}."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5  # seconds a connection may stay silent (also in the TLS handshake)

        def version_string(self):
            return "sipferry-lab-x5u"

        def setup(self):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # here, in the connection's thread, not in accept()
            super().setup()

        def _answer(self, status, payload, ctype, served):
            # Counted (and reported) before the answer goes out: whoever got an answer finds the
            # request in the report already.
            state.request(self.command, self.path, status, self.client_address[0], served)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "max-age=3600")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def do_GET(self):
            if self.path in routes:
                body, ctype = routes[self.path]
                self._answer(200, body, ctype, self.command == "GET")
            else:
                self._answer(404, b"not found\n", "text/plain", False)

        def do_HEAD(self):
            self.do_GET()

        def _not_allowed(self):
            self.close_connection = True
            self._answer(405, b"method not allowed\n", "text/plain", False)

        do_POST = do_PUT = do_DELETE = do_OPTIONS = _not_allowed

        def log_message(self, fmt, *args):  # one line per request comes from state.request
            pass

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state = None  # the State, once the listening address is known

    def handle_error(self, request, client_address):
        why = sys.exc_info()[1]
        self.state.tls_failure(client_address[0] if client_address else "?", f"{type(why).__name__}: {why}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True, help="the URL path served, e.g. /sipferry-lab.pem")
    ap.add_argument("--file", required=True, help="PEM file whose certificates are served")
    ap.add_argument("--also", action="append", default=[], metavar="PATH=FILE",
                    help="one more path, serving the certificates of a PEM file as --file does (repeatable)")
    ap.add_argument("--crl", action="append", default=[], metavar="PATH=FILE",
                    help="a path serving the X509 CRL of a PEM file as DER, application/pkix-crl (repeatable)")
    ap.add_argument("--cert", default=os.path.join(ROOT, "configs", "lab-x5u-tls.pem"))
    ap.add_argument("--key", default=os.path.join(ROOT, "configs", "lab-stir.key"))
    ap.add_argument("--report", default="")
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()
    try:
        if not ipaddress.ip_address(a.bind).is_loopback:
            ap.error(f"--bind {a.bind}: only loopback addresses (the lab's traffic stays on the box)")
    except ValueError:
        ap.error(f"--bind {a.bind}: not an IP address")
    routes = {}  # path -> (body, content type); --path first

    def add(option, path, file, read, ctype, what):
        if not path.startswith("/"):
            ap.error(f"{option} {path}: the path must start with /")
        if path in routes:
            ap.error(f"{option} {path}: served twice")
        try:
            body = read(file)
        except OSError as e:
            ap.error(f"{option} {file}: {e}")
        if not body:
            ap.error(f"{option} {file}: no {what} in it")
        routes[path] = (body, ctype)

    add("--path", a.path, a.file, pem_certificates, CONTENT_TYPE, "PEM certificate")
    for option, values, read, ctype, what in (("--also", a.also, pem_certificates, CONTENT_TYPE, "PEM certificate"),
                                              ("--crl", a.crl, der_crl, CRL_CONTENT_TYPE, "PEM X509 CRL")):
        for value in values:
            path, sep, file = value.partition("=")
            if not sep or not file:
                ap.error(f"{option} {value}: wanted PATH=FILE")
            add(option, path, file, read, ctype, what)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # A client that closes its keep-alive connection without close_notify is no TLS failure.
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    ctx.load_cert_chain(a.cert, a.key)
    httpd = Server((a.bind, a.port), BaseHTTPRequestHandler)  # its handler follows once `state` exists
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    state = State(a.report, f"{a.bind}:{httpd.server_address[1]}", a.path, routes)
    httpd.state = state
    httpd.RequestHandlerClass = make_handler(state, routes)

    def on_signal(signum, _frame):
        raise Stop(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.setitimer(signal.ITIMER_REAL, a.max_seconds)
    with state.lock:
        state.write()
    files = dict([(a.path, a.file)] + [v.partition("=")[::2] for v in a.also + a.crl])
    for path, (body, ctype) in routes.items():
        print(f"x5u_server: serving {files[path]} ({len(body)} bytes, {ctype}) at "
              f"https://{state.data['listening']}{path}", flush=True)
    why = "?"
    try:
        httpd.serve_forever(poll_interval=0.2)
    except Stop as e:
        why = str(e)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        httpd.server_close()
        with state.lock:
            state.data["stopped"] = True
            state.write()
    print(f"x5u_server: stopped ({why}); GETs {state.data['gets_by_path']}, {state.data['requests']} requests",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
