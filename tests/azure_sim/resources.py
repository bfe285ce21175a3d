"""Family resources of the local Azure: Microsoft.Features, resource providers, subscriptions and resource groups.

Also holds the small ARM helpers the other families share (api-version check, resource-group lookup, the 404 shapes).
Feature and provider state lives in `sim.ext["features"]` / `sim.ext["providers"]`; resource groups live in the store.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from . import api_versions
from .framework import ARM_HOST, ROUTER, Response, SimError, arm_id, bad_request, iso, new_guid, page, seeder

ARM = ARM_HOST.replace(".", r"\.")
SUB = r"/subscriptions/(?P<sub>[^/]+)"
FEATURES_TYPE = "Microsoft.Features/providers/features"

# ------------------------------------------------------------------------------------------------ shared ARM helpers


def require_api_version(req) -> str:
    """Every ARM call carries ?api-version=. Which values are accepted is checked before any handler runs
    (framework.strict_request, from api_versions.yml)."""
    version = req.q("api-version")
    if not version:
        raise SimError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    return version


def arm_call(sim, req, sub: str) -> dict:
    """The checks every subscription-scoped ARM call starts with; returns the subscription."""
    require_api_version(req)
    return sim.require_subscription(sub)


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def require_rg(sim, sub: str, rg: str) -> dict:
    sim.require_subscription(sub)
    group = sim.store.get(rg_id(sub, rg))
    if group is None:
        raise SimError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    return group


def resource_groups(sim, sub: str) -> list[dict]:
    return sim.store.children(f"/subscriptions/{sub}", "resourceGroups")


def resource_not_found(rtype: str, name: str, rg: str) -> SimError:
    """ARM's 404 for a missing resource inside an existing resource group."""
    return SimError(404, "ResourceNotFound",
                    f"The Resource '{rtype}/{name}' under resource group '{rg}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def require_resource(sim, sub: str, rg: str, provider: str, rtype: str, name: str) -> dict:
    """A resource of a resource group, or ARM's 404: ResourceGroupNotFound first, then ResourceNotFound."""
    require_rg(sim, sub, rg)
    item = sim.store.get(arm_id(sub, rg, provider, rtype, name))
    if item is None:
        raise resource_not_found(f"{provider}/{rtype}", name, rg)
    return item


# ------------------------------------------------------------------------------------------------ features

TRANSIENT = {"Registering": "Registered", "Unregistering": "Unregistered"}


def feature_table(sim, sub: str) -> dict:
    return sim.ext.setdefault("features", {}).setdefault(sub.lower(), {})


def feature_body(sub: str, feature: dict) -> dict:
    ns, name = feature["namespace"], feature["name"]
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features/{name}",
            "name": f"{ns}/{name}", "properties": {"state": feature["state"]}, "type": FEATURES_TYPE}


def require_feature(sim, sub: str, ns: str, name: str) -> dict:
    feature = feature_table(sim, sub).get((ns.lower(), name.lower()))
    if feature is None:
        raise SimError(404, "FeatureNotFound", f"The feature '{name}' could not be found.")
    return feature


def move_feature(sim, feature: dict, transient: str):
    """Set a transient state and let it settle after the configured time, unless something changed it meanwhile."""
    feature["state"] = transient

    def settle(_sim, feature=feature):
        if feature["state"] == transient:
            feature["state"] = TRANSIENT[transient]
    sim.later(sim.config["feature_registration_seconds"], settle)


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.Features/providers/(?P<ns>[^/]+)/features/(?P<name>[^/]+)")
def get_feature(sim, req, sub, ns, name):
    arm_call(sim, req, sub)
    return feature_body(sub, require_feature(sim, sub, ns, name))


@ROUTER.route("POST", ARM, SUB + r"/providers/Microsoft\.Features/providers/(?P<ns>[^/]+)/features/(?P<name>[^/]+)/register")
def register_feature(sim, req, sub, ns, name):
    arm_call(sim, req, sub)
    feature = require_feature(sim, sub, ns, name)
    if feature["state"] in ("NotRegistered", "Unregistered", "Unregistering"):
        # subscriptionFeatureRegistrations registrationDate ("The feature registration date", spec 2021-07-01): set here,
        # at the request. Whether Azure sets it at the request or at the completion is UNVERIFIED (evidence
        # feature-registration-date); the module needs only a time at or before the completion.
        feature["registration_date"] = sim.now()
        if feature.get("approval_required"):
            feature["state"] = "Pending"  # waits for a person at Microsoft: stays Pending here
        else:
            move_feature(sim, feature, "Registering")
    record_event(sim, req, sub, "Microsoft.Features/providers/features/register/action", "Microsoft.Features",
                 f"/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features/{name}")
    return feature_body(sub, feature)


# GET /subscriptions/{s}/providers/Microsoft.Features/featureProviders/{ns}/subscriptionFeatureRegistrations/{name}
# (SubscriptionFeatureRegistrations_Get, spec Microsoft.Features stable/2021-07-01 features.json; SDK model
# azure.mgmt.resource.features SubscriptionFeatureRegistration {id, name, type, properties {tenantId, subscriptionId,
# featureName, displayName, providerNamespace, state, registrationDate, approvalType, ...}}). `state` here is the
# feature's state (the spec's enum has the same names plus NotSpecified). A feature never registered has no
# registrationDate here; what Azure answers for it (200 without the date, or 404) is UNVERIFIED - the module reads it
# only for a feature it found Registered, and a missing date makes it warn and send nothing.
SFR_TYPE = "Microsoft.Features/featureProviders/subscriptionFeatureRegistrations"


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.Features/featureProviders/(?P<ns>[^/]+)"
              r"/subscriptionFeatureRegistrations/(?P<name>[^/]+)")
def get_subscription_feature_registration(sim, req, sub, ns, name):
    arm_call(sim, req, sub)
    feature = require_feature(sim, sub, ns, name)
    props = {"tenantId": sim.tenant_id, "subscriptionId": sub, "featureName": feature["name"],
             "displayName": feature["name"], "providerNamespace": feature["namespace"], "state": feature["state"],
             "approvalType": "ApprovalRequired" if feature.get("approval_required") else "AutoApproval",
             "shouldFeatureDisplayInPortal": False}
    if feature.get("registration_date"):
        props["registrationDate"] = iso(feature["registration_date"])
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Features/featureProviders/{feature['namespace']}"
                  f"/subscriptionFeatureRegistrations/{feature['name']}",
            "name": feature["name"], "type": SFR_TYPE, "properties": props}


@ROUTER.route("POST", ARM, SUB + r"/providers/Microsoft\.Features/providers/(?P<ns>[^/]+)/features/(?P<name>[^/]+)/unregister")
def unregister_feature(sim, req, sub, ns, name):
    arm_call(sim, req, sub)
    feature = require_feature(sim, sub, ns, name)
    if feature["state"] in ("Registered", "Registering", "Pending"):
        move_feature(sim, feature, "Unregistering")
    return feature_body(sub, feature)


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.Features/providers/(?P<ns>[^/]+)/features")
def list_provider_features(sim, req, sub, ns):
    arm_call(sim, req, sub)
    items = [feature_body(sub, f) for f in feature_table(sim, sub).values() if f["namespace"].lower() == ns.lower()]
    return page(sim, req, items)


@ROUTER.route("GET", ARM, SUB + r"/providers/Microsoft\.Features/features")
def list_all_features(sim, req, sub):
    arm_call(sim, req, sub)
    return page(sim, req, [feature_body(sub, f) for f in feature_table(sim, sub).values()])


# ------------------------------------------------------------------------------------------------ providers

LOCATIONS = ["Korea Central", "UAE North", "West Europe", "East US", "North Europe", "Southeast Asia", "West US",
             "Germany West Central", "UK South"]
# The namespaces a subscription knows; their resource types and api-versions come from api_versions.yml.
PROVIDER_CATALOG = ("Microsoft.Compute", "Microsoft.RecoveryServices", "Microsoft.KeyVault", "Microsoft.Storage",
                    "Microsoft.AzureStackHCI", "Microsoft.HybridCompute", "Microsoft.ExtendedLocation",
                    "Microsoft.Network", "Microsoft.Features", "Microsoft.Authorization")
ALWAYS_REGISTERED = ("Microsoft.Features", "Microsoft.Authorization")


def provider_table(sim, sub: str) -> dict:
    """{namespace lower: {"namespace", "registrationState"}} for every catalog namespace plus the seeded ones."""
    return sim.ext.setdefault("providers", {}).setdefault(sub.lower(), {})


def require_provider(sim, sub: str, ns: str) -> dict:
    provider = provider_table(sim, sub).get(ns.lower())
    if provider is None:
        raise SimError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")
    return provider


def provider_body(sub: str, provider: dict) -> dict:
    ns = provider["namespace"]
    return {"id": f"/subscriptions/{sub}/providers/{ns}", "namespace": ns,
            "registrationState": provider["registrationState"], "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [{"resourceType": t, "locations": LOCATIONS, "apiVersions": versions,
                               "capabilities": "SupportsTags, SupportsLocation"}
                              for t, versions in api_versions.provider_resource_types(ns)]}


def move_provider(sim, provider: dict, transient: str, final: str):
    provider["registrationState"] = transient

    def settle(_sim, provider=provider):
        if provider["registrationState"] == transient:
            provider["registrationState"] = final
    sim.later(sim.config["provider_registration_seconds"], settle)


@ROUTER.route("GET", ARM, SUB + r"/providers")
def list_providers(sim, req, sub):
    arm_call(sim, req, sub)
    return page(sim, req, [provider_body(sub, p) for p in provider_table(sim, sub).values()])


@ROUTER.route("GET", ARM, SUB + r"/providers/(?P<ns>[^/]+)")
def get_provider(sim, req, sub, ns):
    arm_call(sim, req, sub)
    return provider_body(sub, require_provider(sim, sub, ns))


@ROUTER.route("POST", ARM, SUB + r"/providers/(?P<ns>[^/]+)/register")
def register_provider(sim, req, sub, ns):
    arm_call(sim, req, sub)
    provider = require_provider(sim, sub, ns)
    if provider["registrationState"] in ("NotRegistered", "Unregistered", "Unregistering"):
        move_provider(sim, provider, "Registering", "Registered")
    # every POST is an Activity Log event (MicrosoftDocs/azure-docs#16166, tfitzmac: "If the operation is PUT, POST, or
    # DELETE, it is logged"); operationName = the action ARM authorizes, {ns}/register/action (UNVERIFIED as the
    # record's name, see evidence activity-log-provider-registration)
    record_event(sim, req, sub, f"{provider['namespace']}/register/action", provider["namespace"],
                 f"/subscriptions/{sub}/providers/{provider['namespace']}")
    return provider_body(sub, provider)


@ROUTER.route("POST", ARM, SUB + r"/providers/(?P<ns>[^/]+)/unregister")
def unregister_provider(sim, req, sub, ns):
    arm_call(sim, req, sub)
    provider = require_provider(sim, sub, ns)
    if provider["registrationState"] in ("Registered", "Registering"):
        move_provider(sim, provider, "Unregistering", "NotRegistered")
    return provider_body(sub, provider)


# ------------------------------------------------------------------------------------------------ activity log

# Activity Log (ActivityLogs_List): GET /subscriptions/{s}/providers/microsoft.insights/eventtypes/management/values,
# spec specification/monitor/resource-manager/Microsoft.Insights/stable/2015-04-01/activityLogs_API.json (the only
# api-version: family `monitor` in api_versions.yml). EventDataCollection {value: [EventData], nextLink}, x-ms-pageable
# nextLink (framework.page). EventData as in the spec example GetActivityLogsFiltered.json: operationName.value equal to
# authorization.action, status.value Succeeded, eventName EndRequest, eventTimestamp / submissionTimestamp ISO 8601.
# $filter: the spec allows only "eventTimestamp ge '..' and eventTimestamp le '..'" optionally followed by one of
# resourceGroupName / resourceUri / resourceProvider / correlationId eq '..' ("NOTE: No other syntax is allowed");
# served here: the window, resourceProvider and correlationId. The error for another filter, or none, is UNVERIFIED
# (400 BadRequest here). $select: the spec's comma-separated property list. Events are recorded by the register
# handlers above at request time (Azure's ingestion delay, minutes, is not modelled: UNVERIFIED length); newest first
# (UNVERIFIED; the module does not depend on the order). Retention 90 days (Microsoft Learn activity-log).
FILTER_TIME = re.compile(r"\s*eventTimestamp\s+(ge|le)\s+'([^']+)'\s*", re.I)
FILTER_EQ = re.compile(r"\s*(resourceProvider|correlationId)\s+eq\s+'([^']*)'\s*", re.I)
SELECTABLE = ("authorization", "claims", "correlationId", "description", "eventDataId", "eventName", "eventTimestamp",
              "httpRequest", "level", "operationId", "operationName", "properties", "resourceGroupName",
              "resourceProviderName", "resourceId", "status", "submissionTimestamp", "subStatus", "subscriptionId")
ACTIVITY_LOG_DAYS = 90


def activity_log(sim, sub: str) -> list:
    return sim.ext.setdefault("activity_log", {}).setdefault(sub.lower(), [])


def record_event(sim, req, sub: str, operation: str, provider_ns: str, resource_id: str, when=None):
    """One Succeeded EndRequest Activity Log event for a write this local Azure answered (shape: spec example)."""
    when = when or sim.now()
    correlation = new_guid()
    caller = (req.caller or {}).get("oid") if req is not None else None
    activity_log(sim, sub).append({
        "authorization": {"action": operation, "scope": resource_id},
        "caller": caller or "", "correlationId": correlation, "description": "", "eventDataId": new_guid(),
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "httpRequest": {"clientRequestId": (req.headers.get("x-ms-client-request-id") if req is not None else "") or "",
                        "method": "POST"},
        "level": "Informational", "operationId": correlation,
        "operationName": {"value": operation, "localizedValue": operation},
        "resourceProviderName": {"value": provider_ns, "localizedValue": provider_ns},
        "resourceId": resource_id, "properties": {"statusCode": "OK"},
        "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
        "subStatus": {"value": "OK", "localizedValue": "OK (HTTP Status Code: 200)"},
        "eventTimestamp": iso(when), "submissionTimestamp": iso(when), "subscriptionId": sub, "_at": when,
    })


def parse_event_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"The eventTimestamp '{text}' in $filter is not an ISO 8601 time.") from exc
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # a time without zone: UTC (UNVERIFIED)


def activity_filter(req) -> dict:
    text = req.q("$filter")
    if not text:  # UNVERIFIED code; the module always sends a window
        raise bad_request("The $filter query parameter with an eventTimestamp window is required.")
    terms: dict = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        timed, equal = FILTER_TIME.fullmatch(clause), FILTER_EQ.fullmatch(clause)
        if timed:
            terms[timed.group(1).lower()] = parse_event_time(timed.group(2))
        elif equal:
            terms[equal.group(1).lower()] = equal.group(2).lower()
        else:  # the spec: "No other syntax is allowed"; the code Azure sends is UNVERIFIED
            raise bad_request(f"The $filter '{text}' is not supported.")
    if "ge" not in terms or "le" not in terms:
        raise bad_request(f"The $filter '{text}' needs eventTimestamp ge and eventTimestamp le.")
    # "You can query for any range of dates, as long as the starting date isn't more than 90 days in the past"
    # (Microsoft Learn, azure-resource-manager/management/view-activity-logs); the error Azure sends is UNVERIFIED.
    if terms["ge"] < datetime.now(terms["ge"].tzinfo) - timedelta(days=ACTIVITY_LOG_DAYS):
        raise bad_request(f"The start time in $filter '{text}' is more than {ACTIVITY_LOG_DAYS} days in the past.")
    return terms


@ROUTER.route("GET", ARM, SUB + r"/providers/microsoft\.insights/eventtypes/management/values")
def list_activity_log(sim, req, sub):
    arm_call(sim, req, sub)
    terms = activity_filter(req)
    select = [f.strip() for f in (req.q("$select") or "").split(",") if f.strip()]
    unknown = [f for f in select if f not in SELECTABLE]
    if unknown:  # UNVERIFIED code
        raise bad_request(f"The $select property '{unknown[0]}' is not supported.")
    out = []
    for event in sorted(activity_log(sim, sub), key=lambda e: e["_at"], reverse=True):
        if not terms["ge"] <= event["_at"] <= terms["le"]:
            continue
        if terms.get("resourceprovider") and event["resourceProviderName"]["value"].lower() != terms["resourceprovider"]:
            continue
        if terms.get("correlationid") and event["correlationId"].lower() != terms["correlationid"]:
            continue
        body = {k: v for k, v in event.items() if not k.startswith("_")}
        out.append({k: body[k] for k in select if k in body} if select else body)
    return page(sim, req, out)


# ------------------------------------------------------------------------------------------------ subscriptions


# Subscription (Subscriptions_List / Subscriptions_Get): spec Microsoft.Resources/subscriptions stable/2022-12-01
# subscriptions.json; example examples/2022-12-01/GetSubscriptions.json (tests/azure_sim/spec_examples). `state` is one
# of the spec's SubscriptionState enum: Enabled, Warned, PastDue, Disabled, Deleted (scenario key `state`).
SUBSCRIPTION_STATES = ("Enabled", "Warned", "PastDue", "Disabled", "Deleted")


def subscription_body(sim, sub: dict) -> dict:
    state = sub.get("state", "Enabled")
    if state not in SUBSCRIPTION_STATES:
        raise ValueError(f"scenario: subscription {sub['id']} has state {state!r}, not one of {SUBSCRIPTION_STATES}")
    return {"id": f"/subscriptions/{sub['id']}", "subscriptionId": sub["id"], "tenantId": sim.tenant_id,
            "displayName": sub.get("display_name", sub["id"]), "state": state, "authorizationSource": "RoleBased",
            "managedByTenants": [], "tags": dict(sub.get("tags") or {}),
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}}


@ROUTER.route("GET", ARM, r"/subscriptions")
def list_subscriptions(sim, req):
    require_api_version(req)
    return page(sim, req, [subscription_body(sim, s) for s in sim.subscriptions.values()])


@ROUTER.route("GET", ARM, SUB)
def get_subscription(sim, req, sub):
    return subscription_body(sim, arm_call(sim, req, sub))


# Subscriptions - List Locations (GET /subscriptions/{s}/locations): spec Microsoft.Resources/subscriptions/stable/
# 2022-12-01 subscriptions.json, operation Subscriptions_ListLocations (x-ms-pageable nextLink; "all the locations that
# are available for resource providers"), example GetLocations.json: value[] of Location {id: /subscriptions/{s}/
# locations/eastus, name: eastus, type: Region, displayName: East US, regionalDisplayName: (US) East US, metadata
# {regionType: Physical, regionCategory: Recommended, ...}}. The list here: the spec example's two regions, the regions
# the local Azure's providers list (LOCATIONS) and every region the scenario's resources use (seed_locations), plus a
# subscription's `locations:` (display names) in the scenario; a test may append to sim.ext["locations"][sub].
# Display names: the example's; for the others the names in the Azure Cosmos DB SDKs' region tables (Azure/
# azure-sdk-for-rust azure_data_cosmos regions.rs "Taiwan North", "Korea Central", ...), whose ARM name is the display
# name without spaces, lowercased (the same table compares "West US" and "westus" as one region). A region that only a
# scenario names is shown with its ARM name as display name (UNVERIFIED spelling; no module reads it).
SPEC_EXAMPLE_LOCATIONS = ("East US", "East US 2")


def location_table(sim, sub: str) -> list:
    return sim.ext.setdefault("locations", {}).setdefault(sub.lower(), [])


def location_body(sub: str, display: str) -> dict:
    name = "".join(display.split()).lower()
    return {"id": f"/subscriptions/{sub}/locations/{name}", "name": name, "type": "Region", "displayName": display,
            "regionalDisplayName": display, "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}


@ROUTER.route("GET", ARM, SUB + r"/locations")
def list_locations(sim, req, sub):
    arm_call(sim, req, sub)
    return page(sim, req, [location_body(sub, display) for display in location_table(sim, sub)])


@seeder(order=95)  # after every family seeded its resources
def seed_locations(sim, scenario: dict):
    for sub in scenario.get("subscriptions", []):
        table = location_table(sim, sub["id"])
        used = {item.get("location") for item in sim.store.find(lambda i: i["id"].lower().startswith(f"/subscriptions/{sub['id']}/".lower()))}
        known = {"".join(d.split()).lower(): d for d in (*SPEC_EXAMPLE_LOCATIONS, *LOCATIONS, *(sub.get("locations") or []))}
        for region in used - {None, ""}:
            known.setdefault("".join(str(region).split()).lower(), str(region))
        table.extend(sorted(known.values()))


# ------------------------------------------------------------------------------------------------ resource groups

RG_PATH = SUB + r"/resourcegroups/(?P<rg>[^/]+)"


def rg_body(sub: str, name: str, location: str, tags: dict | None = None) -> dict:
    return {"id": rg_id(sub, name), "name": name, "type": "Microsoft.Resources/resourceGroups", "location": location,
            "tags": tags or {}, "properties": {"provisioningState": "Succeeded"}}


@ROUTER.route("GET", ARM, SUB + r"/resourcegroups")
def list_rgs(sim, req, sub):
    arm_call(sim, req, sub)
    return page(sim, req, resource_groups(sim, sub))


@ROUTER.route("GET", ARM, RG_PATH)
def get_rg(sim, req, sub, rg):
    require_api_version(req)
    return require_rg(sim, sub, rg)


@ROUTER.route("HEAD", ARM, RG_PATH)
def head_rg(sim, req, sub, rg):
    arm_call(sim, req, sub)
    return Response(204 if sim.store.get(rg_id(sub, rg)) else 404)


@ROUTER.route("PUT", ARM, RG_PATH)
def put_rg(sim, req, sub, rg):
    arm_call(sim, req, sub)
    body = req.json()
    existing = sim.store.get(rg_id(sub, rg))
    location = body.get("location")
    if not location:
        raise SimError(400, "LocationRequired", "The location property is required for this definition.")
    if existing and existing["location"].replace(" ", "").lower() != location.replace(" ", "").lower():
        raise SimError(409, "InvalidResourceGroupLocation",
                       f"Invalid resource group location '{location}'. The Resource group already exists in location "
                       f"'{existing['location']}'.")
    name = existing["name"] if existing else rg
    sim.store.put(rg_id(sub, name), rg_body(sub, name, location, body.get("tags")))
    return Response(200 if existing else 201, sim.store.get(rg_id(sub, name)))


# DELETE a resource group (ResourceGroups_Delete, spec Microsoft.Resources stable/2025-04-01 resources.json: 200 or 202,
# "When you delete a resource group, all of its resources are also deleted"). Answered at once with 200 (a 202 with a
# Location to poll is the other documented answer); a missing group answers 404 ResourceGroupNotFound as the GET does.
@ROUTER.route("DELETE", ARM, RG_PATH)
def delete_rg(sim, req, sub, rg):
    arm_call(sim, req, sub)
    group = require_rg(sim, sub, rg)
    prefix = group["id"].lower() + "/"
    for item in sim.store.find(lambda i: i["id"].lower().startswith(prefix)):
        sim.store.delete(item["id"])
    sim.store.delete(group["id"])
    return Response(200)


# Tags of any resource (Tags_UpdateAtScope, PATCH {scope}/providers/Microsoft.Resources/tags/default, spec
# Microsoft.Resources stable/2025-04-01 resources.json, examples PatchTagsResource.json): body TagsPatchResource
# {operation: Replace | Merge | Delete, properties: {tags}}; "The 'merge' option allows adding tags with new names and
# updating the values of tags with existing names"; "The 'delete' option allows selectively deleting tags based on
# given names or name/value pairs"; at most 50 tags at the end. Answer: TagsResource {id, name: default, type:
# Microsoft.Resources/tags, properties: {tags}}, here at once with 200 (202 is the spec's other answer).
TAGS_PATH = (SUB + r"/resourcegroups/(?P<rg>[^/]+)/providers/(?P<ns>[^/]+)/(?P<rtype>[^/]+)/(?P<name>[^/]+)"
             r"/providers/Microsoft\.Resources/tags/default")
MAX_TAGS = 50


@ROUTER.route("PATCH", ARM, TAGS_PATH)
def patch_tags(sim, req, sub, rg, ns, rtype, name):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    item = sim.store.get(arm_id(sub, rg, ns, rtype, name))
    if item is None:
        raise resource_not_found(f"{ns}/{rtype}", name, rg)
    body = req.json()
    operation = str(body.get("operation") or "")
    given = {str(k): str(v) for k, v in ((body.get("properties") or {}).get("tags") or {}).items()}
    current = dict(item.get("tags") or {})
    if operation.lower() == "replace":
        current = given
    elif operation.lower() == "merge":
        current.update(given)
    elif operation.lower() == "delete":
        current = {k: v for k, v in current.items() if k not in given or given[k] not in ("", v)}
    else:
        raise SimError(400, "InvalidRequestContent", f"The tags operation '{operation}' is not Replace, Merge or Delete.")
    if len(current) > MAX_TAGS:  # the spec's limit; the code ARM sends for it is UNVERIFIED
        raise SimError(400, "InvalidTemplate", f"The resource can have at most {MAX_TAGS} tags.")
    item["tags"] = current
    scope = item["id"]
    return {"id": f"{scope}/providers/Microsoft.Resources/tags/default", "name": "default",
            "type": "Microsoft.Resources/tags", "properties": {"tags": dict(current)}}


# ------------------------------------------------------------------------------------------------ seeding


# A seeded feature that is Registered (or Pending / Registering) was registered `registered_days_ago` days ago
# (scenario key; default 400: before the Activity Log's 90 days, so preview_feature finds nothing to verify and sends
# nothing, as for a subscription set up long ago).
SEEDED_REGISTRATION_DAYS = 400


def feature_seed(ns_name: str, value, now=None) -> dict:
    ns, sep, name = ns_name.partition("/")
    spec = value if isinstance(value, dict) else {"state": value}
    state = spec.get("state", "NotRegistered")
    out = {"namespace": ns, "name": name, "state": state, "approval_required": bool(spec.get("approval_required"))}
    if state in ("Registered", "Registering", "Pending") and now is not None:
        out["registration_date"] = now - timedelta(days=float(spec.get("registered_days_ago", SEEDED_REGISTRATION_DAYS)))
    return out


@seeder(order=10)
def seed_resources(sim, scenario: dict):
    for sub in scenario.get("subscriptions", []):
        sid = sub["id"]
        features = feature_table(sim, sid)
        for ns_name, value in (sub.get("features") or {}).items():
            feature = feature_seed(ns_name, value, sim.now())
            features[(feature["namespace"].lower(), feature["name"].lower())] = feature
        providers = provider_table(sim, sid)
        for ns in PROVIDER_CATALOG:
            providers[ns.lower()] = {"namespace": ns,
                                     "registrationState": "Registered" if ns in ALWAYS_REGISTERED else "NotRegistered"}
        for ns, state in (sub.get("providers") or {}).items():
            providers[ns.lower()] = {"namespace": ns, "registrationState": state}
        for group in sub.get("resource_groups") or []:
            body = rg_body(sid, group["name"], group.get("location", "koreacentral"), group.get("tags"))
            sim.store.put(body["id"], body)


# ------------------------------------------------------------------------------------------------ generic resource list

# GET /subscriptions/{s}/resources and .../resourceGroups/{rg}/resources (Resources_List / Resources_ListByResourceGroup,
# specification/resources/resource-manager/Microsoft.Resources/stable/2025-04-01/resources.json): top-level resources as
# GenericResourceExpanded {id, name, type, location, tags, kind, sku, identity, managedBy}; `$filter` supports
# "resourceType eq 'Microsoft.Compute/virtualMachines'" (and "name eq", joined by "and"), as the spec's $filter text says.
FILTER_CLAUSE = re.compile(r"\s*(resourceType|name)\s+eq\s+'([^']*)'\s*", re.I)
GENERIC_KEYS = ("id", "name", "type", "location", "tags", "kind", "sku", "identity", "managedBy", "extendedLocation")


def resource_filter(req):
    text = req.q("$filter")
    if not text:
        return {}
    terms = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        match = FILTER_CLAUSE.fullmatch(clause)
        if not match:  # the service's code for a filter it does not support: UNVERIFIED
            raise SimError(400, "InvalidFilterInQueryString", f"Invalid $filter '{text}' specified in the query string.")
        terms[match.group(1).lower()] = match.group(2).lower()
    return terms


def generic_resources(sim, prefix: str, terms: dict) -> list[dict]:
    def top_level(item):
        rtype = item.get("type") or ""
        parts = item["id"].split("/")
        # /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}: 9 segments, one type
        return (rtype.count("/") == 1 and len(parts) == 9 and item["id"].lower().startswith(prefix)
                and not rtype.lower().startswith("microsoft.resources/"))

    out = []
    for item in sim.store.find(top_level):
        if terms.get("resourcetype") and item["type"].lower() != terms["resourcetype"]:
            continue
        if terms.get("name") and item["name"].lower() != terms["name"]:
            continue
        out.append({k: item[k] for k in GENERIC_KEYS if item.get(k) is not None})
    return out


@ROUTER.route("GET", ARM, SUB + r"/resources")
def list_sub_resources(sim, req, sub):
    arm_call(sim, req, sub)
    return page(sim, req, generic_resources(sim, f"/subscriptions/{sub}/resourcegroups/".lower(), resource_filter(req)))


@ROUTER.route("GET", ARM, RG_PATH + r"/resources")
def list_rg_resources(sim, req, sub, rg):
    arm_call(sim, req, sub)
    require_rg(sim, sub, rg)
    return page(sim, req, generic_resources(sim, f"/subscriptions/{sub}/resourcegroups/{rg}/".lower(), resource_filter(req)))
