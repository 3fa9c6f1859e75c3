#!/usr/bin/env python3
"""Expected renderings of chat templates, made with Python jinja2 the way Hugging Face
transformers renders chat templates (see /work/shared/testdata/README.md, templates/):

  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
  extension and a `generation` block tag that renders its body (transformers' AssistantTracker);
  tojson = json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) with
  those keyword arguments accepted; raise_exception(msg) raises TemplateError; strftime_now(fmt)
  formats a fixed time, 2024-07-26 12:34:56; variables messages, tools (only when a conversation
  has them), add_generation_prompt, bos_token "<s>", eos_token "</s>", plus the conversation's
  "kwargs" (chat_template_kwargs such as enable_thinking).

Usage:
  make_template_expectations.py templates [DIR]   write DIR/NAME.expected.json for every
                                                  DIR/NAME.jinja over DIR/conversations.json
                                                  (DIR defaults to tests/data/templates)
  make_template_expectations.py snippets          render template_snippet_cases.py into
                                                  tests/data/jinja_snippets.json
  make_template_expectations.py check BIN [DIR]   compare BIN (template_render) with Python on
                                                  every template x conversation and on the
                                                  snippets file, printing differences

Requires jinja2 3.1 (tested with 3.1.6); not needed by the C++ tests, which read the committed
outputs.
"""
import datetime
import json
import os
import subprocess
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime.datetime(2024, 7, 26, 12, 34, 56)
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_DIR = os.path.join(REPO, "tests", "data", "templates")


class GenerationTag(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: rendered as a call block whose caller is the body
    (what transformers' AssistantTracker does when it is not tracking)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render_body")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(source, context):
    """Returns {"output": str} or {"error": "Type: message"}."""
    try:
        tmpl = ENV.from_string(source)
    except Exception as e:  # noqa: BLE001 - any failure is an expected outcome
        return {"error": f"{type(e).__name__}: {e}", "parse": True}
    try:
        return {"output": tmpl.render(**context)}
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}


def conversation_context(conv):
    ctx = {"messages": conv["messages"]}
    if "tools" in conv:
        ctx["tools"] = conv["tools"]
    ctx["add_generation_prompt"] = conv.get("add_generation_prompt", True)
    ctx["bos_token"] = "<s>"
    ctx["eos_token"] = "</s>"
    ctx.update(conv.get("kwargs", {}))
    return ctx


def template_expectations(directory):
    with open(os.path.join(directory, "conversations.json"), encoding="utf-8") as f:
        convs = json.load(f)
    names = sorted(n for n in os.listdir(directory) if n.endswith(".jinja"))
    results = {}
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8", newline="") as f:
            source = f.read()
        entries = []
        for i, conv in enumerate(convs):
            r = render(source, conversation_context(conv))
            entry = {"conversation": i, "add_generation_prompt": conv.get("add_generation_prompt", True)}
            entry.update({k: v for k, v in r.items() if k != "parse"})
            entries.append(entry)
        results[name] = (source, entries)
    return convs, results


def write_templates(directory):
    _, results = template_expectations(directory)
    for name, (_, entries) in results.items():
        out = os.path.join(directory, name[: -len(".jinja")] + ".expected.json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(entries, f, ensure_ascii=False, indent=1)
            f.write("\n")
        errors = sum(1 for e in entries if "error" in e)
        print(f"{name}: {len(entries)} renderings, {errors} errors")


def run_binary(binary, cases):
    lines = "".join(json.dumps({"template": c["template"], "context": c["context"]}) + "\n"
                    for c in cases)
    p = subprocess.run([binary], input=lines.encode(), capture_output=True, check=True)
    return [json.loads(l) for l in p.stdout.decode().splitlines()]


def same(py, cc):
    if "output" in py:
        return cc.get("output") == py["output"]
    if "error" not in cc:
        return False
    if py["error"].startswith("TemplateError: "):
        return cc.get("raised") and cc["error"] == py["error"][len("TemplateError: "):]
    return True


def check(binary, directory):
    convs, results = template_expectations(directory)
    cases, labels = [], []
    for name, (source, entries) in results.items():
        for i, conv in enumerate(convs):
            cases.append({"template": source, "context": conversation_context(conv)})
            labels.append((f"{name} conversation {i}", entries[i]))
    sys.path.insert(0, HERE)
    import template_snippet_cases  # noqa: E402

    for k, s in enumerate(template_snippet_cases.cases()):
        cases.append(s)
        labels.append((f"snippet {k}: {s['template'][:70]!r}", render(s["template"], s["context"])))
    got = run_binary(binary, cases)
    bad = 0
    for (label, py), cc in zip(labels, got):
        if not same(py, cc):
            bad += 1
            print(f"MISMATCH {label}\n  python: {json.dumps(py, ensure_ascii=False)[:600]}\n"
                  f"  c++:    {json.dumps(cc, ensure_ascii=False)[:600]}")
    print(f"{len(cases) - bad}/{len(cases)} agree")
    return 1 if bad else 0


def write_snippets():
    sys.path.insert(0, HERE)
    import template_snippet_cases  # noqa: E402

    cases = template_snippet_cases.cases()
    out = os.path.join(REPO, "tests", "data", "jinja_snippets.json")
    result = []
    for c in cases:
        r = render(c["template"], c.get("context", {}))
        entry = {"template": c["template"], "context": c.get("context", {})}
        entry.update(r)
        result.append(entry)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out}: {len(result)} snippets")


def main(argv):
    if len(argv) >= 2 and argv[1] == "templates":
        write_templates(argv[2] if len(argv) > 2 else DEFAULT_DIR)
        return 0
    if len(argv) >= 2 and argv[1] == "snippets":
        write_snippets()
        return 0
    if len(argv) >= 3 and argv[1] == "check":
        return check(argv[2], argv[3] if len(argv) > 3 else DEFAULT_DIR)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
