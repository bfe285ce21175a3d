"""The core of the local Azure: requests, responses, routing, the resource store, time, operations, tokens.

Everything here is transport-free: `Sim.handle(Request)` returns a `Response`. The HTTPS proxy in `server.py` turns
bytes into `Request` objects and back. Resource families (`features.py`, `compute.py`, ...) register routes on
`ROUTER` and scenario seeders with `@seeder` when they are imported (see `families.py`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import heapq
import hmac
import itertools
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote, urlencode

ARM_HOST = "management.azure.com"
LOGIN_HOST = "login.microsoftonline.com"
GRAPH_HOST = "graph.microsoft.com"
VAULT_HOST_RE = re.compile(r"(?P<vault>[a-z0-9-]+)\.vault\.azure\.net")
HSM_HOST_RE = re.compile(r"(?P<hsm>[a-z0-9-]+)\.managedhsm\.azure\.net")
# ARM takes tokens for either audience: GET /metadata/endpoints lists both in authentication.audiences (AZURE-WIRE-NOTES
# section 5); the az CLI and older SDKs ask for https://management.core.windows.net/.
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
SERVED_HOSTS = (ARM_HOST, LOGIN_HOST, GRAPH_HOST, "*.vault.azure.net", "*.managedhsm.azure.net")

BACKUP_MANAGEMENT_SERVICE_APP_ID = "262044b1-e2ce-469f-a196-69ab7ada62d3"


def host_is_served(host: str) -> bool:
    host = host.lower()
    return host in (ARM_HOST, LOGIN_HOST, GRAPH_HOST) or bool(VAULT_HOST_RE.fullmatch(host) or HSM_HOST_RE.fullmatch(host))


# --------------------------------------------------------------------------------------------------- errors


class SimError(Exception):
    """An error answer. Default body is the ARM shape {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None, body=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.body = body if body is not None else {"error": {"code": code, "message": message}}


def not_found(rid: str, kind: str = "Resource") -> SimError:
    return SimError(404, "ResourceNotFound", f"The {kind} '{rid}' was not found.")


def bad_request(message: str, code: str = "BadRequest") -> SimError:
    return SimError(400, code, message)


# --------------------------------------------------------------------------------------------------- request/response


class Request:
    def __init__(self, method: str, host: str, target: str, headers: dict | None = None, body: bytes = b""):
        self.method = method.upper()
        self.host = host.lower().split(":")[0]
        self.target = target
        raw_path, sep, raw_query = target.partition("?")
        self.raw_path = raw_path
        # The Python SDK percent-encodes ';' in backup names (%3B); JS sends '///' for HSM scope '/'.
        self.path = re.sub(r"/{2,}", "/", unquote(raw_path)) or "/"
        if len(self.path) > 1:
            self.path = self.path.rstrip("/") or "/"
        self.query: dict[str, str] = {}
        for part in raw_query.split("&") if raw_query else []:
            key, sep, value = part.partition("=")
            self.query[unquote(key.replace("+", " "))] = unquote(value.replace("+", " "))
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = body or b""
        self.caller: dict | None = None  # token claims, set by Sim.authenticate
        self.match: dict = {}

    def q(self, name: str, default=None):
        low = name.lower()
        for key, value in self.query.items():
            if key.lower() == low:
                return value
        return default

    def json(self) -> dict:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"The request content was invalid and could not be deserialized: {exc}",
                              "InvalidRequestContent") from exc

    def form(self) -> dict:
        out = {}
        for part in self.body.decode().split("&") if self.body else []:
            key, sep, value = part.partition("=")
            out[unquote(key.replace("+", " "))] = unquote(value.replace("+", " "))
        return out

    @property
    def base_url(self) -> str:
        return f"https://{self.host}"

    def url(self, path: str, **query) -> str:
        """An absolute URL on this request's host (for nextLink, Location, Azure-AsyncOperation)."""
        query.setdefault("api-version", self.q("api-version", "2024-01-01"))
        return f"https://{self.host}{path}?{urlencode(query)}"


class Response:
    def __init__(self, status: int = 200, body=None, headers: dict | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


# --------------------------------------------------------------------------------------------------- routing


class Router:
    """Routes by method, host regex and path regex (fullmatch, case-insensitive; named groups become kwargs)."""

    def __init__(self):
        self.routes: list[tuple[str, re.Pattern, re.Pattern, object]] = []

    def route(self, method: str, host: str, path: str):
        def deco(fn):
            self.routes.append((method.upper(), re.compile(host, re.I), re.compile(path, re.I), fn))
            return fn
        return deco

    def dispatch(self, sim: "Sim", req: Request) -> Response:
        path_matched = False
        for method, host_re, path_re, fn in self.routes:
            hm = host_re.fullmatch(req.host)
            if not hm:
                continue
            pm = path_re.fullmatch(req.path)
            if not pm:
                continue
            path_matched = True
            if method != req.method:
                continue
            req.match = {**hm.groupdict(), **pm.groupdict()}
            op = strict_request(sim, req, fn)
            result = fn(sim, req, **req.match)
            if isinstance(result, tuple):
                result = Response(*result)
            elif not isinstance(result, Response):
                result = Response(200, result)
            strict_response(sim, req, fn, op, result)
            return result
        if path_matched:
            raise SimError(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed on '{req.path}'.")
        raise SimError(404, "InvalidResourceType" if req.host == ARM_HOST else "NotFound",
                       f"The local Azure has no API for {req.method} {req.host}{req.path}.")


class ResponseModelError(AssertionError):
    """The local Azure answered with a body its SDK model does not allow: a defect of the simulator that must fail
    the test that caused it (raised in-process; over the wire the proxy answers 500 and records it in sim.violations)."""


def strict_request(sim: "Sim", req: Request, fn):
    """Before a handler runs: its operation is declared (operations.py), the api-version is one its family publishes
    (api_versions.yml), and the request body fits the SDK model of the operation (validation.py)."""
    from . import api_versions, operations, validation

    op = operations.lookup(fn, req.match)
    if op is None:
        fail_response(sim, req, [f"operation {operations.operation_key(fn)} has no declaration in operations.py"])
    api_versions.check(req, op.family)
    if op.exempt or op.request is None or req.method in ("GET", "HEAD", "DELETE") and op.request == operations.EMPTY:
        return op
    if op.request == operations.EMPTY:
        if req.body.strip():
            raise bad_request("The request content was invalid and could not be deserialized: this operation takes "
                              "no request body.", "InvalidRequestContent")
        return op
    problems = validation.check(op.request, req.json(), "request")
    if problems:
        # ARM's code and prefix for a body it cannot deserialize (framework Request.json); naming the property path
        # follows Json.NET's "Could not find member 'x' on object of type 'T'. Path 'x'" (the RPs' deserializer).
        # Whether a given RP refuses (rather than ignores) an unknown property is UNVERIFIED per RP.
        raise bad_request("The request content was invalid and could not be deserialized: "
                          + "; ".join(problems[:5]), "InvalidRequestContent")
    return op


def strict_response(sim: "Sim", req: Request, fn, op, response: Response):
    """After a handler ran: a 2xx body fits the operation's response model."""
    from . import operations, validation

    if op.exempt or op.response is None or not 200 <= response.status < 300 or response.body is None:
        return
    if op.response == operations.EMPTY:
        problems = [f"$: {operations.operation_key(fn)} answers with no body, got {type(response.body).__name__}"]
    elif isinstance(response.body, (bytes, str)):
        problems = ["$: expected a JSON body"]
    else:
        problems = validation.check(op.response, response.body, "response")
    if problems:
        fail_response(sim, req, problems)


def fail_response(sim: "Sim", req: Request, problems: list[str]):
    text = f"{req.method} {req.host}{req.path}: " + "; ".join(problems[:5])
    sim.violations.append(text)
    raise ResponseModelError("LOCAL-AZURE-RESPONSE-INVALID " + text)


ROUTER = Router()
SEEDERS: list[tuple[int, object]] = []


def seeder(order: int = 50):
    """Register fn(sim, scenario) that reads its own keys of a scenario dict. Lower order runs first."""
    def deco(fn):
        SEEDERS.append((order, fn))
        return fn
    return deco


# --------------------------------------------------------------------------------------------------- store


def norm(rid: str) -> str:
    return rid.rstrip("/").lower()


def parent_key(rid: str) -> str:
    """'/a/b/c/d' -> '/a/b' + '|c' : the parent id and the child type segment."""
    parts = norm(rid).split("/")
    return "/".join(parts[:-2]) + "|" + parts[-2]


class Store:
    """ARM resources keyed by case-insensitive id, with an index of direct children for list calls."""

    def __init__(self):
        self._items: dict[str, dict] = {}
        self._children: dict[str, dict[str, None]] = {}

    def get(self, rid: str):
        return self._items.get(norm(rid))

    def require(self, rid: str, kind: str = "Resource") -> dict:
        item = self.get(rid)
        if item is None:
            raise not_found(rid, kind)
        return item

    def put(self, rid: str, body: dict) -> dict:
        key = norm(rid)
        self._items[key] = body
        self._children.setdefault(parent_key(rid), {})[key] = None
        return body

    def delete(self, rid: str):
        key = norm(rid)
        if self._items.pop(key, None) is not None:
            self._children.get(parent_key(rid), {}).pop(key, None)

    def children(self, parent_id: str, type_segment: str) -> list[dict]:
        """Direct children: parent_id + '/' + type_segment + '/{name}', in insertion order."""
        keys = self._children.get(norm(parent_id) + "|" + type_segment.lower(), {})
        return [self._items[k] for k in keys if k in self._items]

    def find(self, predicate) -> list[dict]:
        return [item for item in self._items.values() if predicate(item)]

    def dump(self) -> dict:
        return copy.deepcopy(self._items)


# --------------------------------------------------------------------------------------------------- helpers


def arm_id(sub: str, rg: str | None, provider: str, *type_name: str) -> str:
    """arm_id(s, rg, 'Microsoft.Compute', 'virtualMachines', 'vm1') -> full resource id."""
    base = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
    return base + f"/providers/{provider}/" + "/".join(type_name)


def parse_id(rid: str) -> dict:
    """Pick subscription, resource group and the name that follows each type segment of an ARM id."""
    parts = [p for p in rid.split("/") if p]
    out: dict = {}
    for i in range(0, len(parts) - 1, 2):
        out[parts[i].lower()] = parts[i + 1]
    out["name"] = parts[-1] if parts else ""
    return out


def page(sim: "Sim", req: Request, items: list, page_size: int | None = None) -> dict:
    """One page of a list call, with an absolute nextLink carrying api-version and $skiptoken."""
    size = page_size or sim.config["page_size"]
    try:
        start = int(req.q("$skiptoken", "0") or 0)
    except ValueError as exc:
        raise bad_request("Invalid $skiptoken.") from exc
    out = {"value": items[start:start + size]}
    if start + size < len(items):
        query = {k: v for k, v in req.query.items() if k.lower() != "$skiptoken"}
        query["$skiptoken"] = str(start + size)
        query.setdefault("api-version", "2024-01-01")
        out["nextLink"] = f"https://{req.host}{req.raw_path}?{urlencode(query)}"
    return out


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def new_guid() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------------------------------- operations


class Operation:
    """A long-running operation: InProgress until `done_at`, then `finish()` runs once and it is Succeeded/Failed."""

    def __init__(self, sim: "Sim", seconds: float, finish=None, kind: str = "", data: dict | None = None):
        self.id = new_guid()
        self.kind = kind
        self.data = data or {}
        self.started = sim.now()
        self.done_at = time.monotonic() + max(0.0, seconds)
        self.ended = None
        self.status = "InProgress"
        self.error: dict | None = None
        self.result = None
        self._finish = finish

    def complete(self, sim: "Sim"):
        try:
            self.result = self._finish(sim, self) if self._finish else None
            if self.status == "InProgress":
                self.status = "Succeeded"
        except SimError as exc:
            self.status = "Failed"
            self.error = exc.body.get("error", {"code": exc.code, "message": exc.message})
        self.ended = sim.now()

    def status_body(self, rid: str | None = None) -> dict:
        body = {"id": rid or self.id, "name": self.id, "status": self.status, "startTime": iso(self.started)}
        if self.ended:
            body["endTime"] = iso(self.ended)
        if self.error:
            body["error"] = self.error
        return body


# --------------------------------------------------------------------------------------------------- tokens


class Tokens:
    """Unsigned-looking JWTs with an HMAC signature only the local Azure can check. Claims carry the caller."""

    def __init__(self):
        self._key = uuid.uuid4().bytes

    @staticmethod
    def _b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def issue(self, claims: dict, lifetime: int = 3600) -> str:
        now = int(time.time())
        body = {**claims, "iat": now, "nbf": now, "exp": now + lifetime}
        head = self._b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = self._b64(json.dumps(body).encode())
        sig = self._b64(hmac.new(self._key, f"{head}.{payload}".encode(), hashlib.sha256).digest())
        return f"{head}.{payload}.{sig}"

    def verify(self, token: str) -> dict | None:
        try:
            head, payload, sig = token.split(".")
            want = self._b64(hmac.new(self._key, f"{head}.{payload}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(want, sig):
                return None
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, TypeError):
            return None
        if claims.get("exp", 0) < time.time():
            return None
        return claims


def bearer(req: Request) -> str | None:
    value = req.headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


# --------------------------------------------------------------------------------------------------- scenarios


def expand_fleet(scenario: dict):
    """Turn a scenario's `fleet` block into ordinary compact resource groups (every family then seeds as usual).

    `subscriptions: N` (default 1) spreads the VMs over N subscriptions: the first is the scenario's, the others are
    copies of it with derived ids (`fleet_subscription_id`); VM names stay unique across them (cvm-0001 ...), and the
    key stores of subscription i > 0 carry a `-{i}` suffix (their host names are global, as in Azure)."""
    fleet = scenario.get("fleet")
    if not fleet:
        return
    first = scenario["subscriptions"][0]
    n_subs = max(1, int(fleet.get("subscriptions", 1)))
    subs = [first] + [{**copy.deepcopy(first), "id": fleet_subscription_id(first["id"], i),
                       "display_name": f"{first.get('display_name', 'fleet')} {i + 1}"} for i in range(1, n_subs)]
    scenario["subscriptions"] = subs + scenario["subscriptions"][1:]
    total, offset = int(fleet.get("vms", 100)), 0
    for i, sub in enumerate(subs):
        count = total // n_subs + (1 if i < total % n_subs else 0)
        _expand_fleet_subscription(scenario, fleet, sub, offset, count, f"-{i}" if i else "")
        offset += count


def fleet_subscription_id(first_id: str, index: int) -> str:
    """The id of the fleet's subscription `index` (> 0): the first id with its last 4 hex digits replaced."""
    return f"{first_id[:-4]}{index:04x}"


def _expand_fleet_subscription(scenario: dict, fleet: dict, sub: dict, offset: int, count: int, suffix: str):
    regions = [r.strip() for r in str(fleet.get("regions", "koreacentral")).split(",") if r.strip()]
    n_rg = max(1, int(fleet.get("resource_groups", 5)))
    cmk_every = int(fleet.get("cmk_every", 0))
    owner = next(p["object_id"] for p in scenario["principals"] if p.get("default"))
    groups = []
    for i in range(n_rg):
        region = regions[i % len(regions)]
        rg = {"name": f"rg-fleet-{i + 1:02d}", "location": region, "vms": []}
        if cmk_every and i < len(regions):  # one HSM + DES per region, in the first group of that region
            rg["managed_hsms"] = [{"name": f"hsm-fleet-{region}{suffix}", "admins": [owner],
                                   "keys": [{"name": "fleet-key", "version": "0" * 31 + str(i)}]}]
            rg["disk_encryption_sets"] = [{"name": f"des-fleet-{region}", "type": "ConfidentialVmEncryptedWithCustomerKey",
                                           "key": {"managed_hsm": f"hsm-fleet-{region}{suffix}", "name": "fleet-key"}}]
        groups.append(rg)
    for n in range(offset, offset + count):
        rg = groups[(n - offset) % n_rg]
        vm = {"name": f"cvm-{n + 1:04d}", "size": "Standard_DC2as_v6", "security_type": "ConfidentialVM",
              "encryption": "DiskWithVMGuestState", "data_disks": int(fleet.get("data_disks", 1))}
        if cmk_every and (n + 1) % cmk_every == 0:
            vm["des"] = {"id": f"/subscriptions/{sub['id']}/resourceGroups/rg-fleet-{regions.index(rg['location']) + 1:02d}"
                               f"/providers/Microsoft.Compute/diskEncryptionSets/des-fleet-{rg['location']}"}
        rg["vms"].append(vm)
    groups.append({"name": "rg-fleet-backup", "location": regions[0],
                   "recovery_vaults": [{"name": f"rsv-fleet-{r}", "location": r, "redundancy": "LocallyRedundant",
                                        "cross_region_restore": False} for r in regions]})
    sub["resource_groups"] = list(sub.get("resource_groups") or []) + groups


# --------------------------------------------------------------------------------------------------- the simulator


DEFAULT_CONFIG = {
    "lro_seconds": 0.3,  # how long long-running operations and backup jobs take (wall time)
    "feature_registration_seconds": 0.5,  # Registering -> Registered
    "provider_registration_seconds": 0.3,  # Registering -> Registered
    "page_size": 100,  # list calls page at this size
    "retry_after": 0,  # Retry-After seconds sent with 202s
    # 1: Azure Local DELETE/PATCH 202s carry Azure-AsyncOperation as well as Location; 0: Location only (the spec's
    # response headers). Which one Azure sends is UNVERIFIED (evidence azure-local-delete-lro): tests run both.
    "hci_async_operation_header": 1,
}


class Sim:
    """The state of one local Azure and the request handling that changes it."""

    def __init__(self, scenario: dict, params: dict | None = None):
        from . import families  # noqa: F401  (imports every family so routes and seeders are registered)

        self.lock = threading.RLock()
        self.scenario_source = copy.deepcopy(scenario)
        self.params = dict(params or {})
        self.tokens = Tokens()
        self._seq = itertools.count(1)
        self.reset()

    # ---- state

    def reset(self):
        with self.lock:
            scenario = copy.deepcopy(self.scenario_source)
            self.config = {**DEFAULT_CONFIG, **(scenario.get("config") or {})}
            for key, value in self.params.items():  # --param k=v: a config value, or a key of the scenario's `fleet`
                if key in self.config:
                    self.config[key] = type(self.config[key])(value)
                elif isinstance(scenario.get("fleet"), dict):
                    scenario["fleet"][key] = type(scenario["fleet"].get(key, value))(value)
            expand_fleet(scenario)
            self.store = Store()
            self.ops: dict[str, Operation] = {}
            self._timers: list = []
            self.tenant_id = scenario["tenant_id"]
            self.principals = {p["app_id"].lower(): dict(p) for p in scenario.get("principals", [])}
            self.subscriptions = {s["id"].lower(): s for s in scenario.get("subscriptions", [])}
            self.ext: dict = {}  # per-family scratch state (e.g. {"features": {...}})
            self.violations: list[str] = []  # responses that broke their SDK model (framework.strict_response)
            self.seeding = True  # what the seeders make is the scenario's past (compute.created_time)
            try:
                for order, fn in sorted(SEEDERS, key=lambda pair: pair[0]):
                    fn(self, scenario)
            finally:
                self.seeding = False

    @property
    def default_principal(self) -> dict:
        for p in self.principals.values():
            if p.get("default"):
                return p
        raise RuntimeError("scenario has no principal marked default: true")

    def principal_by_object_id(self, oid: str) -> dict | None:
        for p in self.principals.values():
            if p["object_id"].lower() == (oid or "").lower():
                return p
        return None

    def require_subscription(self, sub: str) -> dict:
        found = self.subscriptions.get(sub.lower())
        if not found:
            raise SimError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return found

    # ---- time

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    def later(self, seconds: float, fn):
        """Run fn(sim) once `seconds` of wall time have passed (applied at the next request)."""
        heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._seq), fn))

    def start_operation(self, seconds: float | None = None, finish=None, kind: str = "", data=None) -> Operation:
        op = Operation(self, self.config["lro_seconds"] if seconds is None else seconds, finish, kind, data)
        self.ops[op.id] = op
        self.later(op.done_at - time.monotonic(), lambda sim, op=op: op.complete(sim) if op.status == "InProgress" else None)
        return op

    def advance(self):
        """Apply every timer that is due. Called before each request is handled."""
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            due, seq, fn = heapq.heappop(self._timers)
            fn(self)

    # ---- auth

    def authenticate(self, req: Request, audience: str) -> dict:
        """The caller's claims for an ARM/Graph call, or the real 401 shape."""
        token = bearer(req)
        if not token:
            raise SimError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                           headers={"WWW-Authenticate": f'Bearer authorization_uri="https://{LOGIN_HOST}/{self.tenant_id}", '
                                                        'error="invalid_token", '
                                                        'error_description="The authentication failed because of missing \'Authorization\' header."'})
        claims = self.tokens.verify(token)
        if not claims:
            raise SimError(401, "InvalidAuthenticationToken", "The access token is invalid or has expired.")
        allowed = (audience,) if isinstance(audience, str) else tuple(audience)
        if claims.get("aud", "").rstrip("/") not in [a.rstrip("/") for a in allowed]:
            raise SimError(401, "InvalidAuthenticationTokenAudience",
                           f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. "
                           f"It should exactly match with one of the allowed audiences '{', '.join(allowed)}'.")
        req.caller = claims
        return claims

    # ---- handling

    def handle(self, req: Request) -> Response:
        with self.lock:
            self.advance()
            try:
                if req.host == ARM_HOST:
                    self.authenticate(req, ARM_AUDIENCES)
                elif req.host == GRAPH_HOST:
                    self.authenticate(req, "https://graph.microsoft.com")
                response = ROUTER.dispatch(self, req)
            except SimError as exc:
                response = Response(exc.status, exc.body, dict(exc.headers))
            response.headers.setdefault("x-ms-request-id", new_guid())
            response.headers.setdefault("x-ms-correlation-request-id",
                                        req.headers.get("x-ms-correlation-request-id") or new_guid())
            if req.host == ARM_HOST and req.method in ("PUT", "POST", "PATCH", "DELETE"):
                response.headers.setdefault("x-ms-ratelimit-remaining-subscription-writes", "1199")
            return response
