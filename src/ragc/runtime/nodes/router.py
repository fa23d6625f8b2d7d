"""``kind router``: picks a route label without calling a model.

* Conditions: the routes in order; the first whose ``when`` is true wins; a
  route without ``when`` always matches. No match is ``E0903``.
* ``function "NAME"``: a registry (or API) function ``f(state, input) ->
  label`` (sync or async).

* Neither (``next [a, b]``, ``send [...]`` or ``command { goto }`` only): a
  pure fork or forwarding point; it calls nothing and chooses no label,
  and control leaves by its routing form.

The router's result is the label (``None`` for a pure fork); it writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.runtime.activation import NO_WRITE, NodeOutput
from ragc.runtime.functions import maybe_await

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram


def build(cn: "CNode", prog: "CProgram") -> Any:
    fname = cn.ir.routing.function or (cn.ir.function if cn.chooser == "function" else None)
    if fname:
        fn = prog.functions.router_function(fname)

        async def run_router_function(act: "Activation") -> NodeOutput:
            label = await maybe_await(fn(act.services.state_view(act.frame), act.frame.input))
            if not isinstance(label, str):
                raise cn.error("E0903", f"router function `{fname}` returned {label!r}, not a route label",
                               kind="route")
            return NodeOutput(label, label, NO_WRITE)

        return run_router_function

    if cn.ir.routing.kind != "routes":
        async def forward(act: "Activation") -> NodeOutput:
            return NodeOutput(None, None, NO_WRITE)

        return forward

    routes = cn.routes

    async def run_conditions(act: "Activation") -> NodeOutput:
        sc = act.scope
        for label, _target, when in routes:
            if when is None or when(sc):
                return NodeOutput(label, label, NO_WRITE)
        raise cn.error("E0903", f"no route of router `{cn.name}` matched", kind="route",
                       hint="add a last route without `when` as the default")

    return run_conditions
