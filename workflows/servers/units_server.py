"""An MCP server for ``workflows/mcp_units.rag``, written with the official
SDK's server API (FastMCP): unit conversions a small model should not do
in its head. Started by ragc over stdio (``[mcp_servers.units]`` in
``registry.toml``); run it alone with ``python workflows/servers/units_server.py``.
"""

from __future__ import annotations

from mcp.server.fastmcp import FastMCP

server = FastMCP("units", log_level="ERROR")

FACTORS = {
    ("km", "mi"): 0.621371, ("mi", "km"): 1.609344,
    ("kg", "lb"): 2.204623, ("lb", "kg"): 0.453592,
    ("m", "ft"): 3.280840, ("ft", "m"): 0.3048,
    ("l", "gal"): 0.264172, ("gal", "l"): 3.785412,
}


@server.tool()
def convert(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units: km, mi, kg, lb, m, ft, l, gal, c (Celsius), f (Fahrenheit).

    Args:
        value: the number to convert.
        from_unit: the unit of value, e.g. "km".
        to_unit: the unit to convert to, e.g. "mi".
    """
    a, b = from_unit.strip().lower(), to_unit.strip().lower()
    if (a, b) == ("c", "f"):
        return f"{value:g} c = {value * 9 / 5 + 32:.2f} f"
    if (a, b) == ("f", "c"):
        return f"{value:g} f = {(value - 32) * 5 / 9:.2f} c"
    factor = FACTORS.get((a, b))
    if factor is None:
        known = ", ".join(f"{x}->{y}" for x, y in FACTORS)
        raise ValueError(f"cannot convert {a} to {b}; known: {known}, c->f, f->c")
    return f"{value:g} {a} = {value * factor:.2f} {b}"


if __name__ == "__main__":
    server.run()
