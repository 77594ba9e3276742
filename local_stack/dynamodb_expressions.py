"""moto's update expressions for a fraction of their CPU: the same parser, validators and executor.

Every write of a Load is an UpdateItem with the same six-action SET expression (record_store.py), and
moto spent most of such a request in three places that depend on nothing but the expression's text or
a node's class (measured in docs/local_stack.md, "Where a job's time goes"):

- **parsing** the expression, twice per request (the handler and the backend each call
  `UpdateExpressionParser.make`): the parse of a given text is remembered. Sharing the tree is safe:
  moto only reads it (`find_clauses`) or deep-copies it first (`Validator.__init__`), and everything
  that rewrites a tree (the validators' processors, `normalize`) works on that copy.
- **copying** that tree for each of the two validations per request (`copy.deepcopy` walks every node
  in Python): the validators copy it with pickle, which builds the same objects in C.
- **walking** it: each of the ten validators' passes rebuilds its map of node classes and asks
  `isinstance` of every node against abstract classes, twice, and `find_clauses` does the same. The
  answers depend only on the node's class and the pass's class, so the walk asks once per pair.
  Which node is processed, in which order, by which function, is moto's.

Nothing is skipped: every expression is still parsed (a syntax error is raised each time, since a
failed parse is not remembered), validated against the item and executed by moto's code, so the local
stack refuses what it refused before. `tests/unit/test_local_dynamodb_expressions.py` compares the
results with moto's own code on the same requests.
"""

from __future__ import annotations

import functools
import importlib
import pickle
from typing import Any

# moto's parsing modules begin with `# type: ignore`, so mypy sees none of their names: Any here.
ast_nodes: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")
UpdateExpressionParser: Any = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser

_original_make = UpdateExpressionParser.make.__func__
_original_traverse = ast_nodes.DepthFirstTraverser.traverse_node_recursively
_original_find_clauses = ast_nodes.Node.find_clauses
_original_deepcopy = validators.deepcopy
PARSED_EXPRESSIONS = 512  # distinct expression texts remembered (the workflow uses a handful)


@functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
def _parsed(expression: str) -> Any:
    return _original_make(UpdateExpressionParser, expression)


def _make(cls: type, expression_str: str) -> Any:
    if cls is not UpdateExpressionParser:  # a subclass parses its own way
        return _original_make(cls, expression_str)
    return _parsed(expression_str)


def _copied(value: Any, memo: Any = None) -> Any:
    """validators' deepcopy: a node tree through pickle (the same objects, built in C), else deepcopy."""
    if memo is None and isinstance(value, ast_nodes.Node):
        return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301 (our own objects)
    return _original_deepcopy(value, memo)


@functools.cache
def _is_node(kind: Any) -> bool:
    return issubclass(kind, ast_nodes.Node)


# (traverser class, node class) -> whether that traverser processes nodes of that class. Every moto
# traverser's `_processing_map` is a literal dict: its keys are the same for all of its instances.
_processes: dict[tuple[type, type], bool] = {}


def _processed_by(traverser: Any, kind: type) -> bool:
    key = (type(traverser), kind)
    answer = _processes.get(key)
    if answer is None:
        answer = _processes[key] = issubclass(kind, traverser.nodes_to_be_processed())
    return answer


def _traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    """moto's DepthFirstTraverser.traverse_node_recursively, with each isinstance answered per class."""
    kind: Any = type(node)
    if _is_node(kind):
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        if _processed_by(self, kind):
            node = self.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
    return node


@functools.cache
def _descends(kind: Any) -> bool:
    return issubclass(kind, (ast_nodes.Expression, ast_nodes.UpdateExpressionFunction))


def _find_clauses(self: Any, clause_types: list[type]) -> list:
    """moto's Node.find_clauses, with each isinstance answered per class."""
    clauses = []
    for child in self.children or []:
        kind: Any = type(child)
        if kind in clause_types:
            clauses.append(child)
        elif _descends(kind):
            clauses.extend(child.find_clauses(clause_types))
    return clauses


def install() -> None:
    """From now on moto parses each update expression text once, and copies and walks its trees
    without the per-node cost (idempotent)."""
    UpdateExpressionParser.make = classmethod(_make)  # moto's seams
    validators.deepcopy = _copied
    ast_nodes.DepthFirstTraverser.traverse_node_recursively = _traverse_node_recursively
    ast_nodes.Node.find_clauses = _find_clauses


def uninstall() -> None:
    """moto's own code again (for tests comparing the two)."""
    UpdateExpressionParser.make = classmethod(_original_make)
    validators.deepcopy = _original_deepcopy
    ast_nodes.DepthFirstTraverser.traverse_node_recursively = _original_traverse
    ast_nodes.Node.find_clauses = _original_find_clauses
