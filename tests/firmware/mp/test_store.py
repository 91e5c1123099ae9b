import os

from garmentfw.store import Store, StoreError

_ROOT = "/tmp/garment-store-test-%d" % id(Store)


def _fresh():
    try:
        for n in os.listdir(_ROOT):
            os.remove(_ROOT + "/" + n)
    except OSError:
        pass
    return Store(_ROOT)


def test_save_load_and_previous_kept():
    s = _fresh()
    assert s.load("cal") is None
    s.save("cal", b"one")
    s.save("cal", b"two")
    assert s.load("cal") == b"two"
    assert s.load("cal", previous=True) == b"one"
    s.rollback("cal")
    assert s.load("cal") == b"one" and s.load("cal", previous=True) == b"two"


def test_corruption_is_detected_before_use():
    s = _fresh()
    s.save("m", b"x" * 1000)
    p = s.path("m")
    with open(p, "r+b") as f:
        f.seek(500)
        f.write(b"y")
    try:
        s.load("m")
        raise AssertionError("corrupt record was accepted")
    except StoreError as e:
        assert "CRC" in str(e)


def test_truncated_and_leftover_tmp():
    s = _fresh()
    s.save("k", b"secret-bytes")
    with open(s.path("k"), "rb") as f:
        data = f.read()
    with open(s.path("k"), "wb") as f:
        f.write(data[:-3])
    try:
        s.load("k")
        raise AssertionError("truncated record was accepted")
    except StoreError:
        pass
    with open(s.path("z.tmp"), "wb") as f:
        f.write(b"half-written")
    Store(_ROOT)  # reopening (a reboot) sweeps temp files
    assert "z.tmp" not in os.listdir(_ROOT)


def _records(root):
    return sorted(os.listdir(root))


def test_power_cut_inside_a_rollback_recovers_at_boot():
    # rollback = NAME -> NAME.swap, NAME.prev -> NAME, NAME.swap -> NAME.prev: a cut after
    # either of the first two renames must still boot with one current and one previous
    # record and no stray file
    for cut in (1, 2):
        root = "/tmp/garment-store-rollcut-%d" % cut
        try:
            for n in os.listdir(root):
                os.remove(root + "/" + n)
        except OSError:
            pass
        st = Store(root)
        st.save("model", b"AAAA")
        st.save("model", b"BBBB")  # B current, A previous
        p = st.path("model")
        os.rename(p, p + ".swap")
        if cut == 2:
            os.rename(p + ".prev", p)
        st2 = Store(root)  # the next boot
        assert _records(root) == ["model", "model.prev"], (cut, _records(root))
        assert st2.load("model") == b"AAAA" and st2.load("model", previous=True) == b"BBBB", cut
        st2.rollback("model")  # and rollback works again
        assert st2.load("model") == b"BBBB"
