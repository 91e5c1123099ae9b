# Firmware entry: pick the board HAL, start the device loop. Any exception that
# escapes leaves outputs off (the board's safe_state) and restarts the loop.
import sys


def load_board():
    plat = sys.platform
    if plat in ("linux", "darwin"):
        from garmentfw.boards import sim as mod
    elif plat == "esp32":
        from garmentfw.boards import esp32s3 as mod
    elif plat == "rp2":
        from garmentfw.boards import rp2040 as mod
    else:
        raise RuntimeError("no board support for platform %r" % plat)
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
