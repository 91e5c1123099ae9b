# Integer parameters checked against a contract's LIMITS table ((name, default, lowest,
# highest) rows, as in cpg_spec.py and reflex_spec.py): one check for every such table.


def int_params(d, limits, what, out, extra=()):
    """Fill ``out[i]`` with ``d[name]`` (or the default) for each row of ``limits``;
    ValueError names an unknown key (beyond ``extra``) or a value that is not an integer
    within its range."""
    if not isinstance(d, dict):
        raise ValueError("%s parameters must be an object" % what)
    names = [n for n, _, _, _ in limits]
    for k in d:
        if k not in names and k not in extra:
            raise ValueError("unknown %s parameter %r (allowed: %s)" % (what, k, ", ".join(names + list(extra))))
    for i, (name, dflt, lo, hi) in enumerate(limits):
        v = d.get(name, dflt)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not lo <= v <= hi:
            raise ValueError("%s %s=%r must be an integer in %d..%d" % (what, name, v, lo, hi))
        out[i] = int(v)
