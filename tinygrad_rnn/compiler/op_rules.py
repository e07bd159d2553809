"""The generated kernels' per-op templates: each element-wise op's forward expression and its
vector-Jacobian rules, written in operand letters A, B, C (y is the op's value, gy its gradient),
and the kernels' names of the values they read."""
import re

from .trace import Ref


def value_name(buf):
    """The kernel's name of a buffer's value: xt, st0, v12, mm0s, hx0s, p3, c1."""
    kind = buf[0]
    return {"x": "xt", "s": f"st{buf[-1]}", "v": f"v{buf[-1]}", "mm": f"mm{buf[-1]}s", "hx": f"hx{buf[-1]}s",
            "p": f"p{buf[-1]}", "c": f"c{buf[-1]}"}[kind]


FORWARD = {
    "add": "A + B", "sub": "A - B", "mul": "A * B", "div": "A / B",
    "maximum": "(A if A >= B else B)", "minimum": "(A if A <= B else B)",
    "neg": "-A", "exp": "np.exp(A)", "log": "np.log(A)", "sqrt": "np.sqrt(A)", "abs": "abs(A)",
    "tanh": "tanh(A)", "sigmoid": "sigmoid(A)", "relu": "(A if A > c0 else c0)", "copy": "A",
    "where": "(B if A != c0 else C)",
    "gt": "(c1 if A > B else c0)", "ge": "(c1 if A >= B else c0)", "lt": "(c1 if A < B else c0)",
    "le": "(c1 if A <= B else c0)", "eq": "(c1 if A == B else c0)", "ne": "(c1 if A != B else c0)",
    "and": "(c1 if A != c0 and B != c0 else c0)", "or": "(c1 if A != c0 or B != c0 else c0)",
    "not": "(c0 if A != c0 else c1)",
}
VJP = {  # operand index -> gradient contribution, with gy the output's gradient and y its value
    "add": {0: "gy", 1: "gy"}, "sub": {0: "gy", 1: "-gy"},
    "mul": {0: "gy * B", 1: "gy * A"}, "div": {0: "gy / B", 1: "-gy * y / B"},
    "maximum": {0: "gy * (c1 if A > B else (c2 if A == B else c0))",
                1: "gy * (c0 if A > B else (c2 if A == B else c1))"},
    "minimum": {0: "gy * (c1 if A < B else (c2 if A == B else c0))",
                1: "gy * (c0 if A < B else (c2 if A == B else c1))"},
    "neg": {0: "-gy"}, "exp": {0: "gy * y"}, "log": {0: "gy / A"}, "sqrt": {0: "gy / (y + y)"},
    "abs": {0: "(gy if A > c0 else (-gy if A < c0 else c0))"},
    "tanh": {0: "gy * (c1 - y * y)"}, "sigmoid": {0: "gy * y * (c1 - y)"},
    "relu": {0: "(gy if y > c0 else c0)"}, "copy": {0: "gy"},
    "where": {1: "(gy if A != c0 else c0)", 2: "(c0 if A != c0 else gy)"},
    **{mask: {} for mask in ("gt", "ge", "lt", "le", "eq", "ne", "and", "or", "not")},  # masks: no gradient
}
LETTERS = "ABC"


def substitute(template, values):
    """Replace the operand letters A, B, C and y/gy by expressions (whole words only)."""
    return re.sub(r"\b(A|B|C|y|gy)\b", lambda m: values[m.group(1)], template)


def pow_forward(p):
    return {2.0: "A * A", 3.0: "A * A * A", 1.0: "A", 0.5: "np.sqrt(A)", -1.0: "c1 / A", 0.0: "c1"}.get(p, "A ** B")


def pow_vjp(p):
    return {2.0: "gy * (A + A)", 1.0: "gy", 0.0: "c0"}.get(p, "gy * B * A ** C")


def vjp_rules(node):
    """An element-wise node's vector-Jacobian rules: {operand index: template in A, B, C, y, gy}."""
    if node.op == "pow":
        return {0: pow_vjp(node.attrs["p"])}
    if node.op == "clamp":
        tests = [f"A {'>=' if k == 'lo' else '<='} {value_name(node.attrs[k].buf)}"
                 for k in ("lo", "hi") if node.attrs[k] is not None]
        return {0: f"(gy if {' and '.join(tests)} else c0)"}
    return VJP[node.op]


def operand_refs(node):
    """A node's operands: its arguments and the Refs among its attributes (clamp's bounds)."""
    return [*node.args, *(v for v in node.attrs.values() if isinstance(v, Ref))]
