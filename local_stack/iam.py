"""IAM policy evaluation, as AWS does it for a role calling a service in its own account.

A request is an action ("s3:PutObject"), a resource ARN and the request's condition keys. A role's
identity-based policies and the resource's own policy (a bucket policy) decide it:

  an explicit Deny in any of them          -> denied
  else an Allow in either                  -> allowed (same account: one Allow is enough)
  else                                     -> denied (no policy allows it)

Statements understand Action/NotAction and Resource/NotResource with `*` and `?` wildcards
(actions case-insensitively, ARNs segment by segment), Principal in resource policies, and the
condition operators below with the ForAllValues:/ForAnyValue: qualifiers and the IfExists suffix,
with AWS's semantics for missing keys (ForAllValues of a missing or empty key is true).

Policies come from the synthesized template: the AWS::IAM::Policy resources attached to a role,
the role's inline Policies and the AWS-managed policies it names. An operator, a managed policy or
a policy variable this module does not know stops the local stack, so a template cannot use an IAM
feature the local check would silently get wrong.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from local_stack.template import Resolver, Template

# The condition keys local_stack/iam_requests.py puts in a request's context. A role statement
# conditioned on another key would be evaluated as if the key were absent: refused at start instead.
KNOWN_CONDITION_KEYS = {"aws:securetransport", "dynamodb:leadingkeys", "s3:prefix"}

# The AWS-managed policies our roles attach, as AWS publishes them.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"},
    ],
}

_STRING_OPERATORS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringEqualsIgnoreCase": lambda value, pattern: value.lower() == pattern.lower(),
    "StringLike": lambda value, pattern: _glob(pattern, value),
    "ArnEquals": lambda value, pattern: value == pattern,
    "ArnLike": lambda value, pattern: arn_matches(pattern, value),
    "Bool": lambda value, pattern: value.lower() == pattern.lower(),
}
_NEGATED_OPERATORS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


class UnsupportedPolicyError(ValueError):
    """The template uses an IAM feature the local evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)  # lower-case condition key -> str or list of str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # how AWS words it: "because no identity-based policy allows the ... action"


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: segment by segment, wildcards in the resource part may span ':' and '/'."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return _glob(pattern, arn)
    return all(_glob(w, a) for w, a in zip(wanted, actual, strict=True))


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, ignore_case=True)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _as_strings(values: Iterable[Any]) -> list[str]:
    return [str(value).lower() if isinstance(value, bool) else str(value) for value in values]


@dataclass(frozen=True)
class Condition:
    operator: str  # base operator, e.g. "StringLike"
    qualifier: str | None  # "ForAllValues", "ForAnyValue" or None
    if_exists: bool
    key: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, operator: str, key: str, values: Any) -> Condition:
        qualifier, _, base = operator.rpartition(":")
        if qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise UnsupportedPolicyError(f"condition qualifier {qualifier!r} is not supported locally")
        if_exists = base.endswith("IfExists")
        base = base[: -len("IfExists")] if if_exists else base
        if base not in _STRING_OPERATORS and base not in _NEGATED_OPERATORS and base != "Null":
            raise UnsupportedPolicyError(f"condition operator {operator!r} is not supported locally")
        # Condition keys are case-insensitive; Request.context keys are lower case.
        return cls(base, qualifier or None, if_exists, key.lower(), tuple(_as_strings(_as_list(values))))

    def _one(self, value: str) -> bool:
        positive = _NEGATED_OPERATORS.get(self.operator, self.operator)
        matched = any(_STRING_OPERATORS[positive](value, pattern) for pattern in self.values)
        return not matched if self.operator in _NEGATED_OPERATORS else matched

    def holds(self, context: dict[str, Any]) -> bool:
        present = self.key in context and context[self.key] is not None
        if self.operator == "Null":  # "true": the key is absent
            return any((value.lower() == "true") != present for value in self.values)
        values = _as_strings(_as_list(context.get(self.key)))
        if self.qualifier == "ForAllValues":
            return all(self._one(value) for value in values)  # true for a missing or empty key
        if self.qualifier == "ForAnyValue":
            return any(self._one(value) for value in values)
        if not present:
            return self.if_exists or self.operator in _NEGATED_OPERATORS
        return any(self._one(value) for value in values)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Condition, ...]
    principals: tuple[str, ...] | None = None  # resource policies: "*" or principal ARNs/services
    sid: str = ""

    @classmethod
    def parse(cls, document: dict[str, Any], resource_policy: bool = False) -> Statement:
        effect = document["Effect"]
        if effect not in ("Allow", "Deny"):
            raise UnsupportedPolicyError(f"statement effect {effect!r}")
        resources = tuple(_as_strings(_as_list(document.get("Resource"))))
        not_resources = tuple(_as_strings(_as_list(document.get("NotResource"))))
        variables = [value for value in resources + not_resources if "${" in value]
        if variables:
            raise UnsupportedPolicyError(f"policy variables are not supported locally: {variables}")
        conditions = tuple(
            Condition.parse(operator, key, values)
            for operator, keys in (document.get("Condition") or {}).items()
            for key, values in keys.items()
        )
        principals = None
        if resource_policy:
            principal = document.get("Principal")
            if "NotPrincipal" in document:
                raise UnsupportedPolicyError("NotPrincipal is not supported locally")
            principals = ("*",) if principal == "*" else tuple(
                _as_strings(value for values in (principal or {}).values() for value in _as_list(values)))
        return cls(effect, tuple(_as_strings(_as_list(document.get("Action")))),
                   tuple(_as_strings(_as_list(document.get("NotAction")))), resources, not_resources,
                   conditions, principals, str(document.get("Sid", "")))

    def applies_to(self, request: Request, principal_arn: str | None = None) -> bool:
        if self.principals is not None and "*" not in self.principals and principal_arn not in self.principals:
            return False
        if self.actions and not any(action_matches(pattern, request.action) for pattern in self.actions):
            return False
        if self.not_actions and any(action_matches(pattern, request.action) for pattern in self.not_actions):
            return False
        if self.resources and not any(arn_matches(pattern, request.resource) for pattern in self.resources):
            return False
        if self.not_resources and any(arn_matches(pattern, request.resource) for pattern in self.not_resources):
            return False
        return all(condition.holds(request.context) for condition in self.conditions)


def evaluate(identity: Iterable[Statement], request: Request, resource_policy: Iterable[Statement] = (),
             principal_arn: str | None = None) -> Decision:
    """AWS's decision for a principal of this account; `resource_policy` is the resource's own policy."""
    identity, resource_policy = list(identity), list(resource_policy)
    if any(s.effect == "Deny" and s.applies_to(request) for s in identity):
        return Decision(False, "with an explicit deny in an identity-based policy")
    if any(s.effect == "Deny" and s.applies_to(request, principal_arn) for s in resource_policy):
        return Decision(False, "with an explicit deny in a resource-based policy")
    if any(s.effect == "Allow" and s.applies_to(request) for s in identity):
        return Decision(True, "allowed by an identity-based policy")
    if any(s.effect == "Allow" and s.applies_to(request, principal_arn) for s in resource_policy):
        return Decision(True, "allowed by a resource-based policy")
    return Decision(False, f"because no identity-based policy allows the {request.action} action")


@dataclass
class TemplatePolicies:
    """Every role's identity-based statements and every bucket's policy, from a deployed template."""

    roles: dict[str, list[Statement]]  # role ARN -> statements
    buckets: dict[str, list[Statement]]  # bucket name -> bucket policy statements

    @classmethod
    def from_template(cls, template: Template, resolver: Resolver) -> TemplatePolicies:
        # The roles our code runs as: the functions' and the state machines'. (Others, such as API
        # Gateway's CloudWatch role, are AWS's business.)
        assumed = {resolver.resolve(resource["Properties"]["Role"])
                   for resource in template.of_type("AWS::Lambda::Function").values()}
        assumed |= {resolver.resolve(resource["Properties"]["RoleArn"])
                    for resource in template.of_type("AWS::StepFunctions::StateMachine").values()}
        role_arns = {logical_id: resolver.attributes[logical_id]["Arn"]
                     for logical_id in template.of_type("AWS::IAM::Role")
                     if resolver.attributes[logical_id]["Arn"] in assumed}
        roles: dict[str, list[Statement]] = {arn: [] for arn in role_arns.values()}
        for logical_id, resource in template.of_type("AWS::IAM::Role").items():
            if logical_id not in role_arns:
                continue
            properties = resource.get("Properties", {})
            for policy in properties.get("Policies") or []:
                roles[role_arns[logical_id]] += _statements(resolver.resolve(policy["PolicyDocument"]))
            for arn in resolver.resolve(properties.get("ManagedPolicyArns") or []):
                if arn not in MANAGED_POLICIES:
                    raise UnsupportedPolicyError(f"{logical_id}: managed policy {arn} is unknown to local_stack/iam.py")
                roles[role_arns[logical_id]] += [Statement.parse(s) for s in MANAGED_POLICIES[arn]]
        for logical_id, resource in template.of_type("AWS::IAM::Policy").items():
            properties = resource["Properties"]
            statements = _statements(resolver.resolve(properties["PolicyDocument"]))
            for role in properties.get("Roles") or []:
                if not (isinstance(role, dict) and role.get("Ref") in template.resources):
                    raise UnsupportedPolicyError(f"{logical_id}: attached to {role}, not a role of this template")
                if role["Ref"] in role_arns:
                    roles[role_arns[role["Ref"]]] += statements
        for statements in roles.values():
            _check_condition_keys(statements)
        buckets: dict[str, list[Statement]] = {}
        for resource in template.of_type("AWS::S3::BucketPolicy").values():
            properties = resolver.resolve(resource["Properties"])
            buckets.setdefault(properties["Bucket"], []).extend(
                _statements(properties["PolicyDocument"], resource_policy=True))
        for statements in buckets.values():  # statements for service principals never apply to a role
            _check_condition_keys([s for s in statements if s.principals == ("*",)])
        return cls(roles, buckets)


def _statements(document: dict[str, Any], resource_policy: bool = False) -> list[Statement]:
    return [Statement.parse(statement, resource_policy) for statement in _as_list(document.get("Statement"))]


def _check_condition_keys(statements: Iterable[Statement]) -> None:
    unknown = {condition.key for statement in statements for condition in statement.conditions} - KNOWN_CONDITION_KEYS
    if unknown:
        raise UnsupportedPolicyError(
            f"condition keys {sorted(unknown)} are not provided by local_stack/iam_requests.py")
