"""The tokenizer of Junos text (``junos.text._tokenize``) against the one it replaced.

The regular-expression tokenizer reads a token per match; the character loop it replaced
is kept here, word for word, as the reference: both must give the same tokens, lines and
errors on any text.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nornir_esi.exceptions import ConfigSyntaxError
from nornir_esi.junos.text import _PUNCT, _Tok, _tokenize, quote


def _reference(text: str, first_line: int = 1) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n, line = 0, len(text), first_line
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ConfigSyntaxError("unterminated comment", line=line)
            line += text.count("\n", i, end)
            i = end + 2
        elif ch in _PUNCT:
            toks.append(_Tok(ch, ch, line))
            i += 1
        elif ch == '"':
            start, buf = line, []
            i += 1
            while True:
                if i >= n:
                    raise ConfigSyntaxError("unterminated quoted string", line=start)
                c = text[i]
                if c == "\\" and i + 1 < n:
                    c = text[i + 1]
                    i += 1
                elif c == '"':
                    i += 1
                    break
                line += c == "\n"
                buf.append(c)
                i += 1
            toks.append(_Tok("word", "".join(buf), start))
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _PUNCT and text[j] != '"':
                j += 1
            toks.append(_Tok("word", text[i:j], line))
            i = j
    return toks


def _outcome(fn: object, text: str) -> object:
    try:
        return fn(text, 3)  # type: ignore[operator]
    except ConfigSyntaxError as exc:
        return ("error", str(exc), exc.line)


TRICKY = st.text(alphabet=list(' \t\r\n\x0b\x1c\u00a0\u2028ab1/*#;{}[]"\\<'), max_size=60)


@settings(max_examples=600, deadline=None)
@given(TRICKY)
def test_the_tokenizer_reads_any_text_as_the_character_loop_did(text: str) -> None:
    assert _outcome(_tokenize, text) == _outcome(_reference, text)


def test_the_tokenizer_on_a_configuration_with_every_kind_of_token() -> None:
    text = (
        '## Last changed\ninterfaces { ae0 { /* a\n comment */ description "a \\"b\\"\nc"; }\n'
        "  unit 1025 { family inet { address 10.0.0.1/24; } } }\nset x [ a b ] # tail"
    )
    assert _tokenize(text) == _reference(text)
    assert [t.text for t in _tokenize(text)][:6] == [
        "interfaces",
        "{",
        "ae0",
        "{",
        "description",
        'a "b"\nc',
    ]


@given(st.text(alphabet=list(" \t\n\u00a0ab#;{}[]\"'<"), max_size=20))
def test_quote_quotes_what_would_not_read_back_as_one_word(value: str) -> None:
    tokens = _tokenize(quote(value))
    assert [t.text for t in tokens] == [value]
