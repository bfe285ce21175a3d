"""Family entra of the local Azure: Entra ID sign-in (login.microsoftonline.com) and Microsoft Graph service principals.

Scenario keys read: `tenant_id`; `principals` (name, app_id, object_id, secret, default, federated: accept any
client assertion, graph_permissions: the Graph application permissions it holds, e.g. [Application.Read.All] - none by
default, so Graph answers it 403 - graph_denied: Graph answers 403); `users` (username, password, object_id[, graph_denied]) for the
password grant. `sim.config["graph_denied"]` makes Graph refuse every caller.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from .framework import (BACKUP_MANAGEMENT_SERVICE_APP_ID, GRAPH_HOST, LOGIN_HOST, ROUTER, Request, SimError, new_guid,
                        seeder)

LOGIN = re.escape(LOGIN_HOST)
GRAPH = re.escape(GRAPH_HOST)
TENANT_ALIASES = ("common", "organizations")
NON_RESOURCE_SCOPES = ("openid", "profile", "offline_access", "email")
GRAPH_CONTEXT = f"https://{GRAPH_HOST}/v1.0/$metadata#servicePrincipals"


@seeder(order=1)
def seed_first_party(sim, scenario):
    """Backup Management Service exists in every tenant, with an object id of that tenant."""
    if BACKUP_MANAGEMENT_SERVICE_APP_ID not in sim.principals:
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sim.tenant_id}/{BACKUP_MANAGEMENT_SERVICE_APP_ID}"))
        sim.principals[BACKUP_MANAGEMENT_SERVICE_APP_ID] = {"name": "Backup Management Service",
                                                            "app_id": BACKUP_MANAGEMENT_SERVICE_APP_ID, "object_id": oid}
    sim.ext["entra"] = {"users": {u["username"].lower(): dict(u) for u in scenario.get("users") or []}}


# --------------------------------------------------------------------------------------------------- errors


def aad_error(req: Request, status: int, error: str, code: int, text: str) -> SimError:
    """The Entra ID token-endpoint error shape: error, error_description with AADSTS code and trace lines, ids."""
    trace, correlation = new_guid(), req.headers.get("client-request-id") or new_guid()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    description = f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}"
    body = {"error": error, "error_description": description, "error_codes": [code], "timestamp": stamp,
            "trace_id": trace, "correlation_id": correlation, "error_uri": f"https://{LOGIN_HOST}/error?code={code}"}
    return SimError(status, error, description, body=body)


def unknown_tenant(req: Request, tenant: str, error: str = "invalid_request") -> SimError:
    return aad_error(req, 400, error, 90002,
                     f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
                     "the correct cloud. Check with your subscription administrator, this may happen if there are no active "
                     "subscriptions for the tenant.")


def graph_error(req: Request, status: int, code: str, message: str) -> SimError:
    inner = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": new_guid(),
             "client-request-id": req.headers.get("client-request-id") or new_guid()}
    return SimError(status, code, message, body={"error": {"code": code, "message": message, "innerError": inner}})


def check_tenant(sim, req: Request, tenant: str, error: str = "invalid_request") -> str:
    """The tenant id a path names (the aliases common/organizations mean the scenario's tenant)."""
    if tenant.lower() in TENANT_ALIASES or tenant.lower() == sim.tenant_id.lower():
        return sim.tenant_id
    raise unknown_tenant(req, tenant, error)


# --------------------------------------------------------------------------------------------------- discovery


def endpoints(tenant: str) -> dict:
    base = f"https://{LOGIN_HOST}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"https://{GRAPH_HOST}/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": GRAPH_HOST,
        "rbac_url": "https://pas.windows.net",
    }


@ROUTER.route("GET", LOGIN, r"/common/discovery/instance")
def instance_discovery(sim, req):
    match = re.search(r"https://[^/]+/([^/?]+)/oauth2", req.q("authorization_endpoint", "") or "")
    tenant = match.group(1) if match else "common"
    return {"tenant_discovery_endpoint": f"https://{LOGIN_HOST}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": LOGIN_HOST, "preferred_cache": "login.windows.net",
                          "aliases": [LOGIN_HOST, "login.windows.net", "login.microsoft.com", "sts.windows.net"]}]}


@ROUTER.route("GET", LOGIN, r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration")
def openid_configuration(sim, req, tenant):
    check_tenant(sim, req, tenant, "invalid_tenant")
    return endpoints(tenant)


@ROUTER.route("GET", LOGIN, r"/(?P<tenant>[^/]+)/\.well-known/openid-configuration")
def openid_configuration_v1(sim, req, tenant):
    check_tenant(sim, req, tenant, "invalid_tenant")
    base = f"https://{LOGIN_HOST}/{tenant}"
    v2 = endpoints(tenant)
    return {**v2, "token_endpoint": f"{base}/oauth2/token", "authorization_endpoint": f"{base}/oauth2/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/devicecode", "end_session_endpoint": f"{base}/oauth2/logout",
            "issuer": f"https://sts.windows.net/{sim.tenant_id}/", "jwks_uri": f"https://{LOGIN_HOST}/common/discovery/keys"}


@ROUTER.route("GET", LOGIN, r"/common/userrealm/(?P<username>[^/]+)")
def user_realm(sim, req, username):
    """MSAL asks this before a password grant; every scenario user is a managed (cloud) account."""
    domain = username.rpartition("@")[2]
    return {"ver": "1.0", "account_type": "Managed", "domain_name": domain, "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline"}


# --------------------------------------------------------------------------------------------------- tokens


def audience(req: Request, form: dict, v1: bool) -> str:
    """The token's aud: the resource (v1) or the first resource scope minus '/.default' (v2)."""
    if v1 and form.get("resource"):
        return form["resource"]
    for scope in (form.get("scope") or "").split():
        if scope.lower() not in NON_RESOURCE_SCOPES:
            return scope[:-len("/.default")] if scope.endswith("/.default") else scope
    raise aad_error(req, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")


def client_credentials(req: Request, form: dict) -> tuple[str, str | None]:
    """client_id and client_secret from the form or from HTTP Basic auth."""
    auth = req.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        user, sep, password = base64.b64decode(auth[6:]).decode().partition(":")
        return form.get("client_id") or user, password
    return form.get("client_id", ""), form.get("client_secret")


def sign_in_app(sim, req: Request, form: dict, tenant: str) -> dict:
    """A service principal by secret or by federated assertion: its claims, or the real error."""
    client_id, secret = client_credentials(req, form)
    principal = sim.principals.get(client_id.lower())
    if principal is None:
        raise aad_error(req, 400, "unauthorized_client", 700016,
                        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                        "happen if the application has not been installed by the administrator of the tenant or consented "
                        "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
    if form.get("client_assertion") and principal.get("certificates") and assertion_names_a_certificate(form["client_assertion"]):
        verify_certificate_assertion(req, form, principal, client_id)
    elif form.get("client_assertion"):
        if not principal.get("federated"):
            raise aad_error(req, 400, "invalid_request", 70021,
                            "No matching federated identity record found for presented assertion. Assertion audience: "
                            "'api://AzureADTokenExchange'.")
    elif secret is None:
        raise aad_error(req, 401, "invalid_client", 7000218,
                        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    elif not principal.get("secret") or secret != principal["secret"]:
        raise aad_error(req, 401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                        f"value, not the client secret ID, for a secret added to app '{principal['app_id']}'.")
    return {"oid": principal["object_id"], "sub": principal["object_id"], "appid": principal["app_id"], "idtyp": "app"}


# Certificate credentials of a service principal (Microsoft identity platform, "application authentication certificate
# credentials", learn.microsoft.com/entra/identity-platform/certificate-credentials): the client sends
# client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer and a JWT signed with the certificate's
# private key; header alg RS256 with x5t (base64url SHA-1 thumbprint of the DER certificate), or PS256 with x5t#S256
# (SHA-256 thumbprint); claims aud = the token endpoint (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token),
# iss = sub = the client id, jti, nbf, exp. The certificate must be registered on the application (scenario key
# `certificates`: PEM certificates). The AADSTS codes below have no primary source per case (unverified);
# no module decision rests on them: a refused sign-in fails the module with the service's sentence.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def assertion_names_a_certificate(assertion: str) -> bool:
    try:
        header = json.loads(_b64(assertion.split(".")[0]))
    except (ValueError, IndexError):
        return False
    return isinstance(header, dict) and ("x5t" in header or "x5t#S256" in header)


def verify_certificate_assertion(req: Request, form: dict, principal: dict, client_id: str) -> None:
    """Raise the Entra error unless the assertion is signed by a certificate registered on the principal."""

    if form.get("client_assertion_type") != JWT_BEARER:
        raise aad_error(req, 400, "invalid_request", 700020,
                        f"client_assertion_type must be '{JWT_BEARER}'.")
    head_b64, claims_b64, sig_b64 = (form["client_assertion"].split(".") + ["", ""])[:3]
    header, claims = json.loads(_b64(head_b64)), json.loads(_b64(claims_b64))
    match = None
    for pem in principal["certificates"]:
        cert = x509.load_pem_x509_certificate(pem.encode())
        der = cert.public_bytes(serialization.Encoding.DER)
        prints = {"x5t": base64.urlsafe_b64encode(_digest(hashes.SHA1(), der)).rstrip(b"=").decode(),
                  "x5t#S256": base64.urlsafe_b64encode(_digest(hashes.SHA256(), der)).rstrip(b"=").decode()}
        if any(header.get(k) and header[k].rstrip("=") == v for k, v in prints.items()):
            match = cert
    if match is None:
        raise aad_error(req, 401, "invalid_client", 700027,
                        "Client assertion failed signature validation. The certificate with the identifier used to sign the "
                        f"client assertion is not registered on application '{principal['app_id']}'.")
    pad = {"RS256": padding.PKCS1v15(),
           "PS256": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)}.get(header.get("alg"))
    try:
        if pad is None:
            raise InvalidSignature(header.get("alg"))
        match.public_key().verify(_b64(sig_b64), f"{head_b64}.{claims_b64}".encode(), pad, hashes.SHA256())
    except InvalidSignature as exc:
        raise aad_error(req, 401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
    now = datetime.now(timezone.utc).timestamp()
    endpoint = f"https://{LOGIN_HOST}{req.path}"
    problems = [f"aud {claims.get('aud')} is not {endpoint}" if claims.get("aud") != endpoint else "",
                "iss and sub must be the client id" if not claims.get("iss") == claims.get("sub") == client_id else "",
                "the assertion has expired" if float(claims.get("exp", 0)) < now - 300 else "",
                "the assertion is not valid yet" if float(claims.get("nbf", 0)) > now + 300 else ""]
    problems = [p for p in problems if p]
    if problems:
        raise aad_error(req, 401, "invalid_client", 700023, "Client assertion is not valid: " + "; ".join(problems) + ".")


def _digest(algorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def sign_in_user(sim, req: Request, form: dict) -> dict:
    user = sim.ext.get("entra", {}).get("users", {}).get((form.get("username") or "").lower())
    if user is None or user.get("password") != form.get("password"):
        raise aad_error(req, 400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
    return {"oid": user["object_id"], "sub": user["object_id"], "appid": form.get("client_id", ""), "idtyp": "user",
            "upn": user["username"], "unique_name": user["username"], "name": user.get("name", user["username"]),
            "scp": "user_impersonation"}


def user_extras(sim, claims: dict, client_id: str) -> dict:
    """id_token and client_info, which MSAL needs to keep a user account in its cache."""
    id_claims = {"aud": client_id, "iss": f"https://{LOGIN_HOST}/{sim.tenant_id}/v2.0", "tid": sim.tenant_id,
                 "oid": claims["oid"], "sub": claims["oid"], "preferred_username": claims["upn"], "name": claims["name"],
                 "ver": "2.0"}
    info = json.dumps({"uid": claims["oid"], "utid": sim.tenant_id}).encode()
    return {"id_token": sim.tokens.issue(id_claims),
            "client_info": base64.urlsafe_b64encode(info).rstrip(b"=").decode()}


@ROUTER.route("POST", LOGIN, r"/(?P<tenant>[^/]+)/oauth2(?P<v2>/v2\.0)?/token")
def token(sim, req, tenant, v2):
    tenant_id = check_tenant(sim, req, tenant)
    form = req.form()
    grant = form.get("grant_type", "")
    if grant == "client_credentials":
        claims = sign_in_app(sim, req, form, tenant)
    elif grant == "password":
        claims = sign_in_user(sim, req, form)
    else:
        raise aad_error(req, 400, "unsupported_grant_type", 70003,
                        f"The app requested an unsupported grant type '{grant}'.")
    aud = audience(req, form, v1=not v2)
    claims = {"aud": aud, "iss": f"https://sts.windows.net/{tenant_id}/", "tid": tenant_id, "ver": "1.0", **claims}
    if claims.get("idtyp") == "app" and aud.rstrip("/") == f"https://{GRAPH_HOST}":
        granted = sim.principals.get(claims["appid"].lower(), {}).get("graph_permissions") or []
        if granted:  # app roles of an app-only token (the `roles` claim)
            claims["roles"] = list(granted)
    req.caller = claims  # the request log shows who signed in
    body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": sim.tokens.issue(claims)}
    if not v2:  # the v1 endpoint answers with strings and names the resource
        now = int(datetime.now(timezone.utc).timestamp())
        body = {"token_type": "Bearer", "expires_in": "3599", "ext_expires_in": "3599", "expires_on": str(now + 3599),
                "not_before": str(now), "resource": aud, "access_token": body["access_token"]}
    if grant == "password":
        body.update(user_extras(sim, claims, form.get("client_id", "")))
        body["scope"] = form.get("scope", "")
    return body


# --------------------------------------------------------------------------------------------------- Graph


# Graph application permissions that let an app-only caller read service principals: "List servicePrincipals" /
# "Get servicePrincipal" (Microsoft Graph v1.0 reference, Permissions: Application = Application.Read.All, higher:
# Application.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All). A service principal holds none by default
# (its app registration must be granted them by an admin), so Graph answers it 403 Authorization_RequestDenied
# "Insufficient privileges to complete the operation." A scenario's principal lists what it holds in
# `graph_permissions`; app-only tokens carry them in the `roles` claim, as Entra ID's tokens do. Users (delegated
# tokens) read service principals with the default user permissions (Graph reference, Delegated: Application.Read.All,
# granted to az CLI sign-ins); `graph_denied` still refuses one principal or user, `config.graph_denied` everybody.
GRAPH_SP_READ = {"application.read.all", "application.readwrite.all", "directory.read.all", "directory.readwrite.all"}


def caller_is_denied(sim, req: Request) -> bool:
    if sim.config.get("graph_denied"):
        return True
    claims = req.caller or {}
    oid = claims.get("oid", "")
    principal = sim.principal_by_object_id(oid)
    users = sim.ext.get("entra", {}).get("users", {}).values()
    user = next((u for u in users if u["object_id"].lower() == oid.lower()), None)
    if (principal or {}).get("graph_denied") or (user or {}).get("graph_denied"):
        return True
    if claims.get("idtyp") == "app":
        return not GRAPH_SP_READ & {r.lower() for r in claims.get("roles") or []}
    return False


def guard(sim, req: Request):
    if caller_is_denied(sim, req):
        raise graph_error(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def sp_body(principal: dict) -> dict:
    return {"id": principal["object_id"], "appId": principal["app_id"], "displayName": principal.get("name", ""),
            "servicePrincipalType": "Application", "accountEnabled": True, "servicePrincipalNames": [principal["app_id"]]}


def sp_not_found(req: Request, key: str) -> SimError:
    return graph_error(req, 404, "Request_ResourceNotFound",
                       f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.")


FILTER_RE = re.compile(r"\s*(?P<prop>appId|displayName|id)\s+eq\s+'(?P<value>[^']*)'\s*", re.I)
FILTER_KEYS = {"appid": "app_id", "displayname": "name", "id": "object_id"}


@ROUTER.route("GET", GRAPH, r"/(?:v1\.0|beta)/servicePrincipals")
def list_service_principals(sim, req):
    guard(sim, req)
    principals = list(sim.principals.values())
    expr = req.q("$filter")
    if expr:
        match = FILTER_RE.fullmatch(expr)
        if not match:
            raise graph_error(req, 400, "Request_UnsupportedQuery",
                              f"Unsupported or invalid query filter clause specified for resource 'ServicePrincipal': {expr}")
        key, value = FILTER_KEYS[match["prop"].lower()], match["value"].lower()
        principals = [p for p in principals if str(p.get(key, "")).lower() == value]
    return {"@odata.context": GRAPH_CONTEXT, "value": [sp_body(p) for p in principals]}


@ROUTER.route("GET", GRAPH, r"/(?:v1\.0|beta)/servicePrincipals\(appId='(?P<app_id>[^']*)'\)")
def get_service_principal_by_app_id(sim, req, app_id):
    guard(sim, req)
    principal = sim.principals.get(app_id.lower())
    if principal is None:
        raise sp_not_found(req, app_id)
    return {"@odata.context": GRAPH_CONTEXT + "/$entity", **sp_body(principal)}


@ROUTER.route("GET", GRAPH, r"/(?:v1\.0|beta)/servicePrincipals/(?P<object_id>[^/()]+)")
def get_service_principal(sim, req, object_id):
    guard(sim, req)
    principal = sim.principal_by_object_id(object_id)
    if principal is None:
        raise sp_not_found(req, object_id)
    return {"@odata.context": GRAPH_CONTEXT + "/$entity", **sp_body(principal)}


# POST /v1.0/directoryObjects/getByIds {"ids": [...], "types": ["servicePrincipal", ...]} (Microsoft Graph v1.0
# reference "directoryObject: getByIds"; Application permission Directory.Read.All): the objects found, each with its
# "@odata.type"; ids not found are left out. Only service principals exist in the local directory (users too when the
# scenario has them); the same permission rule as servicePrincipals is applied (Directory.Read.All itself: UNVERIFIED).
@ROUTER.route("POST", GRAPH, r"/(?:v1\.0|beta)/directoryObjects/getByIds")
def get_by_ids(sim, req):
    guard(sim, req)
    body = req.json()
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids:
        raise graph_error(req, 400, "Request_BadRequest", "Invalid value specified for property 'ids' of resource 'DirectoryObject'.")
    types = {t.lower() for t in body.get("types") or ["serviceprincipal", "user"]}
    users = sim.ext.get("entra", {}).get("users", {}).values()
    out = []
    for oid in ids:
        principal = sim.principal_by_object_id(str(oid))
        if principal and "serviceprincipal" in types:
            out.append({"@odata.type": "#microsoft.graph.servicePrincipal", **sp_body(principal)})
            continue
        user = next((u for u in users if u["object_id"].lower() == str(oid).lower()), None)
        if user and "user" in types:
            out.append({"@odata.type": "#microsoft.graph.user", "id": user["object_id"],
                        "displayName": user.get("name", user["username"]), "userPrincipalName": user["username"]})
    return {"@odata.context": f"https://{GRAPH_HOST}/v1.0/$metadata#directoryObjects", "value": out}
