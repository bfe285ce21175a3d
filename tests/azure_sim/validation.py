"""Bodies checked against the Azure SDK for Python's own models (generated from Azure/azure-rest-api-specs).

`check(spec, data, direction)` returns the problems of one JSON body, each "path: what is wrong", for
direction "request" (what a client sent) or "response" (what the local Azure answers). A spec names a model as
"package.module:Class" ("azure.mgmt.recoveryservicesbackup.models:ProtectedItemResource"); "page:" before it means
a list page {"value": [Class], "nextLink": str}.

Two SDK generations are read, the same way their own (de)serializers read them:
- typespec emitter (`_utils/model_base.py`, `rest_field` / `rest_discriminator`): a field's JSON name is its
  `_rest_name`, its type the class annotation, read-only = `visibility == ["read"]`, required = the annotation is
  not Optional, polymorphism = the base's `__mapping__` keyed by the discriminator value;
- msrest / autorest (`_attribute_map` {"attr": {"key": "properties.x", "type": "[Foo]"}}, `_validation`
  {"attr": {"required", "readonly"}}, `_subtype_map` {"attr": {"value": "Class"}}), keys with dots are flattened.
Enums of both are extensible ("Known values are ...": any string is accepted, as the SDKs accept it).
"""

from __future__ import annotations

import datetime
import enum
import functools
import importlib
import re
import sys
import types
import typing

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$", re.I)
MAX_PROBLEMS = 20


@functools.lru_cache(maxsize=None)
def resolve(spec: str):
    """'pkg.models:Class' -> the class (ImportError/AttributeError when the SDK or class is missing)."""
    module, _sep, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def check(spec: str | None, data, direction: str) -> list[str]:
    """The problems of `data` against the model `spec` (see the module doc); [] when it conforms or spec is None."""
    if spec is None:
        return []
    problems: list[str] = []
    if spec.startswith("page:"):
        cls = resolve(spec[5:])
        if not isinstance(data, dict):
            return [f"$: a list page must be an object, got {type(data).__name__}"]
        for key in data:
            if key not in ("value", "nextLink"):
                problems.append(f"$.{key}: unknown property of a list page (value, nextLink)")
        if not isinstance(data.get("value"), list):
            problems.append("$.value: required list is missing")
        else:
            for i, item in enumerate(data["value"]):
                _value(cls, item, f"$.value[{i}]", direction, problems)
        if "nextLink" in data and not isinstance(data["nextLink"], (str, type(None))):
            problems.append("$.nextLink: expected a string")
        return problems[:MAX_PROBLEMS]
    _value(resolve(spec), data, "$", direction, problems)
    return problems[:MAX_PROBLEMS]


# --------------------------------------------------------------------------------------------------- dispatch


def _is_typespec_model(cls) -> bool:
    return isinstance(cls, type) and getattr(cls, "_is_model", False)


def _is_msrest_model(cls) -> bool:
    return isinstance(cls, type) and hasattr(cls, "_attribute_map")


def _value(t, data, path, direction, problems):
    """Check `data` against a type: a typespec annotation, a model class, or an msrest type string."""
    if len(problems) >= MAX_PROBLEMS:
        return
    if _is_typespec_model(t):
        _typespec_model(t, data, path, direction, problems)
    elif _is_msrest_model(t):
        _msrest_model(t, data, path, direction, problems)
    else:
        _annotation(t, data, path, direction, problems)


def _type_name(data) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(data), type(data).__name__)


def _scalar(kind: str, data, path, problems, fmt: str | None = None):
    ok = {
        "str": isinstance(data, str),
        "int": isinstance(data, int) and not isinstance(data, bool),
        "float": isinstance(data, (int, float)) and not isinstance(data, bool),
        "bool": isinstance(data, bool),
        "datetime": (isinstance(data, str) and (fmt in ("rfc7231", "rfc-1123") or bool(RFC3339.match(data)))
                     or (fmt in ("unix-timestamp", "unix-time") and isinstance(data, int))),
    }[kind]
    if not ok:
        want = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
                "datetime": "a date-time string (RFC 3339)"}[kind]
        problems.append(f"{path}: expected {want}, got {_type_name(data)} {data!r:.60}")


# --------------------------------------------------------------------------------------------------- typespec


def _typespec_fields(cls) -> dict:
    """{rest name: (rest field, annotation)} for a model_base class, parents first (as Model.__new__ builds it)."""
    cache = cls.__dict__.get("_sim_fields")
    if cache is not None:
        return cache
    module = sys.modules[cls.__module__]
    package = _package(cls.__module__)
    globalns = {**vars(module), "_models": package}
    fields = {}
    for klass in reversed(cls.__mro__):
        hints = getattr(klass, "__annotations__", {})
        for attr, value in vars(klass).items():
            if attr.startswith("_") or type(value).__name__ != "_RestField":
                continue
            annotation = hints.get(attr, typing.Any)
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, globalns)  # noqa: S307  (the SDK's own annotation text)
                except Exception:  # noqa: BLE001  an annotation we cannot evaluate is not checked
                    annotation = typing.Any
            fields[value._rest_name_input or attr] = (value, annotation)
    type.__setattr__(cls, "_sim_fields", fields)
    return fields


@functools.lru_cache(maxsize=None)
def _package(module: str):
    """The models package of a models module (where the SDK's forward references point)."""
    return importlib.import_module(module.rsplit(".", 1)[0])


def _forward(t, package):
    if isinstance(t, typing.ForwardRef):
        name = t.__forward_arg__.split(".")[-1]
        return getattr(package, name, typing.Any) if package else typing.Any
    if isinstance(t, str):
        return getattr(package, t.split(".")[-1], typing.Any) if package else typing.Any
    return t


def _is_optional(annotation) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _typespec_model(cls, data, path, direction, problems):
    if not isinstance(data, dict):
        problems.append(f"{path}: expected an object ({cls.__name__}), got {_type_name(data)}")
        return
    cls = _typespec_subtype(cls, data, path, problems)
    if cls is None:
        return
    fields = _typespec_fields(cls)
    for key, value in data.items():
        here = f"{path}.{key}"
        if key not in fields:
            problems.append(f"{here}: unknown property of {cls.__name__}")
            continue
        field, annotation = fields[key]
        visibility = field._visibility
        if direction == "request" and visibility == ["read"]:
            problems.append(f"{here}: read-only property of {cls.__name__} sent by the client")
            continue
        if direction == "response" and visibility and "read" not in visibility:
            problems.append(f"{here}: write-only property of {cls.__name__} returned")
            continue
        _annotation(annotation, value, here, direction, problems, cls, field._format)
    for key, (field, annotation) in fields.items():
        if key in data or _is_optional(annotation) or annotation is typing.Any:
            continue
        visibility = field._visibility or []
        if direction == "request" and visibility == ["read"]:
            continue
        if direction == "response" and visibility and "read" not in visibility:
            continue
        problems.append(f"{path}.{key}: required property of {cls.__name__} is missing")


def _typespec_subtype(cls, data, path, problems):
    """The class the discriminator in `data` selects (cls itself when it has none); None after a problem."""
    mapping = getattr(cls, "__mapping__", None)
    if mapping is None:
        return cls
    disc = next((v for k in reversed(cls.__mro__) for v in vars(k).values()
                 if type(v).__name__ == "_RestField" and v._is_discriminator), None)
    if disc is None:
        return cls
    name = disc._rest_name_input
    value = data.get(name)
    mapping = _all_subtypes(cls)
    allowed = sorted(k for k, sub in mapping.items() if issubclass(sub, cls))
    if value is None:
        if _own_discriminator(cls, name) is None:
            problems.append(f"{path}.{name}: required discriminator of {cls.__name__} is missing "
                            f"(one of {', '.join(allowed)})")
            return None
        return cls  # a concrete type: its Literal field is required and checked with the other fields
    sub = mapping.get(value)
    if sub is not None and issubclass(sub, cls):
        return sub
    own = _own_discriminator(cls, name)
    if own is not None and value == own:
        return cls
    problems.append(f"{path}.{name}: '{value}' is not a valid discriminator for {cls.__name__}"
                    + (f" (one of {', '.join(allowed)})" if allowed else f" (expected '{own}')"))
    return None


def _all_subtypes(cls) -> dict:
    """Discriminator value -> class over the whole hierarchy below cls: an intermediate base (registered under its
    class name) keeps its own subtypes in its own __mapping__, as Model._deserialize walks them one level at a time."""
    found: dict = {}
    todo = [cls.__mapping__]
    while todo:
        for value, sub in todo.pop().items():
            if value not in found:
                found[value] = sub
                if sub.__dict__.get("__mapping__") is not None:
                    todo.append(sub.__dict__["__mapping__"])
    return found


def _own_discriminator(cls, name):
    for klass, value in ((k, d) for k in cls.__mro__ for d in vars(k).values()):
        if type(value).__name__ == "_RestField" and value._is_discriminator and value._rest_name_input == name:
            hint = getattr(klass, "__annotations__", {})
            for attr, field in vars(klass).items():
                if field is value:
                    ann = hint.get(attr)
                    match = re.search(r'Literal\[\s*["\']([^"\']+)', ann if isinstance(ann, str) else repr(ann))
                    return match.group(1) if match else None
    return None


def _annotation(t, data, path, direction, problems, owner=None, fmt=None):
    package = _package(owner.__module__) if owner is not None else None
    t = _forward(t, package)
    if t is typing.Any or t is object:
        return
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        options = [_forward(a, package) for a in args if a is not type(None)]
        if data is None and type(None) in args:
            return
        if any(o is str for o in options) and isinstance(data, str):
            return  # Union[str, SomeEnum]: an extensible enum
        best = None
        for option in options:
            attempt: list[str] = []
            _annotation(option, data, path, direction, attempt, owner, fmt)
            if not attempt:
                return
            best = attempt if best is None or len(attempt) < len(best) else best
        problems.extend(best or [f"{path}: no allowed type matches"])
        return
    if origin is typing.Literal:
        if data not in args:
            problems.append(f"{path}: {data!r} is not one of {', '.join(map(repr, args))}")
        return
    if origin in (list, typing.List, typing.Sequence, tuple):
        if not isinstance(data, list):
            problems.append(f"{path}: expected an array, got {_type_name(data)}")
            return
        item = args[0] if args else typing.Any
        for i, value in enumerate(data):
            _annotation(item, value, f"{path}[{i}]", direction, problems, owner, fmt)
        return
    if origin in (dict, typing.Dict, typing.Mapping):
        if not isinstance(data, dict):
            problems.append(f"{path}: expected an object, got {_type_name(data)}")
            return
        item = args[1] if len(args) > 1 else typing.Any
        for key, value in data.items():
            _annotation(item, value, f"{path}.{key}", direction, problems, owner, fmt)
        return
    if _is_typespec_model(t) or _is_msrest_model(t):
        _value(t, data, path, direction, problems)
        return
    if isinstance(t, type) and issubclass(t, enum.Enum):
        numeric = all(isinstance(m.value, int) for m in t)
        if not isinstance(data, int if numeric else str) or isinstance(data, bool):
            problems.append(f"{path}: expected a string (enum {t.__name__}), got {_type_name(data)}")
        return
    if t in (str, bytes, bytearray):
        _scalar("str", data, path, problems)
    elif t is bool:
        _scalar("bool", data, path, problems)
    elif t is int:
        _scalar("int", data, path, problems)
    elif t is float:
        _scalar("float", data, path, problems)
    elif t is datetime.datetime:
        _scalar("datetime", data, path, problems, fmt)
    elif t in (datetime.date, datetime.time, datetime.timedelta):
        _scalar("str", data, path, problems)
    # anything else (a type we do not know) is not checked


# --------------------------------------------------------------------------------------------------- msrest


_DOT = re.compile(r"(?<!\\)\.")


def _msrest_models(cls):
    return sys.modules[cls.__module__.rsplit(".", 1)[0]] if "." in cls.__module__ else sys.modules[cls.__module__]


def _msrest_tree(cls) -> dict:
    """{json key: (attr, type string, validation) | subtree dict} from _attribute_map (flattened keys split on '.')."""
    cache = cls.__dict__.get("_sim_tree")
    if cache is not None:
        return cache
    tree: dict = {}
    validation = getattr(cls, "_validation", {}) or {}
    for attr, info in cls._attribute_map.items():
        parts = [p.replace("\\.", ".") for p in _DOT.split(info["key"])]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (attr, info["type"], validation.get(attr, {}))
    type.__setattr__(cls, "_sim_tree", tree)
    return tree


def _msrest_model(cls, data, path, direction, problems):
    if not isinstance(data, dict):
        problems.append(f"{path}: expected an object ({cls.__name__}), got {_type_name(data)}")
        return
    models = _msrest_models(cls)
    subtypes = getattr(cls, "_subtype_map", None) or {}
    for attr, mapping in subtypes.items():
        key = cls._attribute_map[attr]["key"]
        value = data.get(key)
        if value is None:
            problems.append(f"{path}.{key}: required discriminator of {cls.__name__} is missing "
                            f"(one of {', '.join(sorted(mapping))})")
            return
        if value not in mapping:
            problems.append(f"{path}.{key}: '{value}' is not a valid discriminator for {cls.__name__} "
                            f"(one of {', '.join(sorted(mapping))})")
            return
        sub = getattr(models, mapping[value], None)
        if sub is not None and sub is not cls:
            _msrest_model(sub, data, path, direction, problems)
            return
    _msrest_node(cls, models, _msrest_tree(cls), data, path, direction, problems)


def _msrest_node(cls, models, tree, data, path, direction, problems):
    for key, value in data.items():
        here = f"{path}.{key}"
        node = tree.get(key)
        if node is None:
            problems.append(f"{here}: unknown property of {cls.__name__}")
        elif isinstance(node, dict):
            if not isinstance(value, dict):
                problems.append(f"{here}: expected an object, got {_type_name(value)}")
            else:
                _msrest_node(cls, models, node, value, here, direction, problems)
        else:
            attr, kind, rules = node
            if direction == "request" and rules.get("readonly"):
                problems.append(f"{here}: read-only property of {cls.__name__} sent by the client")
                continue
            if value is not None:
                _msrest_type(kind, models, value, here, direction, problems)
    for key, node in tree.items():
        if key in data:
            continue
        if isinstance(node, tuple):
            rules = node[2]
            if rules.get("required") and not (direction == "request" and rules.get("readonly")):
                problems.append(f"{path}.{key}: required property of {cls.__name__} is missing")
        elif _msrest_subtree_required(node, direction):
            problems.append(f"{path}.{key}: required object of {cls.__name__} is missing")


def _msrest_subtree_required(node: dict, direction: str) -> bool:
    for child in node.values():
        if isinstance(child, dict):
            if _msrest_subtree_required(child, direction):
                return True
        elif child[2].get("required") and not (direction == "request" and child[2].get("readonly")):
            return True
    return False


def _msrest_type(kind: str, models, data, path, direction, problems):
    if kind.startswith("[") and kind.endswith("]"):
        if not isinstance(data, list):
            problems.append(f"{path}: expected an array, got {_type_name(data)}")
            return
        for i, item in enumerate(data):
            _msrest_type(kind[1:-1], models, item, f"{path}[{i}]", direction, problems)
        return
    if kind.startswith("{") and kind.endswith("}"):
        if not isinstance(data, dict):
            problems.append(f"{path}: expected an object, got {_type_name(data)}")
            return
        for key, item in data.items():
            _msrest_type(kind[1:-1], models, item, f"{path}.{key}", direction, problems)
        return
    scalar = {"str": "str", "bytearray": "str", "base64": "str", "duration": "str", "date": "str", "time": "str",
              "int": "int", "long": "int", "float": "float", "decimal": "float", "bool": "bool",
              "iso-8601": "datetime", "rfc-1123": "datetime", "unix-time": "datetime"}.get(kind)
    if scalar == "datetime":
        _scalar("datetime", data, path, problems, kind)
    elif scalar:
        _scalar(scalar, data, path, problems)
    elif kind == "object":
        return
    else:
        target = getattr(models, kind, None)
        if isinstance(target, type) and issubclass(target, enum.Enum):
            if not isinstance(data, str):
                problems.append(f"{path}: expected a string (enum {kind}), got {_type_name(data)}")
        elif _is_msrest_model(target):
            _msrest_model(target, data, path, direction, problems)
