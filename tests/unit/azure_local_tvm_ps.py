"""A small reader of roles/azure_local_tvm/files/AzureLocalTvm.ps1 on its tree-sitter PowerShell parse tree, for the
script tests (test_azure_local_tvm_script.py) and the mutation check (test_azure_local_tvm_mutations.py).

It gives, per function, every command with its parameters and their values as written, in source order, splats
resolved, and the statements that enclose a command (if conditions, else, try/catch/finally, foreach)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import tree_sitter
import tree_sitter_powershell

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "azure_local_tvm", "files", "AzureLocalTvm.ps1")
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
# Switch parameters the script uses: they take no value (the next element is positional or another parameter).
SWITCHES = {"-force", "-recurse", "-file", "-directory", "-disablenamechecking", "-copy"}


@dataclass
class Call:
    name: str  # lower case
    params: dict  # '-param' (lower case) -> value text, or True for a switch
    positional: list = field(default_factory=list)
    redirect: str | None = None
    node: object = None


class Script:
    def __init__(self, source: bytes):
        self.source = source
        self.root = PARSER.parse(source).root_node
        self.funcs = {}
        for node in walk(self.root):
            if node.type == "function_statement":
                name = next(c for c in node.children if c.type == "function_name")
                self.funcs[self.text(name)] = node

    def text(self, node) -> str:
        return self.source[node.start_byte:node.end_byte].decode()

    def calls(self, where, name: str | None = None) -> list:
        """Commands under a function (its name) or node, in source order; only those named `name` if given."""
        node = self.funcs[where] if isinstance(where, str) else where
        out = []
        for cmd in walk(node):
            if cmd.type != "command" or cmd.child_by_field_name("command_name") is None:
                continue
            call = Call(self.text(cmd.child_by_field_name("command_name")).lower(), {}, node=cmd)
            if name and call.name != name.lower():
                continue
            current = None
            elements = cmd.child_by_field_name("command_elements")
            for el in elements.children if elements is not None else []:
                if el.type == "command_argument_sep":
                    continue
                if el.type == "redirection":
                    call.redirect = self.text(el)
                elif el.type == "command_parameter":
                    current = self.text(el).lower()
                    call.params[current] = True
                    if current in SWITCHES:
                        current = None
                elif current is not None:
                    call.params[current] = self.text(el)
                    current = None
                else:
                    call.positional.append(self.text(el))
            out.append(call)
        return out

    def call(self, where, name: str, index: int = 0) -> Call:
        found = self.calls(where, name)
        assert len(found) > index, f"{where} has no {name} call #{index + 1}"
        return found[index]

    def splat(self, function: str, variable: str) -> dict:
        """Keys and value texts given to a hashtable splat variable in a function: @{ K = v; ... } and $var.K = v."""
        body = self.text(self.funcs[function])
        out = {}
        literal = re.search(r"\$" + variable + r" = @\{([^}]*)\}", body)
        for part in (literal.group(1).split(";") if literal else []):
            key, _sep, value = part.partition("=")
            out[key.strip()] = value.strip()
        for key, value in re.findall(r"\$" + variable + r"\.(\w+) = ([^;\n}]+)", body):
            out[key] = value.strip()
        return out

    def enclosing(self, node) -> list:
        """What encloses a node, innermost first: 'if <condition>', 'condition of <condition>', 'else of <condition>',
        'try', 'catch',
        'finally', 'foreach <variable> in <pipeline>', 'function <name>'."""
        out, child = [], node
        parent = node.parent
        while parent is not None:
            if parent.type == "if_statement":
                condition = parent.children[2]
                branch = ("if" if child.type == "statement_block" else "condition of" if child == condition else "else of")
                out.append(f"{branch} {self.text(condition)}")
            elif parent.type in ("catch_clause", "finally_clause"):
                out.append(parent.type.split("_")[0])
            elif parent.type == "try_statement" and child.type == "statement_block":
                out.append("try")
            elif parent.type == "foreach_statement":
                var = next(c for c in parent.children if c.type == "variable")
                pipe = next(c for c in parent.children if c.type == "pipeline")
                out.append(f"foreach {self.text(var)} in {self.text(pipe)}")
            elif parent.type == "function_statement":
                out.append("function " + self.text(next(c for c in parent.children if c.type == "function_name")))
            child, parent = parent, parent.parent
        return out

    def statement_texts(self, function: str) -> list:
        """The function body's text as one normalised line per statement (whitespace collapsed), for exact checks."""
        return [" ".join(line.split()) for line in self.text(self.funcs[function]).splitlines() if line.strip()]


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def load(path: str = SCRIPT) -> Script:
    with open(path, "rb") as handle:
        return Script(handle.read())
