"""moto's DynamoDB expression parsers, each distinct text parsed once.

moto parses a condition expression from its text every time it checks one:
twice per PutItem (its request validation, then the write), three times
per operation of a TransactWriteItems (validation, the transaction loop,
the write it calls). Its parser lexes with regular expressions compiled
per token and rebuilds the tree in eight passes: a 105-character condition
(a stream key's) takes it about 0.2 ms each time, as long as the rest of a
PutItem. An update expression is parsed twice per UpdateItem or
transaction Update (validation, the write).

What a parse yields depends on the text alone, except for the values and
names it looks up (`:v` in ExpressionAttributeValues, `#n` in
ExpressionAttributeNames), which end up in the tree's leaves. So the first
parse of a text runs moto's own parser with a placeholder in place of each
lookup and keeps the tree (nodes are immutable namedtuples) and the
placeholders in the order moto looks them up; every parse of that text
then looks them up in the request's maps, in that order, and builds the
condition (moto's own `_make_op_condition`) from the tree with the
request's values and names in place. What moto raises stays what it
raises: a text that does not parse (a lexing, keyword or grammar error) is
never kept and goes to moto's parser every time; for a kept text the only
error a parse can meet is a lookup that fails, which fails here at the
same placeholder with the same exception (moto looks everything up before
it checks the grammar, and the text's grammar is known good). The names
and values a parse reports as used (its request validation reads them) are
the text's, kept with it.

An update expression's tree (UpdateExpressionParser.make) holds no value
or name at all; its users only read it (the update's validator works on
its own deep copy), so a text's tree is kept and handed out again. That
deep copy took longer than the parse: the validator gets its copy of a
kept tree from the tree's pickle instead (the same nodes and links). Its
ten passes over the copy each rebuilt their map of node classes to
methods at every node; each pass builds it once.

Measured in-process on an admission's TransactWriteItems (the key's Update
and the event's conditional Put) and the naive handler's PutItem:
13.2 and 5.7 million instructions per request before, 9.3 and 4.9 after.
"""

import copy
import pickle
import threading
from collections import OrderedDict

import moto.dynamodb.parsing.validators as validators
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node
from moto.dynamodb.parsing.expressions import UpdateExpressionParser

# Distinct texts kept (the least recently used go first): the test suites
# use a few dozen, the bench three.
KEPT = 512

_LOCK = threading.Lock()


class _Kept:
    """Texts and what their first parse made, least recently used first."""

    def __init__(self):
        self.entries = OrderedDict()

    def get(self, text):
        with _LOCK:
            found = self.entries.get(text)
            if found is not None:
                self.entries.move_to_end(text)
            return found

    def put(self, text, value):
        """Keeps `value`; answers what was let go to make room."""
        gone = []
        with _LOCK:
            self.entries[text] = value
            self.entries.move_to_end(text)
            while len(self.entries) > KEPT:
                gone.append(self.entries.popitem(last=False)[1])
        return gone


_CONDITIONS = _Kept()
_UPDATES = _Kept()


class _Slot:
    """Where moto's parse put a looked-up value (`:v`) or name (`#n`)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class _ShapeParser(ConditionExpressionParser):
    """moto's condition parser, each lookup answered with a placeholder."""

    def __init__(self, text):
        super().__init__(text, None, None)
        self.lookups = []  # (values?, placeholder) in moto's lookup order

    def _slot(self, values, name):
        self.lookups.append((values, name))
        return _Slot(len(self.lookups) - 1)

    def _lookup_expression_attribute_value(self, name):
        return self._slot(True, name)

    def _lookup_expression_attribute_name(self, name):
        return self._slot(False, name)


def _shape(text):
    """The kept (tree, lookups, names used, values used) of `text`, parsed
    now if it is new; None when it does not parse (moto alone, each time)."""
    kept = _CONDITIONS.get(text)
    if kept is not None:
        return kept
    shaper = _ShapeParser(text)
    try:
        node = _tree(shaper)
    except Exception:  # moto's own parse raises what it raises
        return None
    kept = (_template(node), tuple(shaper.lookups), tuple(shaper.expr_attr_names_found),
            tuple(shaper.expr_attr_values_found))
    _CONDITIONS.put(text, kept)
    return kept


def _tree(parser):
    """moto's ConditionExpressionParser.parse up to its tree (without the
    condition built from it), the names and values found recorded."""
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    parser.expr_attr_names_found.extend(parser._find_literals(node))
    parser.expr_attr_values_found.extend(parser._find_expr_attr_values(node))
    return node


def _template(node):
    """`node` as a template: (node, None) for a subtree without
    placeholders (handed out as it is: the condition built from it only
    reads it), else (node, [template of each child])."""
    children = [_template(c) for c in node.children]
    if isinstance(node.value, _Slot) or any(t[1] is not None for t in children):
        return node, children
    return node, None


def _bind(template, found):
    """The template's tree with each placeholder replaced by what was
    looked up (only the nodes on a placeholder's path are new)."""
    node, children = template
    if children is None:
        return node
    value = node.value
    if isinstance(value, _Slot):
        value = found[value.index]
    return node._replace(value=value, children=[_bind(c, found) for c in children])


def parsed_once(parse):
    """`parse` (moto's ConditionExpressionParser.parse), each distinct
    expression text parsed once."""

    def parse_kept(self):
        text = self.condition_expression
        if not text or not isinstance(text, str):
            return parse(self)
        kept = _shape(text)
        if kept is None:
            return parse(self)
        template, lookups, names_used, values_used = kept
        # In moto's order, with moto's own lookups (a missing one raises
        # here what it raises in moto).
        found = [
            self._lookup_expression_attribute_value(name)
            if values
            else self._lookup_expression_attribute_name(name)
            for values, name in lookups
        ]
        self.expr_attr_names_found.extend(names_used)
        self.expr_attr_values_found.extend(values_used)
        return self._make_op_condition(_bind(template, found))

    return parse_kept


# Kept update trees by id: (the tree, its pickle).
_PICKLED = {}


def _plain(node):
    """Whether a parsed update tree holds only nodes, lists and text (what
    a pickle gives back as deepcopy would)."""
    if isinstance(node, Node):
        return all(_plain(v) for k, v in vars(node).items() if k != "parent")
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    return node is None or isinstance(node, (str, int))


def made_once(make):
    """`make` (UpdateExpressionParser.make), each distinct text parsed once."""

    def make_kept(expression_str):
        if not isinstance(expression_str, str):
            return make(expression_str)
        tree = _UPDATES.get(expression_str)
        if tree is None:
            # An invalid text raises here, every time, as in moto.
            tree = make(expression_str)
            if _plain(tree):
                _PICKLED[id(tree)] = (tree, pickle.dumps(tree, pickle.HIGHEST_PROTOCOL))
            for gone in _UPDATES.put(expression_str, tree):
                _PICKLED.pop(id(gone), None)
        return tree

    return make_kept


def copied_from_pickle(value, memo=None):
    """deepcopy for moto's update validator, which copies the tree it is
    given before changing it: a kept tree's copy is unpickled (the same
    nodes and links, a fifth of deepcopy's time), anything else deep-copied."""
    kept = _PICKLED.get(id(value))
    if memo is None and kept is not None and kept[0] is value:
        return pickle.loads(kept[1])
    return copy.deepcopy(value, memo)


def _kept_map(self):
    """A traverser's map of node classes to its bound methods, built once:
    moto builds the same map again for every node it visits, twice."""
    found = self.__dict__.get("_livehook_map")
    if found is None:
        found = self._livehook_map = self._processing_map()
        self._livehook_kinds = tuple(found)
    return found


def nodes_to_be_processed(self):
    """DepthFirstTraverser.nodes_to_be_processed, from the kept map."""
    _kept_map(self)
    return self._livehook_kinds


def process(self, node):
    """DepthFirstTraverser.process, from the kept map."""
    for class_key, processor in _kept_map(self).items():
        if isinstance(node, class_key):
            return processor(node)


def install():
    """Puts the kept parses in place of moto's."""
    ConditionExpressionParser.parse = parsed_once(ConditionExpressionParser.parse)
    UpdateExpressionParser.make = staticmethod(made_once(UpdateExpressionParser.make))
    validators.deepcopy = copied_from_pickle
    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed
    DepthFirstTraverser.process = process
