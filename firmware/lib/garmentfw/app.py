# Firmware entry: pick the board HAL, start the device loop. Any exception that
# escapes leaves outputs off (the board's safe_state) and restarts the loop.
import sys


# sys.platform -> the HAL module (garmentfw/boards/<name>.py). Each board's image holds
# only its own HAL (firmware/manifests/<board>.py), so none is imported statically here.
_HALS = {"linux": "sim", "darwin": "sim", "esp32": "esp32s3", "rp2": "rp2040", "qemu": "qemu"}


def hal_name():
    """The HAL module this MicroPython runs: by platform, RP2350 told from RP2040 by its chip."""
    plat = sys.platform
    name = _HALS.get(plat)
    if name is None:
        raise RuntimeError("no board support for platform %r" % plat)
    if plat == "rp2" and "RP2350" in sys.implementation._machine:
        name = "rp2350"
    return name


def load_board():
    name = hal_name()
    mod = __import__("garmentfw.boards." + name, None, None, ("Board",))
    return mod.Board()


def make_device(board):
    """The device with every feature this firmware has."""
    from garmentfw.auth import AuthFeature
    from garmentfw.decoder_feature import DecoderFeature
    from garmentfw.device import Device
    from garmentfw.model_feature import ModelFeature

    dev = Device(board)
    dev.add_feature(AuthFeature(dev))
    dec = DecoderFeature(dev)
    dev.add_feature(dec)
    dev.add_feature(ModelFeature(dev, dec))
    if getattr(board, "stim", None) is not None:
        from garmentfw.stim_feature import StimFeature

        dev.add_feature(StimFeature(dev))
    return dev


def main():
    board = load_board()

    while True:
        dev = None
        try:
            dev = make_device(board)
            dev.run()
        except KeyboardInterrupt:
            _off(dev, board, "interrupted")
            raise
        except Exception as e:
            _off(dev, board, "exception")
            sys.print_exception(e)
            board.reinit()


def _off(dev, board, why):
    # Outputs off first, whatever state the device was in.
    try:
        if dev is not None and dev.stim is not None:
            dev.stim.safe_off(why)
    finally:
        board.safe_state()
