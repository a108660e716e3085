"""SQL text split into tokens as PostgreSQL's own scanner splits it (``scan.l``).

Only what decides where a statement ends matters to the query command's check
(:mod:`serving_layer.guard`): which characters are inside a comment, a string literal, a
quoted identifier or a dollar quote, and which ``;`` stand between statements. So the
lexer knows every such form exactly, and lumps the rest (keywords, names, numbers,
operators) into plain tokens:

* ``--`` comments to the end of the line (``\\n`` *or* ``\\r``), and ``/* */`` comments,
  which nest (``/* /* */ */`` is one comment) and may start inside an operator (``+/*``);
* ``'...'`` strings with ``''`` for a quote, in which a backslash is an ordinary character
  while ``standard_conforming_strings`` is on (PostgreSQL's default since 9.1) and an
  escape when it is off; ``E'...'`` strings, where it always escapes (``\\'`` is a quote);
  ``N'...'``; bit and hex strings ``B'...'``, ``X'...'``; Unicode strings ``U&'...'``
  (backslash ordinary: its escapes are read after the string has ended, and a
  ``UESCAPE '!'`` after it is a separate plain string), which PostgreSQL refuses
  outright while ``standard_conforming_strings`` is off;
* a string continued after a line break (``'a'`` newline ``'b'`` is ``'ab'``), which
  keeps reading the continuation by its *first* part's rules: ``E'a'`` newline ``'\\''``
  is one E string;
* ``"..."`` and ``U&"..."`` identifiers with ``""`` for a quote;
* dollar quotes ``$$...$$`` and ``$tag$...$tag$``, whose tag is an identifier without
  ``$`` (any non-ASCII character counts as a letter), never ``$1`` (a parameter) and
  never inside an identifier (``a$b$`` is one name).

What varies between servers is a :class:`LexRules` value. A number directly followed by
a letter is read as the number and then a new token, as PostgreSQL 14 and older do;
PostgreSQL 15 refuses it ("trailing junk"), so reading it the old way can only find more
statements than such a server would run, never fewer. ``\\v`` is white space, as from
PostgreSQL 16; 15 refuses it outside a literal, so the same holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal[
    "space", "comment", "string", "identifier", "word", "number", "param", "semicolon", "symbol"
]
"""``space`` and ``comment`` separate tokens; ``string`` is any string literal or dollar
quote, ``identifier`` a quoted one, ``word`` a keyword or plain name, ``symbol`` any
other character (operators, parentheses, ``$`` on its own)."""


@dataclass(frozen=True)
class LexRules:
    """The lexical rules in which servers (and a server's settings) differ.

    ``standard_conforming_strings``: a backslash in a plain ``'...'`` string is an
    ordinary character (on) or an escape (off). ``prefixed_literals``: ``E'``, ``B'``,
    ``X'``, ``U&'`` and ``U&"`` open literals of their own kinds (PostgreSQL); when off,
    the letter is a name and the quote opens a plain literal. ``nested_comments``:
    ``/*`` inside a block comment opens a nested one (PostgreSQL), or is plain text.
    """

    standard_conforming_strings: bool = True
    prefixed_literals: bool = True
    nested_comments: bool = True


POSTGRES = LexRules()
"""PostgreSQL with its defaults (``standard_conforming_strings`` on)."""


@dataclass(frozen=True)
class Token:
    """One token: its kind, its text and where it starts (0-based, in characters)."""

    kind: TokenKind
    text: str
    start: int


class SqlLexError(ValueError):
    """The text cannot be split: something is left open at its end (PostgreSQL refuses
    such a text whole, before running any of it)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.position = position


_SPACE = frozenset(" \t\n\r\f\v")


def _ident_start(c: str) -> bool:
    # scan.l: [A-Za-z\200-\377_] over the bytes of the server encoding (UTF-8), in which
    # every byte of a non-ASCII character is >= 0x80: any such character counts.
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or c >= "\x80"


def _digit(c: str) -> bool:
    return len(c) == 1 and "0" <= c <= "9"  # ASCII only: "٣".isdigit() is true too


def _ident_cont(c: str) -> bool:
    return _ident_start(c) or _digit(c) or c == "$"


_DOLLAR_DELIMITER = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_PARAM = re.compile(r"\$[0-9]+")
# integer, decimal ("1.", ".5", "1.5") and real ("1e5", "1.5E-3"); "1..10" is 1 and .. .
_NUMBER = re.compile(r"[0-9]+\.\.|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# scan.l's {quotecontinue} after a closing quote: white space holding a line break (a
# "--" comment may come before it, and after it only ending with one), then a quote.
# /* */ comments do not count. Possessive (*+, ++): a comment always runs to the line's
# end, so giving characters back never finds another match, and would take exponential
# time over a line of dashes.
_QUOTE_CONTINUE = re.compile(
    r"(?:[ \t\f\v]++|--[^\n\r]*+)*+[\n\r](?:[ \t\n\r\f\v]++|--[^\n\r]*+[\n\r])*+'"
)

_Literal = Literal["plain", "escape", "bits", "unicode"]


def tokenize(text: str, rules: LexRules = POSTGRES) -> list[Token]:
    """``text`` as tokens, read by ``rules``; raises :class:`SqlLexError` if a comment,
    literal or quoted identifier is left open at the end."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        start, c = i, text[i]
        kind: TokenKind
        if c in _SPACE:
            while i < n and text[i] in _SPACE:
                i += 1
            kind = "space"
        elif text.startswith("--", i):
            while i < n and text[i] not in "\n\r":
                i += 1
            kind = "comment"
        elif text.startswith("/*", i):
            i, kind = _block_comment(text, i, rules), "comment"
        elif c == "'":
            literal: _Literal = "plain" if rules.standard_conforming_strings else "escape"
            i, kind = _string(text, i + 1, literal, start), "string"
        elif rules.prefixed_literals and c in "eE" and text.startswith("'", i + 1):
            i, kind = _string(text, i + 2, "escape", start), "string"
        elif rules.prefixed_literals and c in "bBxX" and text.startswith("'", i + 1):
            i, kind = _string(text, i + 2, "bits", start), "string"
        elif rules.prefixed_literals and c in "uU" and text.startswith("&'", i + 1):
            if not rules.standard_conforming_strings:
                # PostgreSQL: "unsafe use of string constant with Unicode escapes".
                raise SqlLexError("a U& string while standard_conforming_strings is off", i)
            i, kind = _string(text, i + 3, "unicode", start), "string"
        elif rules.prefixed_literals and c in "uU" and text.startswith('&"', i + 1):
            i, kind = _quoted_identifier(text, i + 3, start), "identifier"
        elif c == '"':
            i, kind = _quoted_identifier(text, i + 1, start), "identifier"
        elif c == "$" and (match := _DOLLAR_DELIMITER.match(text, i)):
            end = text.find(match.group(), match.end())
            if end < 0:
                raise SqlLexError("unterminated dollar-quoted string", start)
            i, kind = end + len(match.group()), "string"
        elif c == "$" and (match := _PARAM.match(text, i)):
            i, kind = match.end(), "param"
        elif text.startswith("..", i):
            i, kind = i + 2, "symbol"  # scan.l's dot_dot: "1..10" is 1, .., 10
        elif _digit(c) or (c == "." and _digit(text[i + 1 : i + 2])):
            match = _NUMBER.match(text, i)
            assert match is not None  # a digit, or a point and a digit, always match
            i = match.end() - (2 if match.group().endswith("..") else 0)
            kind = "number"
        elif _ident_start(c):
            i += 1
            while i < n and _ident_cont(text[i]):
                i += 1
            kind = "word"
        elif c == ";":
            i, kind = i + 1, "semicolon"
        else:
            # Operators, punctuation and anything else, one character each: a "--" or
            # "/*" inside an operator starts a comment there, as scan.l makes it.
            i, kind = i + 1, "symbol"
        tokens.append(Token(kind, text[start:i], start))
    return tokens


def _block_comment(text: str, i: int, rules: LexRules) -> int:
    """The end of the ``/*`` comment opening at ``i``."""
    start, depth, i = i, 1, i + 2
    while depth:
        if i >= len(text):
            raise SqlLexError("unterminated /* comment", start)
        if rules.nested_comments and text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _string(text: str, i: int, literal: _Literal, start: int) -> int:
    """The end of a string literal whose body starts at ``i`` (after its opening quote),
    read by the rules of ``literal``, through any continuations after line breaks."""
    n = len(text)
    while True:
        if i >= n:
            raise SqlLexError("unterminated quoted string", start)
        c = text[i]
        if c == "\\" and literal == "escape":
            i += 2  # the escaped character, whatever it is (a quote too)
        elif c != "'":
            i += 1
        elif literal != "bits" and text.startswith("''", i):
            i += 2  # a quote inside the string (bit and hex strings have none)
        else:
            match = _QUOTE_CONTINUE.match(text, i + 1)
            if match is None:
                return i + 1
            i = match.end()  # the same literal goes on after the next quote


def _quoted_identifier(text: str, i: int, start: int) -> int:
    """The end of a quoted identifier whose body starts at ``i``."""
    while True:
        end = text.find('"', i)
        if end < 0:
            raise SqlLexError("unterminated quoted identifier", start)
        if not text.startswith('""', end):
            return end + 1
        i = end + 2
