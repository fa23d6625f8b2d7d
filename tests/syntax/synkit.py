"""Test helpers for the syntax layer: hypothesis strategies that write random
*valid* ``.rag`` programs as source text, and comparison helpers.

The programs mix canonical and lenient spellings, optional colons and
commas, comments on their own lines and at line ends (also inside multi-line
objects and lists), ``\"\"\"`` strings with indentation, nested objects and
lists, conditions with ``and``/``or``/``not``/``in`` and parentheses, all
three ``send`` spellings and ``kind join`` nodes that canonicalisation turns
into top-level joins.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import strategies as st

from ragc.syntax.ast import strip_spans
from ragc.syntax.canon import canonicalize
from ragc.syntax.parser import parse

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GOLDEN = HERE / "golden"
SHARED_EXAMPLES = Path("/work/shared/examples")

# Words that are names everywhere the generator puts them.
SAFE = ["a", "b", "c", "review", "draft", "x1", "node_2", "Step", "_tmp", "fetch", "summary"]
# Keywords the grammar also accepts as names where a name is expected.
SOFT = ["output", "input", "node", "channel", "edge", "graph", "join", "send", "routes", "policy", "schema"]
REDUCERS = ["last", "append", "messages", "merge", "sum", "union", "min", "max",
            "overwrite", "last_value", "topic", "aggregate", "delta"]
KINDS = ["agent", "model", "tool", "router", "subagent", "sub_agent", "subgraph", "graph", "interrupt",
         "function"]
COMMENT_TEXT = st.text(alphabet=st.sampled_from(list("abc XYZ{}[]\"'/\\:,-é\t")), max_size=12)
TEXT_ALPHABET = list("abcdefgh XYZ,.:;!?{}()[]-_é✓") + ["{{ input.q }}", "\\n", "\\\"", "\\\\", "\\u00e9", "\\t"]


@st.composite
def comment(draw) -> str:
    return "//" + draw(COMMENT_TEXT).replace("\n", " ")


class Layout:
    """How one program is spelled: indentation and where comments go."""

    def __init__(self, draw):
        self.draw = draw
        self.unit = draw(st.sampled_from(["  ", "    ", "\t", ""]))

    def pad(self, depth: int) -> str:
        return self.unit * depth

    def maybe_comment_lines(self, depth: int) -> list[str]:
        out = []
        for _ in range(self.draw(st.integers(0, 2)) if self.draw(st.integers(0, 4)) == 0 else 0):
            out.append(self.pad(depth) + self.draw(comment()))
        if out and self.draw(st.booleans()):
            out.append("")
        return out

    def trailing(self) -> str:
        return (" " + self.draw(comment())) if self.draw(st.integers(0, 5)) == 0 else ""

    def blank(self) -> list[str]:
        return [""] * self.draw(st.sampled_from([0, 0, 0, 1, 2]))


def _name(draw, soft: bool = False) -> str:
    pool = SAFE + SOFT if soft else SAFE
    return draw(st.sampled_from(pool))


@st.composite
def single_string(draw) -> str:
    parts = draw(st.lists(st.sampled_from(TEXT_ALPHABET), max_size=8))
    return '"' + "".join(parts) + '"'


@st.composite
def triple_string(draw, depth: int, unit: str) -> str:
    """A ``\"\"\"`` string; layout varies (text on the opening line or not,
    closing quotes on their own line or not, extra indentation)."""
    lines = draw(st.lists(st.lists(st.sampled_from(TEXT_ALPHABET + ["  ", "\t", "'"]), max_size=6)
                          .map("".join), min_size=1, max_size=4))
    inner = unit * (depth + 1) + draw(st.sampled_from(["", "  "]))
    body_lines = [(inner + ln) if ln.strip() else draw(st.sampled_from(["", inner])) for ln in lines]
    style = draw(st.integers(0, 2))
    if style == 0:  # canonical-ish block
        body = "\n" + "\n".join(body_lines) + "\n" + inner
    elif style == 1:  # closing quotes right after the text
        body = "\n" + "\n".join(body_lines)
    else:  # text starts on the opening line
        body = lines[0] + ("\n" + "\n".join(body_lines[1:]) if len(lines) > 1 else "")
    if body.endswith('"'):  # a closing `\"` escape would run into the closing quotes
        body += "."
    return '"""' + body + '"""'


@st.composite
def scalar(draw) -> str:
    return draw(st.one_of(
        single_string(),
        st.integers(-50, 5000).map(str),
        st.sampled_from(["0.5", "0.50", "-1.25", "3.0", "250ms", "30s", "1.5s", "5m", "1h", "true", "false", "null"]),
        st.sampled_from(["state.x", "input.q", "result.text", "item", "state.drafts[-1]", 'state.m["k"]',
                         "item.title", "default"]),
    ))


@st.composite
def value(draw, depth: int, lay: Layout, level: int = 0) -> str:
    """A data value; containers may span several lines with comments."""
    if level >= 2:
        return draw(scalar())
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return draw(scalar())
    if kind == 6:
        return draw(triple_string(depth, lay.unit))
    if kind == 7:
        return draw(data_object(depth, lay, level + 1))
    if kind == 8:
        return draw(list_value(depth, lay, level + 1))
    fn = draw(st.sampled_from(["len", "join"]))
    args = draw(st.lists(scalar(), max_size=2))
    return f"{fn}({', '.join(args)})"


@st.composite
def data_object(draw, depth: int, lay: Layout, level: int = 0, settings: bool = False) -> str:
    n = draw(st.integers(0, 3))
    pairs = []
    for _ in range(n):
        key = draw(st.one_of(st.sampled_from(SAFE + ["for", "in", "true", "kind"]), single_string()))
        colon = draw(st.booleans()) if not settings else draw(st.integers(0, 3)) == 0
        pairs.append(f"{key}{':' if colon else ''} {draw(value(depth + 1, lay, level))}")
    multiline = draw(st.booleans())
    if not multiline:
        sep = draw(st.sampled_from([", ", " ", ","]))
        return "{ " + sep.join(pairs) + " }" if pairs else "{}"
    out = ["{" + lay.trailing()]
    for k, p in enumerate(pairs):
        out += lay.maybe_comment_lines(depth + 1)
        comma = "," if (k < len(pairs) - 1 and draw(st.booleans())) else ""
        out.append(lay.pad(depth + 1) + p + comma + lay.trailing())
    out += lay.maybe_comment_lines(depth + 1)
    out.append(lay.pad(depth) + "}")
    return "\n".join(out)


@st.composite
def list_value(draw, depth: int, lay: Layout, level: int = 0) -> str:
    items = draw(st.lists(value(depth + 1, lay, level), max_size=3))
    trailing_comma = "," if items and draw(st.booleans()) else ""
    if not draw(st.booleans()):
        return "[" + ", ".join(items) + trailing_comma + "]"
    out = ["[" + lay.trailing()]
    for k, it in enumerate(items):
        out += lay.maybe_comment_lines(depth + 1)
        comma = "," if k < len(items) - 1 else trailing_comma
        out.append(lay.pad(depth + 1) + it + comma + lay.trailing())
    out += lay.maybe_comment_lines(depth + 1)
    out.append(lay.pad(depth) + "]")
    return "\n".join(out)


@st.composite
def condition(draw, level: int = 0) -> str:
    k = draw(st.integers(0, 6 if level < 2 else 2))
    operand = st.one_of(scalar(), st.just('["x", "y"]'))
    if k <= 1:
        return draw(st.sampled_from(["state.x", "state.done", "true", "input.n"]))
    if k == 2:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]))
        return f"{draw(operand)} {op} {draw(operand)}"
    if k == 3:
        return f"not {draw(condition(level + 1))}"
    if k == 4:
        return f"({draw(condition(level + 1))})"
    op = draw(st.sampled_from(["and", "or"]))
    return f"{draw(condition(level + 1))} {op} {draw(condition(level + 1))}"


@st.composite
def send_item(draw, depth: int, lay: Layout) -> str:
    def entry():
        target = _name(draw)
        payload = " " + draw(data_object(depth + 1, lay, 1)) if draw(st.booleans()) else ""
        loop = f" for item in {draw(st.sampled_from(['state.items', 'input.files', '[1, 2]']))}" \
            if draw(st.booleans()) else ""
        return target + payload + loop

    spelling = draw(st.integers(0, 2))
    if spelling == 0:
        entries = [entry() for _ in range(draw(st.integers(0, 3)))]
        if draw(st.booleans()):
            return "send [ " + ", ".join(entries) + " ]"
        inner = [lay.pad(depth + 1) + e + ("," if k < len(entries) - 1 else "") + lay.trailing()
                 for k, e in enumerate(entries)]
        return "\n".join(["send ["] + inner + [lay.pad(depth) + "]"])
    if spelling == 1:
        return "send " + entry()
    entries = [entry() for _ in range(draw(st.integers(0, 3)))]
    return "sends [ " + " ".join("send " + e for e in entries) + " ]"


@st.composite
def node_items(draw, depth: int, lay: Layout, name: str, join_target: str | None) -> list[str]:
    items: list[str] = []
    kind = draw(st.sampled_from(KINDS))
    colon = ":" if draw(st.integers(0, 4)) == 0 else ""
    items.append(f"kind{colon} {kind}")
    choices = draw(st.lists(st.integers(0, 14), max_size=5, unique=True))
    for c in choices:
        if c == 0:
            items.append("model " + draw(st.sampled_from(["default", '"fast"'])))
        elif c == 1:
            key = "question" if kind == "interrupt" and draw(st.booleans()) else "prompt"
            items.append(f"{key} {draw(st.one_of(single_string(), triple_string(depth, lay.unit)))}")
        elif c == 2:
            tools = draw(st.lists(st.sampled_from(["search", '"read_repo"']), max_size=2))
            items.append("tools [" + ", ".join(tools) + "]")
        elif c == 3:
            items.append("output " + draw(st.sampled_from(["findings", '"findings"', "msgs"])))
        elif c == 4:
            items.append(f"timeout {draw(st.sampled_from(['30s', '250ms', '5m']))}")
        elif c == 5:
            items.append("retry " + draw(data_object(depth, lay, 0, settings=True)))
        elif c == 6:
            items.append("args " + draw(data_object(depth, lay)))
        elif c == 7:
            items.append("input " + draw(data_object(depth, lay)))
        elif c == 8:
            routes = []
            for _ in range(draw(st.integers(0, 3))):
                when = f" when {draw(condition())}" if draw(st.booleans()) else ""
                routes.append(lay.pad(depth + 1) + f"{_name(draw)} -> {_name(draw, soft=True)}{when}"
                              + ("," if draw(st.integers(0, 3)) == 0 else "") + lay.trailing())
            items.append("\n".join(["routes {"] + routes + [lay.pad(depth) + "}"]) if routes else "routes {}")
        elif c == 9:
            items.append(draw(send_item(depth, lay)))
            if draw(st.booleans()):
                block = ""
                if draw(st.booleans()):
                    pol = draw(st.sampled_from(["all", "any", "first", "quorum 2"]))
                    block = " { policy " + pol + (" tolerate 1" if draw(st.booleans()) else "") + " }"
                items.append(f"join {_name(draw)}{block}")
        elif c == 10:
            items.append("command { goto " + _name(draw) + " update " + draw(data_object(depth + 1, lay)) + " }")
        elif c == 11:
            items.append("blocking false")
        elif c == 12:
            nested = draw(st.sampled_from(["", " tasks: list[{ title: string, done bool? }]",
                                           ", meta {\n" + lay.pad(depth + 1) + "x: int\n" + lay.pad(depth) + "}?"]))
            items.append("schema { verdict: string, score int?" + nested + " }")
        elif c == 13:
            items.append(f"budget {{ max_model_calls {draw(st.integers(1, 9))} max_cost_usd 0.50 }}")
        else:
            items.append(f"description {draw(single_string())}")
    if join_target is not None:
        items.append(f"next {join_target}")
    elif draw(st.booleans()):
        nxt = draw(st.sampled_from([_name(draw, soft=True), "END", f"[{_name(draw)}]", f"[{_name(draw)}, b]"]))
        items.append(f"next {nxt}")
    return items


@st.composite
def graph(draw, index: int) -> str:
    lay = Layout(draw)
    gname = f"g{index}"
    names = draw(st.lists(st.sampled_from(SAFE + SOFT), min_size=1, max_size=4, unique=True))
    items: list[list[str] | str] = []
    items.append(f"start{':' if draw(st.booleans()) else ''} {names[0]}")
    for _ in range(draw(st.integers(0, 2))):
        opts = " " + draw(data_object(1, lay)) if draw(st.integers(0, 3)) == 0 else ""
        items.append(f"channel {draw(st.sampled_from(SAFE))} {draw(st.sampled_from(REDUCERS))}{opts}")
    if draw(st.booleans()):
        items.append("input {\n" + lay.pad(2) + "q: string\n" + lay.pad(2) + "n int = 3,\n" + lay.pad(2)
                     + "tags: list[string]?\n" + lay.pad(1) + "}")
    if draw(st.booleans()):
        items.append("defaults " + draw(data_object(1, lay, 0, settings=True)))
    if draw(st.booleans()):
        items.append("metadata " + draw(data_object(1, lay)))
    join_node = None
    if len(names) >= 3 and "join" not in names and draw(st.booleans()):
        join_node = "joiner"
    for k, n in enumerate(names):
        target = join_node if join_node and k in (1, 2) else None
        body = draw(node_items(2, lay, n, target))
        items.append((f"node {n} {{", body))
    if join_node:
        pol = draw(st.sampled_from(["", "policy quorum 1", "policy first"]))
        extra = [pol] if pol else []
        items.append((f"node {join_node} {{", ["kind join", f"sources [{names[1]}, {names[2]}]"] + extra
                      + [f"next {draw(st.sampled_from(['END', names[0]]))}"]))
    if draw(st.booleans()):
        items.append(f"{draw(st.sampled_from(SAFE))} -> {draw(st.sampled_from(SAFE))}")
    if draw(st.booleans()):
        items.append(f"edge {draw(st.sampled_from(SAFE))} -> {draw(st.sampled_from(SAFE))}")
    if draw(st.booleans()):
        items.append(f"join [{names[0]}, c] -> END" + (" { policy all timeout 1m }" if draw(st.booleans()) else ""))
    if draw(st.booleans()):
        items.append("allow tools [search, \"write_file\"]")
    order = draw(st.permutations(range(len(items))))
    out = [f"graph {gname} {{" + lay.trailing()]
    for k in order:
        item = items[k]
        out += lay.blank() + lay.maybe_comment_lines(1)
        if isinstance(item, tuple):
            head, body = item
            out.append(lay.pad(1) + head + lay.trailing())
            for line in body:
                out += lay.maybe_comment_lines(2)
                out.append(lay.pad(2) + line + lay.trailing())
            out += lay.maybe_comment_lines(2)
            out.append(lay.pad(1) + "}" + lay.trailing())
        else:
            out.append(lay.pad(1) + item + lay.trailing())
    out += lay.maybe_comment_lines(1)
    out.append("}" + lay.trailing())
    return "\n".join(out)


@st.composite
def program(draw) -> str:
    """A whole valid source: comments and one to three graphs."""
    lay = Layout(draw)
    parts = lay.maybe_comment_lines(0)
    for k in range(draw(st.integers(1, 3))):
        parts += lay.blank()
        parts.append(draw(graph(k)))
    parts += lay.maybe_comment_lines(0)
    end = draw(st.sampled_from(["\n", "", "\n\n"]))
    return "\n".join(parts) + end


def canonical_view(text: str):
    """``strip_spans(canonicalize(parse(text)))``; asserts the parse is clean."""
    result = parse(text)
    assert result.ok, [(d.code, d.message, d.span and (d.span.line, d.span.column)) for d in result.diagnostics]
    return strip_spans(canonicalize(result.module))


def comment_texts(text: str) -> Counter:
    """The multiset of comment texts of a valid source (trailing spaces dropped)."""
    result = parse(text)
    return Counter(c.text.rstrip() for c in result.module.comments)
