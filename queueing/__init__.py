"""Erlang formulas, the Numba queue simulator, staffing, and the live queue monitor."""
