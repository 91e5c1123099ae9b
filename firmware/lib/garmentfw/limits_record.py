# The stimulation limits as a stored record (Store: atomic, CRC-verified). A record that
# does not verify or validate is refused with a note and the defaults stay in force.
from garmentfw import limits as L

LIMITS_RECORD = "stim_limits"


def load(store, notes):
    """The stored limits, or the defaults (with why in ``notes``)."""
    lim = L.Limits()
    if store is None:
        return lim
    try:
        data = store.load(LIMITS_RECORD)
    except Exception as e:
        notes.append("stored limits refused (%s): defaults in force" % (e,))
        return lim
    if data is None:
        return lim
    if len(data) != L.LIMITS_LEN:
        notes.append("stored limits refused (bad length): defaults in force")
        return lim
    got = L.Limits.unpack(data)
    bad = got.validate()
    if bad:
        notes.append("stored limits refused (%s): defaults in force" % bad)
        return lim
    return got


def save(store, new) -> None:
    """Store ``new`` (raises on a storage error; nothing changes in RAM then)."""
    if store is not None:
        store.save(LIMITS_RECORD, new.pack())


def update(lim, new) -> None:
    """Copy ``new`` into ``lim`` in place (the supervisor and the calibration share it)."""
    for name in L.LIMIT_FIELDS:
        setattr(lim, name, getattr(new, name))
