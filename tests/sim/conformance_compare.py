"""Compare a local Azure answer with a spec example's response on values, not only on keys (inproc.structure_diff).

What can be compared whatever the example's own data (its names, ids, dates and GUIDs are not ours):
- the JSON type of every scalar the example shows (a bool stays a bool, a number a number, a string a string);
- the spelling of every string that is the example's up to case: `registered` where the example says `Registered`
  is a wrong enum spelling, which key-presence checks never see;
- a date-time where the example has one;
- every item of our lists against the example's first item (structure_diff looks at our first item only);
- the resource type (`type`) exactly, and `id` / `name` agreeing with the URL the answer came from.
"""

from __future__ import annotations

import re

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def value_problems(expected, actual, path: str = "$") -> list[str]:
    """Sentences for each value of `actual` that disagrees with the example `expected` (keys missing from `actual`
    are structure_diff's business and are skipped here)."""
    problems = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key in actual and key != "tags":
                problems += value_problems(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list):
        if expected:
            for index, item in enumerate(actual):
                problems += value_problems(expected[0], item, f"{path}[{index}]")
    elif expected is None or actual is None:
        pass  # the example's null is "not set here"; ours may be set, and the other way round
    elif _kind(expected) != _kind(actual):
        problems.append(f"{path}: the example has a {_kind(expected)} ({expected!r}), we answer a {_kind(actual)} ({actual!r})")
    elif isinstance(expected, str):
        if expected != actual and expected.lower() == actual.lower():
            problems.append(f"{path}: spelled {actual!r}, the example spells {expected!r}")
        elif DATE_TIME.match(expected) and not DATE_TIME.match(actual):
            problems.append(f"{path}: the example has a date-time ({expected!r}), we answer {actual!r}")
        elif path.endswith(".type") and path.count(".") <= 3 and "/" in expected and expected.lower() != actual.lower():
            problems.append(f"{path}: resource type {actual!r}, the example's is {expected!r}")
    return problems


def identity_problems(url_path: str, example, body) -> list[str]:
    """For a single resource answer whose example has the ARM form (id ending in /name): our id is the URL's path and
    our name its last segment (case-insensitively). Examples of another form (a feature's name is
    'Namespace/Feature', an access policy's id ends in 'accessPolicies/') are compared by value_problems only."""
    if not (isinstance(body, dict) and isinstance(example, dict) and "id" in body):
        return []
    name = str(example.get("name") or "")
    if not name or "/" in name or not str(example.get("id") or "").endswith("/" + name):
        return []
    problems = []
    if str(body["id"]).lower() != url_path.rstrip("/").lower():
        problems.append(f"$.id: {body['id']!r} is not the resource's path {url_path!r}")
    if str(body.get("name") or "").lower() != url_path.rstrip("/").rsplit("/", 1)[1].lower():
        problems.append(f"$.name: {body.get('name')!r} is not the last segment of {url_path!r}")
    return problems


def echo_problems(request, expected, actual, path: str = "$") -> list[str]:
    """Keys of the request body that we send back although the example's response does not have them: an answer that
    echoes its request instead of being the resource Azure keeps."""
    problems = []
    if isinstance(request, dict) and isinstance(actual, dict):
        expected = expected if isinstance(expected, dict) else {}
        for key, value in request.items():
            if key not in actual or key == "tags":
                continue
            if key not in expected:
                problems.append(f"{path}.{key}: sent back from the request, not in the example's response")
            else:
                problems += echo_problems(value, expected[key], actual[key], f"{path}.{key}")
    elif isinstance(request, list) and isinstance(actual, list) and request and actual and isinstance(expected, list) and expected:
        problems += echo_problems(request[0], expected[0], actual[0], f"{path}[0]")
    return problems
