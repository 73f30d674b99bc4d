"""Turn lexed items into nodes, resolving variables and checking function names and arity.

Everything that Go reports at parse time is reported here, with the template line:
unknown functions, wrong argument counts, undefined variables, unbalanced ``end``.
Variables get block scope (a variable declared inside ``if`` ends at its ``else`` or
``end``), and each declaration becomes its own :class:`Var`, so shadowing is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from punching_fist.errors import TemplateError
from punching_fist.templating.functions import FUNCTIONS
from punching_fist.templating.lexer import (
    KEYWORDS,
    ActionItem,
    Item,
    TextItem,
    Token,
    TokenKind,
    lex,
)
from punching_fist.templating.nodes import (
    Break,
    Chain,
    Command,
    Const,
    Continue,
    Dot,
    Field,
    If,
    Node,
    Operand,
    Output,
    Pipeline,
    Range,
    SubPipeline,
    Text,
    Var,
    VarRef,
    With,
)

__all__ = ["ROOT", "ParsedTemplate", "parse"]

ROOT = Var(0, "$")

_ChainParser = Callable[[ActionItem, "_Tokens"], Node]

_LITERALS = (TokenKind.STRING, TokenKind.NUMBER, TokenKind.BOOL, TokenKind.NIL)


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """The node tree, plus the ids of variables that are ever reassigned with ``=``."""

    nodes: tuple[Node, ...]
    reassigned: frozenset[int]


def parse(source: str) -> ParsedTemplate:
    """Parse Go template ``source``; raises TemplateError naming the line and the problem."""
    return _Parser(lex(source)).parse()


def _error(line: int, problem: str) -> TemplateError:
    return TemplateError(f"template line {line}: {problem}")


class _Tokens:
    """The tokens of one action, consumed left to right."""

    def __init__(self, tokens: tuple[Token, ...], line: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.line = line

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, *kinds: TokenKind) -> bool:
        token = self.peek()
        return token is not None and token.kind in kinds

    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def current_line(self) -> int:
        token = self.peek()
        return token.line if token else self.line


class _FuncName:
    """A function identifier met as an operand, before we know whether it takes arguments."""

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line


class _Parser:
    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.index = 0
        self.scopes: list[dict[str, Var]] = [{"$": ROOT}]
        self.next_var = 1
        self.reassigned: set[int] = set()
        self.loop_depth = 0

    def parse(self) -> ParsedTemplate:
        nodes, stop = self.item_list()
        if stop is not None:
            word = stop.tokens[0].value
            raise _error(stop.line, f"unexpected {{{{ {word} }}}}")
        return ParsedTemplate(tuple(nodes), frozenset(self.reassigned))

    # --- structure --------------------------------------------------------------------

    def item_list(self) -> tuple[list[Node], ActionItem | None]:
        """Nodes up to the next ``else``/``end`` (returned) or the end of the template."""
        nodes: list[Node] = []
        while self.index < len(self.items):
            item = self.items[self.index]
            self.index += 1
            if isinstance(item, TextItem):
                nodes.append(Text(item.text))
                continue
            tokens = _Tokens(item.tokens, item.line)
            first = tokens.peek()
            if first is None:
                raise _error(item.line, "empty action")
            word = first.value if first.kind is TokenKind.IDENT else None
            if word in ("else", "end"):
                return nodes, item
            if word in KEYWORDS:
                tokens.next()
                nodes.append(self.control(str(word), item, tokens))
            else:
                nodes.append(Output(self.pipeline(tokens, "command", allow_decl=True)))
                self.expect_done(tokens)
        return nodes, None

    def control(self, word: str, item: ActionItem, tokens: _Tokens) -> Node:
        if word == "if":
            return self.parse_if(item, tokens)
        if word == "with":
            return self.parse_with(item, tokens)
        if word == "range":
            return self.parse_range(item, tokens)
        if word in ("break", "continue"):
            if not self.loop_depth:
                raise _error(item.line, f"{{{{ {word} }}}} outside {{{{ range }}}}")
            self.expect_done(tokens)
            return Break() if word == "break" else Continue()
        raise _error(item.line, f"{{{{ {word} }}}} is not supported")

    def parse_if(self, item: ActionItem, tokens: _Tokens) -> If:
        self.scopes.append({})
        pipeline = self.control_pipeline(tokens, "if")
        body = self.block()
        orelse = self.finish(item, "if", lambda else_item, rest: self.parse_if(else_item, rest))
        self.scopes.pop()
        return If(pipeline, body, orelse)

    def parse_with(self, item: ActionItem, tokens: _Tokens) -> With:
        self.scopes.append({})
        pipeline = self.control_pipeline(tokens, "with")
        body = self.block()
        orelse = self.finish(item, "with", lambda else_item, rest: self.parse_with(else_item, rest))
        self.scopes.pop()
        return With(pipeline, body, orelse)

    def parse_range(self, item: ActionItem, tokens: _Tokens) -> Range:
        names = self.range_declaration(tokens)
        pipeline = self.pipeline(tokens, "range", allow_decl=False)
        self.expect_done(tokens)
        self.scopes.append({})
        declared = [self.declare(name) for name in names]
        key, value = (None, None)
        if len(declared) == 1:
            value = declared[0]
        elif len(declared) == 2:
            key, value = declared
        self.loop_depth += 1
        body = self.block()
        self.loop_depth -= 1
        orelse = self.finish(item, "range", None)
        self.scopes.pop()
        return Range(pipeline, key, value, body, orelse)

    def block(self) -> tuple[Node, ...]:
        """A body in its own scope; leaves the terminating ``else``/``end`` to ``finish``."""
        self.scopes.append({})
        nodes, stop = self.item_list()
        self.scopes.pop()
        if stop is not None:
            self.index -= 1
        return tuple(nodes)

    def finish(
        self, opener: ActionItem, word: str, chained: _ChainParser | None
    ) -> tuple[Node, ...]:
        """Consume ``{{ end }}`` or ``{{ else }} ... {{ end }}``; return the else branch."""
        stop = self.next_action()
        if stop is None:
            raise _error(opener.line, f"missing {{{{ end }}}} for {{{{ {word} }}}}")
        tokens = _Tokens(stop.tokens, stop.line)
        keyword = tokens.next().value
        if keyword == "end":
            self.expect_done(tokens)
            return ()
        follow = tokens.peek()
        is_chain = follow is not None and follow.kind is TokenKind.IDENT and follow.value == word
        if chained is not None and is_chain:
            # "else if" / "else with": a nested control that shares this {{ end }}.
            tokens.next()
            return (chained(stop, tokens),)
        self.expect_done(tokens)
        orelse = self.block()
        end = self.next_action()
        if end is None:
            raise _error(opener.line, f"missing {{{{ end }}}} for {{{{ {word} }}}}")
        end_tokens = _Tokens(end.tokens, end.line)
        if end_tokens.next().value != "end":
            raise _error(
                end.line, f"unexpected {{{{ else }}}} after {{{{ else }}}} in {{{{ {word} }}}}"
            )
        self.expect_done(end_tokens)
        return orelse

    def next_action(self) -> ActionItem | None:
        if self.index >= len(self.items):
            return None
        item = self.items[self.index]
        assert isinstance(item, ActionItem)  # block() stops only at else/end actions
        self.index += 1
        return item

    # --- variables --------------------------------------------------------------------

    def declare(self, name: str) -> Var:
        var = Var(self.next_var, name)
        self.next_var += 1
        self.scopes[-1][name] = var
        return var

    def resolve(self, name: str, line: int) -> Var:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise _error(line, f"undefined variable {name}")

    def range_declaration(self, tokens: _Tokens) -> list[str]:
        """``$v :=`` or ``$k, $v :=`` at the start of a range, if present (and consumed)."""
        var, comma, declare = TokenKind.VARIABLE, TokenKind.COMMA, TokenKind.DECLARE
        ahead = [token.kind for token in tokens.tokens[tokens.pos : tokens.pos + 4]]
        if ahead[:2] == [var, declare]:
            declared = [tokens.tokens[tokens.pos]]
        elif ahead == [var, comma, var, declare]:
            declared = [tokens.tokens[tokens.pos], tokens.tokens[tokens.pos + 2]]
        elif ahead == [var, comma, var, comma]:
            raise _error(tokens.line, "too many declarations in range")
        else:
            return []
        tokens.pos += 2 * len(declared)
        names: list[str] = []
        for token in declared:
            name, path = _variable(token)
            if path or name == "$":
                raise _error(token.line, f"cannot declare {token.text}")
            names.append(name)
        return names

    # --- pipelines --------------------------------------------------------------------

    def control_pipeline(self, tokens: _Tokens, context: str) -> Pipeline:
        pipeline = self.pipeline(tokens, context, allow_decl=True)
        self.expect_done(tokens)
        return pipeline

    def pipeline(self, tokens: _Tokens, context: str, *, allow_decl: bool) -> Pipeline:
        line = tokens.current_line()
        target: str | None = None
        assign = False
        first, second = tokens.peek(), tokens.peek(1)
        if (
            first is not None
            and second is not None
            and first.kind is TokenKind.VARIABLE
            and second.kind in (TokenKind.DECLARE, TokenKind.ASSIGN)
        ):
            name, path = _variable(first)
            if not allow_decl:
                raise _error(first.line, f"cannot declare or assign a variable in a {context}")
            if path or name == "$":
                raise _error(first.line, f"cannot assign to {first.text}")
            target, assign = name, second.kind is TokenKind.ASSIGN
            tokens.pos += 2
        commands: list[Command] = []
        while True:
            commands.append(self.command(tokens, context, piped=bool(commands)))
            if not tokens.at(TokenKind.PIPE):
                break
            tokens.next()
        decl: tuple[Var, ...] = ()
        if target is not None and assign:
            var = self.resolve(target, line)
            self.reassigned.add(var.id)
            decl = (var,)
        elif target is not None:
            decl = (self.declare(target),)
        return Pipeline(decl, assign, tuple(commands), line)

    def command(self, tokens: _Tokens, context: str, *, piped: bool) -> Command:
        line = tokens.current_line()
        operands: list[Operand | _FuncName] = []
        while not tokens.done() and not tokens.at(TokenKind.PIPE, TokenKind.RPAREN):
            operands.append(self.operand(tokens))
        if not operands:
            if tokens.at(TokenKind.RPAREN):
                raise _error(line, "unexpected ')' in command")
            problem = "missing command after |" if piped else f"missing value for {context}"
            raise _error(line, problem)
        head, rest = operands[0], operands[1:]
        args = tuple(self.as_operand(arg) for arg in rest)
        if isinstance(head, _FuncName):
            self.check_arity(head, len(args) + piped)
            return Command(head.name, args)
        if piped:
            raise _error(line, "cannot pipe into a value that is not a function")
        if args:
            raise _error(line, "can't give arguments to a value that is not a function")
        return Command(None, (head,))

    def check_arity(self, func: _FuncName, count: int) -> None:
        spec = FUNCTIONS[func.name]
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            if spec.max_args is None:
                want = f"at least {spec.min_args}"
            elif spec.max_args == spec.min_args:
                want = str(spec.min_args)
            else:
                want = f"{spec.min_args} to {spec.max_args}"
            raise _error(
                func.line, f"wrong number of arguments for {func.name}: want {want}, got {count}"
            )

    def as_operand(self, operand: Operand | _FuncName) -> Operand:
        """A function name used as an argument is a call without arguments, as in Go."""
        if isinstance(operand, _FuncName):
            self.check_arity(operand, 0)
            return SubPipeline(Pipeline((), False, (Command(operand.name, ()),), operand.line))
        return operand

    def operand(self, tokens: _Tokens) -> Operand | _FuncName:
        token = tokens.next()
        kind = token.kind
        if kind is TokenKind.FIELD:
            return Field(_path(token))
        if kind is TokenKind.DOT:
            return Dot()
        if kind is TokenKind.VARIABLE:
            name, path = _variable(token)
            return VarRef(self.resolve(name, token.line), path)
        if kind in _LITERALS:
            return Const(token.value)
        if kind is TokenKind.LPAREN:
            inner = self.pipeline(tokens, "parenthesized pipeline", allow_decl=False)
            if not tokens.at(TokenKind.RPAREN):
                raise _error(token.line, "unclosed left paren")
            tokens.next()
            operand: Operand = SubPipeline(inner)
            while tokens.at(TokenKind.CHAIN):
                operand = Chain(operand, _path(tokens.next()))
            return operand
        if kind is TokenKind.IDENT:
            word = str(token.value)
            if word in KEYWORDS:
                raise _error(token.line, f"unexpected {word!r} in command")
            if word not in FUNCTIONS:
                raise _error(token.line, f"unknown function {word}")
            return _FuncName(word, token.line)
        raise _error(token.line, f"unexpected {token.text!r} in command")

    def expect_done(self, tokens: _Tokens) -> None:
        token = tokens.peek()
        if token is not None:
            raise _error(token.line, f"unexpected {token.text!r} in action")


def _variable(token: Token) -> tuple[str, tuple[str, ...]]:
    assert isinstance(token.value, tuple)
    name, path = token.value
    return str(name), tuple(str(segment) for segment in path)


def _path(token: Token) -> tuple[str, ...]:
    assert isinstance(token.value, tuple)
    return tuple(str(segment) for segment in token.value)
