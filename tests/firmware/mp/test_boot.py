# Boot: Ctrl-C is off before anything else runs (a host on the USB REPL could otherwise
# break in during boot, drive the pins and read the secret), and a board that fails to
# construct never drops the garment into the REPL.
import sys

import micropython


def test_boot_disables_ctrl_c_first():
    calls = []

    class _Mp:  # the MCU ports' micropython module, recording kbd_intr
        def kbd_intr(self, c):
            calls.append(c)

    sys.modules["micropython"] = _Mp()
    try:
        src = open("../../../firmware/boot.py").read()
        exec(compile(src, "boot.py", "exec"), {"__name__": "boot"})
    finally:
        sys.modules["micropython"] = micropython
    assert calls and calls[0] == -1, calls
    code = [ln.strip() for ln in src.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    assert code[0] == "import micropython" and "kbd_intr(-1)" in code[2], code[:3]  # before any other import


class _Stop(KeyboardInterrupt):
    pass


def test_a_board_that_fails_to_construct_is_retried_inside_the_guard():
    from garmentfw import app

    tries = []

    def load_board():
        tries.append(1)
        if len(tries) == 1:
            raise OSError("SPI bus not ready")
        raise _Stop()  # the second attempt ends the test

    real = app.load_board
    app.load_board = load_board
    try:
        app.main()
    except _Stop:
        pass
    finally:
        app.load_board = real
    assert len(tries) == 2, tries
