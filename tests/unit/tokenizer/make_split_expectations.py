#!/usr/bin/env python3
"""Writes tests/data/vocab/pretokenizer_splits.json: how each pre-tokenizer splits tricky inputs.

The splits come from an implementation independent of ours: the Python `regex` module (Debian's
python3-regex) running each vocabulary's split regex, as the Hugging Face tokenizer.json states it,
with two adjustments that make it the regex llama.cpp runs:
  - contractions are spelled '[sS]|'[tT]|... instead of (?i:'s|'t|...), so only ASCII letters fold
    (Python's (?i) would also match e.g. "'ſ");
  - Tekken's letter classes are "a letter other than a-z" / "other than A-Z", as llama.cpp evaluates
    Mistral's [\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]* / [\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+ (case only in ASCII,
    marks not letters). The inputs where Mistral's own regex splits differently are listed under
    "tekken_differs_from_hugging_face".
Text a regex does not match is a word of its own, as in llama.cpp ("default" relies on that).

Usage: python3 tests/unit/tokenizer/make_split_expectations.py > tests/data/vocab/pretokenizer_splits.json
"""
import json
import sys

import regex

CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN35 = (CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN_TAIL = r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
TEKKEN_HF = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
             r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
             + TEKKEN_TAIL)
TEKKEN_LLAMA_CPP = (r"[^\r\n\p{L}\p{N}]?(?:(?=\p{L})[^a-z])*(?:(?=\p{L})[^A-Z])+"
                    r"|[^\r\n\p{L}\p{N}]?(?:(?=\p{L})[^a-z])+(?:(?=\p{L})[^A-Z])*"
                    + TEKKEN_TAIL)


def regex_split(pattern, text):
    """Matches of `pattern` left to right, with any unmatched text as words of its own."""
    words, pos = [], 0
    for m in regex.finditer(pattern, text):
        if m.start() > pos:
            words.append(text[pos:m.start()])
        if m.end() > m.start():
            words.append(m.group())
        pos = m.end()
    if pos < len(text):
        words.append(text[pos:])
    return words


def digits_then_gpt2(text):
    """Hugging Face's Sequence[Digits(individual_digits=True), ByteLevel]: each \\p{N} alone, the
    pieces between split by GPT-2's regex on their own."""
    words = []
    for piece in regex.split(r"(\p{N})", text):
        if piece:
            words.extend(regex_split(GPT2, piece))
    return words


def llama_cpp_default(text):
    """llama.cpp's fallback for "default" (no Hugging Face tokenizer has it): four regexes, each
    splitting the words of the one before."""
    words = [text]
    for pattern in (r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"):
        words = [w for piece in words for w in regex_split(pattern, piece)]
    return words


SPLITTERS = {
    "gpt-2": lambda t: regex_split(GPT2, t),
    "llama-bpe": lambda t: regex_split(LLAMA3, t),
    "smaug-bpe": lambda t: regex_split(LLAMA3, t),
    "qwen2": lambda t: regex_split(QWEN2, t),
    "qwen35": lambda t: regex_split(QWEN35, t),
    "smollm": digits_then_gpt2,
    "refact": digits_then_gpt2,
    "tekken": lambda t: regex_split(TEKKEN_LLAMA_CPP, t),
    "default": llama_cpp_default,
}

INPUTS = [
    # contractions
    "I'm you're we've they'll he'd it's don't",
    "HE'S THEY'LL I'M We'Re",
    "'s' '' ' rock'n'roll o'clock",
    "end'",
    # digits
    "1234567890",
    "a1b22c333 4444 55555",
    " 12  345\t6",
    "3.14159e-10, 1,000,000",
    "\u0663\u0664\u0665 \u00b2\u00b3 \u00bd \u216b",
    # CJK and other scripts
    "\u4f60\u597d\u4e16\u754c",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u30ab\u30bf\u30ab\u30ca\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "Hello \u041c\u0438\u0440 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd",
    # emoji
    "\U0001f600\U0001f603 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467!",
    # punctuation runs
    "!!!???... wow!!",
    "hello,world;foo:bar",
    "a -- b --- c <<<>>>",
    "path/to/file.txt http://example.com/a/b?c=d",
    "// comment\n/* block */\nx//\n/y",
    "a/\n/\n/b",
    "$100.00 and 50% off!!",
    "user@example.com --flag=value",
    # whitespace runs and newlines
    "   leading",
    "trailing   ",
    "a  b   c    d",
    "\t\ttabs\t x",
    "a \n b",
    "\n\n\n",
    " \n \n ",
    "\r\n\r\nwindows\r\n",
    "line1\nline2\n",
    " ",
    "  \u00a0 nbsp\u00a0x",
    "ideographic\u3000space\u2028sep",
    "x.\n\n  y",
    # case (Tekken)
    "CamelCaseWord HTTPServer iPhone XMLHttpRequest",
    "ABCdefGHI TEST123abc",
    "\u00c4\u00d6\u00dc \u00e4\u00f6\u00fc \u00c0BC \u00c9t\u00e9 \u00c9T\u00c9 A\u00c9B",
    "\u0391\u0392\u0393 \u03b1\u03b2\u03b3 \u03a9mega",
    "\u00df \u1e9e \u01c5a \u02b0b",
    # combining marks
    "e\u0301te\u0301",
    "a\u0300\u0301\u0302 b",
    " \u0301x \u0301\u0301",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e01\u0e48\u0e32",
    # code
    "def f(x):\n    return x**2  # square\n",
    "if (a&&b) { c++; }\n\tint y = -1;",
]


def main():
    out = {
        "generator": "tests/unit/tokenizer/make_split_expectations.py (Python regex " +
                     regex.__version__ + ")",
        "splits": {name: [[t, f(t)] for t in INPUTS] for name, f in SPLITTERS.items()},
        "tekken_differs_from_hugging_face": [
            [t, regex_split(TEKKEN_HF, t)] for t in INPUTS
            if regex_split(TEKKEN_HF, t) != SPLITTERS["tekken"](t)
        ],
    }
    for name, cases in out["splits"].items():
        for text, words in cases:
            assert "".join(words) == text, (name, text)
    # One case per line, so a change in the expectations reads as a small diff.
    dump = lambda v: json.dumps(v, ensure_ascii=False)
    lines = ['{"generator": ' + dump(out["generator"]) + ',', '"splits": {']
    for i, (name, cases) in enumerate(out["splits"].items()):
        lines.append(dump(name) + ": [")
        lines += [dump(c) + ("," if j + 1 < len(cases) else "") for j, c in enumerate(cases)]
        lines.append("]" + ("," if i + 1 < len(out["splits"]) else ""))
    lines.append('},')
    lines.append('"tekken_differs_from_hugging_face": [')
    differs = out["tekken_differs_from_hugging_face"]
    lines += [dump(c) + ("," if j + 1 < len(differs) else "") for j, c in enumerate(differs)]
    lines.append("]}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
