"""The local Azure on the wire: an HTTPS proxy on 127.0.0.1 that serves the Azure hosts itself, plus the admin API.

Clients reach it as a corporate network reaches Azure: HTTPS_PROXY=http://127.0.0.1:PORT and REQUESTS_CA_BUNDLE=<CA>.
`CONNECT host:443` for a served host is answered locally (TLS with a certificate of our CA for that host, then
keep-alive HTTP/1.1 turned into `framework.Request`s for `Sim.handle`). Any other host is refused: the local Azure
never opens a connection anywhere. Plain HTTP under /_sim/ is the admin API (log, reset, state, faults, config).
Faults and latency are applied here, before dispatch and outside `sim.lock`.
"""

from __future__ import annotations

import bisect
import copy
import email.utils
import itertools
import json
import math
import os
import random
import re
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.azure_sim import framework
from tests.azure_sim.ca import authority
from tests.azure_sim.framework import ARM_HOST, SERVED_HOSTS, Request, Response, Sim, iso, new_guid
from tests.sim.inproc import load_scenario as _load_named

WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")
FAULT_KINDS = ("latency", "throttle", "error", "drop")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
REFUSAL_REASON = "Forbidden (the local Azure serves only Azure hosts and never connects elsewhere)"
ERROR_BODIES = {
    # ARM's refusal of an action the caller's roles do not grant: code AuthorizationFailed, "The client '...' with object
    # id '...' does not have authorization to perform action '...' over scope '...' or the scope is invalid."
    # (learn.microsoft.com/azure/role-based-access-control/troubleshooting, "AuthorizationFailed"). Not retried.
    403: ("AuthorizationFailed", "The client does not have authorization to perform this action over this scope or the scope is invalid."),
    500: ("InternalServerError", "Encountered internal server error. Diagnostic information: timestamp '{ts}'."),
    502: ("BadGateway", "The gateway did not receive a response from 'Microsoft.Compute' within the specified time period."),
    503: ("ServerBusy", "The server is currently unable to receive requests. Please retry your request."),
    504: ("GatewayTimeout", "The gateway did not receive a response from the resource provider within the specified time period."),
}


def refusal_text(host: str) -> str:
    return (f"The local Azure serves only {', '.join(SERVED_HOSTS)}; it never connects elsewhere. "
            f"Refused: {host}\n")


def load_scenario(scenario) -> dict:
    """A scenario dict from a dict, a name under tests/azure_sim/scenarios/ or a path to a .yml file."""
    if isinstance(scenario, dict):
        return copy.deepcopy(scenario)
    if os.path.exists(scenario):
        import yaml
        with open(scenario, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    return _load_named(scenario)


def json_safe(value, depth: int = 0):
    """Plain JSON data from sim state: sets and tuples become lists, datetimes ISO strings, other keys and objects str."""
    if depth > 32:  # an object graph that loops back on itself
        return str(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "__dict__"):
        return json_safe({k: v for k, v in vars(value).items() if not k.startswith("_") and not callable(v)}, depth + 1)
    return str(value)


# --------------------------------------------------------------------------------------------------- faults


class Rule:
    """One fault: what it does (kind) and when (host/method/path regexes, a rate, a count)."""

    def __init__(self, spec: dict):
        unknown = set(spec) - {"kind", "host", "method", "path", "rate", "count", "after", "latency_ms", "retry_after", "status"}
        if unknown:
            raise ValueError(f"unknown keys in fault rule: {sorted(unknown)}")
        self.kind = spec.get("kind")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault rule kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        self.spec = dict(spec)
        self.patterns = [(field, re.compile(spec[field], re.I)) for field in ("host", "method", "path") if spec.get(field)]
        self.rate = float(spec.get("rate", 1.0))
        self.remaining = int(spec["count"]) if spec.get("count") is not None else None
        self.passed = int(spec.get("after", 0))  # matching requests let through before the rule may fire
        self.latency_ms = float(spec.get("latency_ms", 0))
        self.retry_after = spec.get("retry_after", 1)
        self.status = int(spec.get("status", 429 if self.kind == "throttle" else 503))

    def matches(self, fields: dict) -> bool:
        return all(pattern.search(fields[field]) for field, pattern in self.patterns)

    def fires(self, rnd: random.Random, fields: dict) -> bool:
        if self.remaining == 0 or not self.matches(fields):
            return False
        if self.passed > 0:
            self.passed -= 1
            return False
        if self.rate < 1.0 and rnd.random() >= self.rate:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True

    def describe(self) -> dict:
        return {**self.spec, "remaining": self.remaining}


class WriteBudget:
    """ARM's per-subscription write quota, simplified: one bucket that refills at a steady rate."""

    def __init__(self, spec: dict):
        self.capacity = float(spec.get("capacity", 1200))
        self.rate = float(spec.get("refill_per_second", 1.0))
        self.level = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> int | None:
        """Spend one write; the writes left, or None when the budget is empty."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level < 1:
            return None
        self.level -= 1
        return int(self.level)

    def retry_after(self) -> int:
        return max(1, math.ceil((1 - self.level) / self.rate)) if self.rate > 0 else 60


class Faults:
    """The active fault set (see README: POST /_sim/faults). Decisions are seeded, so runs repeat."""

    def __init__(self, spec: dict | None = None):
        self.lock = threading.Lock()
        self.set(spec or {})

    def set(self, spec: dict):
        unknown = set(spec) - {"seed", "latency_ms", "rules", "write_budget"}
        if unknown:
            raise ValueError(f"unknown keys in faults: {sorted(unknown)}")
        rules = [Rule(r) for r in spec.get("rules") or []]
        budget = WriteBudget(spec["write_budget"]) if spec.get("write_budget") else None
        with self.lock:
            self.spec = copy.deepcopy(spec)
            self.random = random.Random(spec.get("seed", 0))
            self.latency_ms = float(spec.get("latency_ms", 0))
            self.rules = rules
            self.budget = budget

    def describe(self) -> dict:
        with self.lock:
            out = {k: v for k, v in self.spec.items() if k != "rules"}
            out["rules"] = [rule.describe() for rule in self.rules]
            if self.budget:
                out["write_budget_level"] = self.budget.level
            return out

    def decide(self, req: Request) -> tuple[float, Rule | None]:
        """Latency to add (ms) and the failing rule that fires first, if any."""
        fields = {"host": req.host, "method": req.method, "path": req.path}
        with self.lock:
            latency = self.latency_ms
            failing = None
            for rule in self.rules:
                if rule.kind == "latency":
                    latency += rule.latency_ms if rule.fires(self.random, fields) else 0
                elif failing is None and rule.fires(self.random, fields):
                    failing = rule
            return latency, failing

    def spend_write(self, req: Request) -> tuple[int | None, int]:
        """For an ARM write under a write budget: (writes left or None when throttled, retry-after seconds)."""
        if req.host != ARM_HOST or req.method not in WRITE_METHODS:
            return -1, 0
        with self.lock:
            if self.budget is None:
                return -1, 0
            left = self.budget.take()
            return left, (self.budget.retry_after() if left is None else 0)


def throttled(retry_after, remaining_header: str | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)}
    if remaining_header:
        headers[remaining_header] = "0"
    return Response(429, {"error": {"code": "TooManyRequests",
                                    "message": "The request is being throttled as the limit has been reached for operation type. "
                                               f"Please retry after {retry_after} seconds."}}, headers)


def fault_response(rule: Rule) -> Response:
    if rule.kind == "throttle":
        return throttled(rule.retry_after)
    code, message = ERROR_BODIES.get(rule.status, ("InternalServerError", "Encountered internal server error."))
    headers = {"Retry-After": str(rule.retry_after)} if rule.status == 503 and rule.spec.get("retry_after") is not None else {}
    return Response(rule.status, {"error": {"code": code, "message": message.format(ts=iso(Sim.now()))}}, headers)


# --------------------------------------------------------------------------------------------------- request log


class RequestLog:
    """Every Azure request the proxy answered (or refused), with a sequence number that never goes back."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: list[dict] = []
        self._seq = itertools.count(1)

    def add(self, entry: dict):
        with self.lock:
            entry["seq"] = next(self._seq)
            self.entries.append(entry)

    def since(self, seq: int = 0) -> list[dict]:
        with self.lock:
            start = bisect.bisect_right(self.entries, seq, key=lambda e: e["seq"])
            return [dict(e) for e in self.entries[start:]]

    def clear(self):
        with self.lock:
            self.entries.clear()


# --------------------------------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalAzure/1.0"
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections and stalled handshakes end after this
    tunnel_host: str | None = None
    tls = None

    def log_message(self, format, *args):  # noqa: A002  (the log is /_sim/requests)
        pass

    def setup(self):
        super().setup()
        self.server.app.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.app.track(self.connection, False)
            if self.tls is not None:
                self.tls.close()

    # ---- CONNECT: a served host is answered here; anything else is refused, never forwarded

    def do_CONNECT(self):
        host = self.path.rsplit(":", 1)[0].strip("[]").lower() if ":" in self.path else self.path.lower()
        if not framework.host_is_served(host):
            self.server.app.log.add(log_entry("CONNECT", host, "", "", 403, 0.0, None, None))
            self.send_text(403, refusal_text(host), close=True, reason=REFUSAL_REASON)
            return
        self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        try:
            tls = self.server.app.ca.context(host).wrap_socket(self.connection, server_side=True)
        except (OSError, ValueError):  # the client gave up or does not trust our CA
            self.close_connection = True
            return
        self.server.app.track(self.connection, False)
        self.server.app.track(tls, True)
        self.tls = self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)
        self.tunnel_host = host
        self.close_connection = False

    # ---- every other method: an Azure request inside a tunnel, or plain HTTP (the admin API)

    def dispatch(self):
        body = self.read_body()
        if self.tunnel_host:
            self.server.app.serve_azure(self, self.tunnel_host, self.path, body)
            return
        target = self.path
        if "://" in target:  # absolute form: a proxy request for plain HTTP
            parts = urlsplit(target)
            if (parts.hostname or "") not in LOOPBACK:
                self.server.app.log.add(log_entry(self.command, parts.hostname or "", parts.path, parts.query, 403, 0.0, None, None))
                self.send_text(403, refusal_text(parts.hostname or target), reason=REFUSAL_REASON)
                return
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        if target.startswith("/_sim/") or target == "/_sim":
            try:
                status, payload = self.server.app.admin(self.command, target, body)
            except Exception as exc:  # a defect must not cost the caller its connection
                traceback.print_exc(file=sys.stderr)
                status, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
            self.send(Response(status, payload))
        else:
            self.send_text(404, "This is the local Azure's proxy: use it as HTTPS_PROXY; its admin API is under /_sim/.\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, response: Response, close: bool = False, reason: str = ""):
        """Write a whole response at once: status line, headers, body (one write keeps keep-alive fast)."""
        body = response.encode()
        headers = dict(response.headers)
        names = {k.lower() for k in headers}
        if body and "content-type" not in names:
            is_json = response.body is not None and not isinstance(response.body, (str, bytes, bytearray))
            headers["Content-Type"] = "application/json; charset=utf-8" if is_json else "text/plain; charset=utf-8"
        if response.status in (204, 304) or 100 <= response.status < 200:
            body = b""
        else:
            headers["Content-Length"] = str(len(body))
        headers.setdefault("Date", email.utils.formatdate(usegmt=True))
        if close or self.close_connection:
            headers["Connection"] = "close"
            self.close_connection = True
        try:
            reason = reason or HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.wfile.write(head.encode("latin-1") + (b"" if self.command == "HEAD" else body))

    def send_text(self, status: int, text: str, close: bool = False, reason: str = ""):
        self.send(Response(status, text), close=close, reason=reason)


def log_entry(method, host, path, query, status, duration_ms, fault, principal, latency_ms=0.0) -> dict:
    return {"seq": 0, "time": iso(Sim.now()), "method": method, "host": host, "path": path, "query": query,
            "status": status, "duration_ms": round(duration_ms, 3), "fault": fault, "principal": principal,
            "latency_ms": latency_ms}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # a client that hangs up or fails its TLS handshake is not the local Azure's defect: no traceback for it
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)

    def server_bind(self):
        # HTTPServer.server_bind would look the host name up (getfqdn); the local Azure makes no lookups.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# --------------------------------------------------------------------------------------------------- the server


class SimServer:
    """A local Azure on 127.0.0.1: `with SimServer("demo") as srv: os.environ.update(srv.env)`."""

    def __init__(self, scenario="demo", params: dict | None = None, port: int = 0, state_dir: str | None = None):
        self.scenario = load_scenario(scenario)
        self.sim = Sim(self.scenario, params)
        self.ca = authority(state_dir)
        self.log = RequestLog()
        self.faults = Faults(self.scenario.get("faults") or {})
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set = set()
        self._conns_lock = threading.Lock()

    # ---- life cycle

    def start(self) -> "SimServer":
        self._httpd = _Server(("127.0.0.1", self._port), _Handler)
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"local-azure-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:  # wake handler threads blocked on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def track(self, conn, alive: bool):
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    # ---- what clients need

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def address(self) -> tuple:
        """The (host, port) the server socket is bound to."""
        return self._httpd.socket.getsockname()[:2]

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_sim"

    @property
    def env(self) -> dict:
        """The environment a client needs: the proxy, the CA, and the scenario's default service principal."""
        principal = self.sim.default_principal
        proxy = f"http://127.0.0.1:{self.port}"
        return {
            "HTTPS_PROXY": proxy, "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": self.ca.ca_file,
            "AZURE_SUBSCRIPTION_ID": self.scenario["subscriptions"][0]["id"],
            "AZURE_CLIENT_ID": principal["app_id"],
            "AZURE_SECRET": principal.get("secret", ""),
            "AZURE_TENANT": self.sim.tenant_id,
        }

    def requests(self, since: int = 0) -> list[dict]:
        return self.log.since(since)

    def clear_requests(self):
        self.log.clear()

    def set_faults(self, spec: dict | None):
        self.faults.set(spec or {})

    def reset(self):
        """State back to the scenario, log cleared, faults back to the scenario's (normally none)."""
        self.sim.reset()
        self.faults.set(self.scenario.get("faults") or {})
        self.log.clear()

    # ---- the Azure side

    def serve_azure(self, handler: _Handler, host: str, target: str, body: bytes):
        started = time.monotonic()
        req = Request(handler.command, host, target, dict(handler.headers.items()), body)
        latency_ms, rule = self.faults.decide(req)
        if latency_ms > 0:
            time.sleep(latency_ms / 1000.0)
        left, retry_after = (-1, 0) if rule else self.faults.spend_write(req)
        fault = rule.kind if rule else None
        if rule and rule.kind == "drop":
            response = None
        elif rule:
            response = fault_response(rule)
        elif left is None:
            fault = "write_budget"
            response = throttled(retry_after, "x-ms-ratelimit-remaining-subscription-writes")
        else:
            response = self.call_sim(req)
            if left >= 0:
                response.headers["x-ms-ratelimit-remaining-subscription-writes"] = str(left)
        if response is not None:
            response.headers.setdefault("x-ms-request-id", new_guid())
            response.headers.setdefault("x-ms-correlation-request-id", req.headers.get("x-ms-correlation-request-id") or new_guid())
        principal = (req.caller or {}).get("oid")
        duration = (time.monotonic() - started) * 1000.0
        self.log.add(log_entry(req.method, req.host, req.path, target.partition("?")[2],
                               response.status if response else None, duration, fault, principal, latency_ms))
        if response is None:  # dropped: close without a word
            handler.close_connection = True
            return
        handler.send(response)

    def call_sim(self, req: Request) -> Response:
        try:
            return self.sim.handle(req)
        except Exception as exc:  # a defect in a family: answer like ARM does, and show it on stderr
            traceback.print_exc(file=sys.stderr)
            return Response(500, {"error": {"code": "InternalServerError",
                                            "message": f"The local Azure failed: {type(exc).__name__}: {exc}"}})

    # ---- the admin API

    def admin(self, method: str, target: str, body: bytes) -> tuple[int, object]:
        path, sep, query = target.partition("?")
        args = {k: v[-1] for k, v in parse_qs(query).items()}
        route = (method, path.rstrip("/"))
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return 400, {"error": f"the body is not JSON: {exc}"}
        if route == ("GET", "/_sim/health"):
            return 200, {"status": "ok", "scenario": self.scenario.get("name"), "port": self.port}
        if route == ("GET", "/_sim/requests"):
            return 200, self.requests(int(args.get("since", 0) or 0))
        if route == ("DELETE", "/_sim/requests"):
            self.clear_requests()
            return 200, {"cleared": True}
        if route == ("POST", "/_sim/reset"):
            self.reset()
            return 200, {"reset": True}
        if route == ("GET", "/_sim/state"):
            with self.sim.lock:
                return 200, json_safe({"store": self.sim.store.dump(), "ext": self.sim.ext, "config": self.sim.config})
        if route == ("GET", "/_sim/faults"):
            return 200, self.faults.describe()
        if route == ("POST", "/_sim/faults"):
            try:
                self.set_faults(data)
            except (ValueError, TypeError, re.error) as exc:
                return 400, {"error": str(exc)}
            return 200, self.faults.describe()
        if route == ("GET", "/_sim/config"):
            return 200, json_safe(self.sim.config)
        if route == ("POST", "/_sim/config"):
            return self.update_config(data)
        return 404, {"error": f"no admin API {method} {path}",
                     "api": ["GET /_sim/health", "GET|DELETE /_sim/requests[?since=SEQ]", "POST /_sim/reset", "GET /_sim/state",
                             "GET|POST /_sim/faults", "GET|POST /_sim/config"]}

    def update_config(self, data) -> tuple[int, object]:
        if not isinstance(data, dict):
            return 400, {"error": "the body must be a JSON object of config keys"}
        with self.sim.lock:
            for key, value in data.items():
                current = self.sim.config.get(key)
                try:
                    self.sim.config[key] = type(current)(value) if isinstance(current, (int, float)) and not isinstance(current, bool) else value
                except (TypeError, ValueError):
                    return 400, {"error": f"config {key} must be a number"}
            return 200, json_safe(self.sim.config)
