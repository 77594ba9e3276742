"""A synthesized CloudFormation template, with the intrinsic functions CDK emits resolved."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}


class UnresolvableError(ValueError):
    pass


class Template:
    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})

    @classmethod
    def load(cls, path: Path) -> Template:
        return cls(json.loads(Path(path).read_text()))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}

    def dependencies(self, logical_id: str) -> set[str]:
        resource = self.resources[logical_id]
        found: set[str] = set()
        _collect_refs(resource.get("Properties", {}), found)
        depends = resource.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        return {name for name in found if name in self.resources}

    def creation_order(self) -> list[str]:
        """Resources ordered so each comes after everything it references."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise UnresolvableError(f"circular reference through {name}")
            state[name] = 1
            for dependency in sorted(self.dependencies(name)):
                visit(dependency)
            state[name] = 2
            order.append(name)

        for name in self.resources:
            visit(name)
        return order


def _collect_refs(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found.update(match.split(".")[0] for match in re.findall(r"\$\{([^}!]+)\}", text))
        for item in value.values():
            _collect_refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_refs(item, found)


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and Fn::Split against known values."""

    def __init__(self, account_id: str, region: str, stack_name: str):
        self.pseudo = {
            **PSEUDO_PARAMETERS,
            "AWS::AccountId": account_id,
            "AWS::Region": region,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        }
        self.refs: dict[str, Any] = {}
        self.attributes: dict[str, dict[str, Any]] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            functions: dict[str, Callable[[Any], Any]] = {
                "Ref": self._ref,
                "Fn::GetAtt": self._get_att,
                "Fn::Join": self._join,
                "Fn::Sub": self._sub,
                "Fn::Select": self._select,
                "Fn::Split": self._split,
            }
            function = functions.get(name)
            if function is not None:
                return function(argument)
            if name.startswith("Fn::"):
                raise UnresolvableError(f"intrinsic function {name} is not supported locally")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        raise UnresolvableError(f"Ref to {name}, which the local stack has not created")

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute} is not known locally") from None

    def _join(self, argument: list) -> str:
        separator, items = argument
        return separator.join(str(self.resolve(item)) for item in self.resolve(items))

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self._get_att(name))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _select(self, argument: list) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: list) -> list[str]:
        separator, text = argument
        return str(self.resolve(text)).split(separator)
