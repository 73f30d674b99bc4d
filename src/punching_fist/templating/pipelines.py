"""Parsing the pipeline of one action: its commands, operands and variables.

The block structure (``if``, ``with``, ``range``, ``else``, ``end``) is ``parser``'s; what
sits inside one ``{{ ... }}`` is parsed here, where Go's parse-time checks on it are made:
unknown functions, wrong argument counts, undefined variables. Variables get block scope
(``Scopes``), and each declaration becomes its own :class:`Var`, so shadowing is exact.
"""

from __future__ import annotations

from punching_fist.errors import TemplateError
from punching_fist.templating.functions import FUNCTIONS
from punching_fist.templating.lexer import KEYWORDS, Token, TokenKind
from punching_fist.templating.nodes import (
    Chain,
    Command,
    Const,
    Dot,
    Field,
    Operand,
    Pipeline,
    SubPipeline,
    Var,
    VarRef,
)

__all__ = ["ROOT", "PipelineParser", "Scopes", "Tokens", "parse_error", "variable"]

ROOT = Var(0, "$")

_LITERALS = (TokenKind.STRING, TokenKind.NUMBER, TokenKind.BOOL, TokenKind.NIL)


def parse_error(line: int, problem: str) -> TemplateError:
    return TemplateError(f"template line {line}: {problem}")


class Tokens:
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

    def expect_done(self) -> None:
        token = self.peek()
        if token is not None:
            raise parse_error(token.line, f"unexpected {token.text!r} in action")


class Scopes:
    """The variables in scope: one dict per open block, innermost last."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Var]] = [{"$": ROOT}]
        self.next_var = 1
        self.reassigned: set[int] = set()
        """Ids of variables ever reassigned with ``=``."""

    def enter(self) -> None:
        self.scopes.append({})

    def leave(self) -> None:
        self.scopes.pop()

    def declare(self, name: str) -> Var:
        var = Var(self.next_var, name)
        self.next_var += 1
        self.scopes[-1][name] = var
        return var

    def resolve(self, name: str, line: int) -> Var:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise parse_error(line, f"undefined variable {name}")


class _FuncName:
    """A function identifier met as an operand, before we know whether it takes arguments."""

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line


class PipelineParser:
    """Parses pipelines against ``scopes``, declaring and resolving variables there."""

    def __init__(self, scopes: Scopes) -> None:
        self.scopes = scopes

    def control_pipeline(self, tokens: Tokens, context: str) -> Pipeline:
        pipeline = self.pipeline(tokens, context, allow_decl=True)
        tokens.expect_done()
        return pipeline

    def pipeline(self, tokens: Tokens, context: str, *, allow_decl: bool) -> Pipeline:
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
            name, path = variable(first)
            if not allow_decl:
                raise parse_error(first.line, f"cannot declare or assign a variable in a {context}")
            if path or name == "$":
                raise parse_error(first.line, f"cannot assign to {first.text}")
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
            var = self.scopes.resolve(target, line)
            self.scopes.reassigned.add(var.id)
            decl = (var,)
        elif target is not None:
            decl = (self.scopes.declare(target),)
        return Pipeline(decl, assign, tuple(commands), line)

    def command(self, tokens: Tokens, context: str, *, piped: bool) -> Command:
        line = tokens.current_line()
        operands: list[Operand | _FuncName] = []
        while not tokens.done() and not tokens.at(TokenKind.PIPE, TokenKind.RPAREN):
            operands.append(self.operand(tokens))
        if not operands:
            if tokens.at(TokenKind.RPAREN):
                raise parse_error(line, "unexpected ')' in command")
            problem = "missing command after |" if piped else f"missing value for {context}"
            raise parse_error(line, problem)
        head, rest = operands[0], operands[1:]
        args = tuple(self.as_operand(arg) for arg in rest)
        if isinstance(head, _FuncName):
            self.check_arity(head, len(args) + piped)
            return Command(head.name, args)
        if piped:
            raise parse_error(line, "cannot pipe into a value that is not a function")
        if args:
            raise parse_error(line, "can't give arguments to a value that is not a function")
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
            raise parse_error(
                func.line, f"wrong number of arguments for {func.name}: want {want}, got {count}"
            )

    def as_operand(self, operand: Operand | _FuncName) -> Operand:
        """A function name used as an argument is a call without arguments, as in Go."""
        if isinstance(operand, _FuncName):
            self.check_arity(operand, 0)
            return SubPipeline(Pipeline((), False, (Command(operand.name, ()),), operand.line))
        return operand

    def operand(self, tokens: Tokens) -> Operand | _FuncName:
        token = tokens.next()
        kind = token.kind
        if kind is TokenKind.FIELD:
            return Field(_path(token))
        if kind is TokenKind.DOT:
            return Dot()
        if kind is TokenKind.VARIABLE:
            name, path = variable(token)
            return VarRef(self.scopes.resolve(name, token.line), path)
        if kind in _LITERALS:
            return Const(token.value)
        if kind is TokenKind.LPAREN:
            inner = self.pipeline(tokens, "parenthesized pipeline", allow_decl=False)
            if not tokens.at(TokenKind.RPAREN):
                raise parse_error(token.line, "unclosed left paren")
            tokens.next()
            operand: Operand = SubPipeline(inner)
            while tokens.at(TokenKind.CHAIN):
                operand = Chain(operand, _path(tokens.next()))
            return operand
        if kind is TokenKind.IDENT:
            word = str(token.value)
            if word in KEYWORDS:
                raise parse_error(token.line, f"unexpected {word!r} in command")
            if word not in FUNCTIONS:
                raise parse_error(token.line, f"unknown function {word}")
            return _FuncName(word, token.line)
        raise parse_error(token.line, f"unexpected {token.text!r} in command")


def variable(token: Token) -> tuple[str, tuple[str, ...]]:
    assert isinstance(token.value, tuple)
    name, path = token.value
    return str(name), tuple(str(segment) for segment in path)


def _path(token: Token) -> tuple[str, ...]:
    assert isinstance(token.value, tuple)
    return tuple(str(segment) for segment in token.value)
