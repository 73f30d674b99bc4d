"""Turn lexed items into nodes: the block structure of ``if``, ``with`` and ``range``.

Everything that Go reports at parse time is reported with the template line: unbalanced
``end`` and misplaced ``else``/``break`` here, the problems inside one action (unknown
functions, wrong argument counts, undefined variables) by ``pipelines``. Variables get
block scope: one declared inside ``if`` ends at its ``else`` or ``end``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from punching_fist.templating.lexer import (
    KEYWORDS,
    ActionItem,
    Item,
    TextItem,
    TokenKind,
    lex,
)
from punching_fist.templating.nodes import (
    Break,
    Continue,
    If,
    Node,
    Output,
    Range,
    Text,
    With,
)
from punching_fist.templating.pipelines import (
    PipelineParser,
    Scopes,
    Tokens,
    parse_error,
    variable,
)

__all__ = ["ParsedTemplate", "parse"]

_ChainParser = Callable[[ActionItem, Tokens], Node]


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """The node tree, plus the ids of variables that are ever reassigned with ``=``."""

    nodes: tuple[Node, ...]
    reassigned: frozenset[int]


def parse(source: str) -> ParsedTemplate:
    """Parse Go template ``source``; raises TemplateError naming the line and the problem."""
    return _Parser(lex(source)).parse()


class _Parser:
    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.index = 0
        self.scopes = Scopes()
        self.pipelines = PipelineParser(self.scopes)
        self.loop_depth = 0

    def parse(self) -> ParsedTemplate:
        nodes, stop = self.item_list()
        if stop is not None:
            word = stop.tokens[0].value
            raise parse_error(stop.line, f"unexpected {{{{ {word} }}}}")
        return ParsedTemplate(tuple(nodes), frozenset(self.scopes.reassigned))

    def item_list(self) -> tuple[list[Node], ActionItem | None]:
        """Nodes up to the next ``else``/``end`` (returned) or the end of the template."""
        nodes: list[Node] = []
        while self.index < len(self.items):
            item = self.items[self.index]
            self.index += 1
            if isinstance(item, TextItem):
                nodes.append(Text(item.text))
                continue
            tokens = Tokens(item.tokens, item.line)
            first = tokens.peek()
            if first is None:
                raise parse_error(item.line, "empty action")
            word = first.value if first.kind is TokenKind.IDENT else None
            if word in ("else", "end"):
                return nodes, item
            if word in KEYWORDS:
                tokens.next()
                nodes.append(self.control(str(word), item, tokens))
            else:
                nodes.append(Output(self.pipelines.pipeline(tokens, "command", allow_decl=True)))
                tokens.expect_done()
        return nodes, None

    def control(self, word: str, item: ActionItem, tokens: Tokens) -> Node:
        if word == "if":
            return self.parse_if(item, tokens)
        if word == "with":
            return self.parse_with(item, tokens)
        if word == "range":
            return self.parse_range(item, tokens)
        if word in ("break", "continue"):
            if not self.loop_depth:
                raise parse_error(item.line, f"{{{{ {word} }}}} outside {{{{ range }}}}")
            tokens.expect_done()
            return Break() if word == "break" else Continue()
        raise parse_error(item.line, f"{{{{ {word} }}}} is not supported")

    def parse_if(self, item: ActionItem, tokens: Tokens) -> If:
        self.scopes.enter()
        pipeline = self.pipelines.control_pipeline(tokens, "if")
        body = self.block()
        orelse = self.finish(item, "if", lambda else_item, rest: self.parse_if(else_item, rest))
        self.scopes.leave()
        return If(pipeline, body, orelse)

    def parse_with(self, item: ActionItem, tokens: Tokens) -> With:
        self.scopes.enter()
        pipeline = self.pipelines.control_pipeline(tokens, "with")
        body = self.block()
        orelse = self.finish(item, "with", lambda else_item, rest: self.parse_with(else_item, rest))
        self.scopes.leave()
        return With(pipeline, body, orelse)

    def parse_range(self, item: ActionItem, tokens: Tokens) -> Range:
        names = self.range_declaration(tokens)
        pipeline = self.pipelines.pipeline(tokens, "range", allow_decl=False)
        tokens.expect_done()
        self.scopes.enter()
        declared = [self.scopes.declare(name) for name in names]
        key, value = (None, None)
        if len(declared) == 1:
            value = declared[0]
        elif len(declared) == 2:
            key, value = declared
        self.loop_depth += 1
        body = self.block()
        self.loop_depth -= 1
        orelse = self.finish(item, "range", None)
        self.scopes.leave()
        return Range(pipeline, key, value, body, orelse)

    def block(self) -> tuple[Node, ...]:
        """A body in its own scope; leaves the terminating ``else``/``end`` to ``finish``."""
        self.scopes.enter()
        nodes, stop = self.item_list()
        self.scopes.leave()
        if stop is not None:
            self.index -= 1
        return tuple(nodes)

    def finish(
        self, opener: ActionItem, word: str, chained: _ChainParser | None
    ) -> tuple[Node, ...]:
        """Consume ``{{ end }}`` or ``{{ else }} ... {{ end }}``; return the else branch."""
        stop = self.next_action()
        if stop is None:
            raise parse_error(opener.line, f"missing {{{{ end }}}} for {{{{ {word} }}}}")
        tokens = Tokens(stop.tokens, stop.line)
        keyword = tokens.next().value
        if keyword == "end":
            tokens.expect_done()
            return ()
        follow = tokens.peek()
        is_chain = follow is not None and follow.kind is TokenKind.IDENT and follow.value == word
        if chained is not None and is_chain:
            # "else if" / "else with": a nested control that shares this {{ end }}.
            tokens.next()
            return (chained(stop, tokens),)
        tokens.expect_done()
        orelse = self.block()
        end = self.next_action()
        if end is None:
            raise parse_error(opener.line, f"missing {{{{ end }}}} for {{{{ {word} }}}}")
        end_tokens = Tokens(end.tokens, end.line)
        if end_tokens.next().value != "end":
            raise parse_error(
                end.line, f"unexpected {{{{ else }}}} after {{{{ else }}}} in {{{{ {word} }}}}"
            )
        end_tokens.expect_done()
        return orelse

    def next_action(self) -> ActionItem | None:
        if self.index >= len(self.items):
            return None
        item = self.items[self.index]
        assert isinstance(item, ActionItem)  # block() stops only at else/end actions
        self.index += 1
        return item

    def range_declaration(self, tokens: Tokens) -> list[str]:
        """``$v :=`` or ``$k, $v :=`` at the start of a range, if present (and consumed)."""
        var, comma, declare = TokenKind.VARIABLE, TokenKind.COMMA, TokenKind.DECLARE
        ahead = [token.kind for token in tokens.tokens[tokens.pos : tokens.pos + 4]]
        if ahead[:2] == [var, declare]:
            declared = [tokens.tokens[tokens.pos]]
        elif ahead == [var, comma, var, declare]:
            declared = [tokens.tokens[tokens.pos], tokens.tokens[tokens.pos + 2]]
        elif ahead == [var, comma, var, comma]:
            raise parse_error(tokens.line, "too many declarations in range")
        else:
            return []
        tokens.pos += 2 * len(declared)
        names: list[str] = []
        for token in declared:
            name, path = variable(token)
            if path or name == "$":
                raise parse_error(token.line, f"cannot declare {token.text}")
            names.append(name)
        return names
