# The garment's application core, board-independent: the link's requests, acquisition
# and the one-way pipeline every block of samples runs through, in this order:
#   raw:     telemetry of raw samples; EMG guard (emg_guard: rail, stuck, stall, 8, on the
#            samples before blanking), then artefact stage (artefact_stage: blank window
#            after each pulse, 11)
#   filters: fixed-point high-pass and mains notch (dsp.FilterBank)
#   window:  telemetry of filtered samples; features and int8 decoder (decode_stage),
#            whose outputs go on to the control stage (control: policy, supervisor clip,
#            pulse engine), wired by app.make_device; motor units (mu_stage: separation
#            filters, discharges sent as R_MU_ACTIVITY while the stream kind is STREAM_MU).
# Services (auth, stimulation, model upload) add request handlers and per-pass work.
# The board (a HAL module under boards/, contracts in hal.pyi) supplies the AFE, the
# link, the store, time and power readings.
import struct
import time
from array import array

from micropython import const

from garmentfw import VERSION, budget, wire
from garmentfw.framing import Deframer, Framer
from garmentfw.ring import SampleRing
from garmentfw.telemetry import SampleStreamer
from garmentfw.txqueue import TxQueue

from garmentfw.dsp import FilterBank

TYPE_CHECKING = False
if TYPE_CHECKING:
    from garmentfw.hal import Board

ANY_LEN = const(-1)  # a handler that checks its own body length

_STATUS_PERIOD_MS = 1000
_ERROR_GAP_MS = 20  # framing errors are answered at most this often (a flood stays a trickle)


class Device:
    def __init__(self, board: "Board") -> None:
        self.board = board
        self.framer = Framer()
        # 83 ms of 8 ch x 2 kHz x 24 bit; the HD garment's 64 channels get 8x (the host's
        # scheduling hiccups are the same in time, its stream 8x the bytes)
        self.txq = TxQueue(32768 * (board.afe.max_channels // 8 or 1))
        self._resp = Framer.packet()
        self.deframer = Deframer(self._on_packet, self._on_rx_error)
        self.rxbuf = bytearray(512)
        afe = board.afe
        # The board's AFE says how many channels and which rates it has (the HD garment's
        # daisy chain: 64 channels at wire.HD_FS); buffers are sized for its channels.
        self.max_ch = afe.max_channels
        self.fs_allowed = afe.fs_allowed
        # The ring between the AFE's capture and this loop: 0.5 s at 2 kHz, the HD garment's
        # 1 s, unless the board needs more (the sim: a process the host OS may deschedule).
        self.ring = SampleRing(getattr(board, "AFE_RING", 1024 if self.max_ch <= 8 else 2048), self.max_ch)
        board.afe.attach(self.ring)  # a DRDY-driven capture fills it from its interrupt
        self.block = array("i", bytes(4 * wire.SAMPLES_PER_PACKET * self.max_ch))
        self.streamer = SampleStreamer(self.framer, self.txq)
        self.streaming = False
        self.n_ch = self.max_ch  # every electrode (8; the HD garment's 64)
        # The boot default is the fastest rate this board's CPU keeps up with (2 kHz on the
        # ESP32-S3 and the sim; the RP2 boards start at 1 kHz): streaming works out of the box.
        self.fs = budget.fastest_fs(board.NAME, self.n_ch, self.fs_allowed)
        self.mains = 50
        # BLE carries 8 ch x 1 kHz only as 16-bit: the default on a link that is not wired.
        self.kind = wire.STREAM_FILTERED if board.link.wired else wire.STREAM_FILTERED16
        self.hp = 1
        self.notch = 1
        self.filters = None
        self._link_write = board.link.write  # bound once: a bound method per call allocates
        self.t0 = time.ticks_ms()
        self._last_status = self.t0
        self._last_err = time.ticks_add(self.t0, -_ERROR_GAP_MS)
        self.rx_errors_suppressed = 0
        # type -> (handler(seq, pkt, body_len), body length or ANY_LEN, privileged)
        self._handlers = {
            wire.T_HELLO: (self._hello, 0, False),
            wire.T_INFO: (self._info, 0, False),
            wire.T_GET_CONFIG: (self._get_config, 0, False),
            # privileged: the filters, mains and channels decide what the decoder reads
            wire.T_SET_CONFIG: (self._set_config, wire.CONFIG_LEN, True),
            wire.T_STREAM_START: (self._start, 0, False),
            wire.T_STREAM_STOP: (self._stop, 0, False),
            wire.T_PING: (self._ping, 4, False),
            wire.T_STATUS: (self._status_req, 0, False),
        }
        self.services = []  # type: list  # add requests and per-pass work (auth, stimulation, model upload)
        self.auth = None  # set by the auth service: checks privileged requests
        # The pipeline's stages (set_stages): each has configure(n_ch, fs, filters) and
        # on_raw / on_filtered(block, n, first); None: that stage is not fitted.
        self.artefacts = None
        self.guard = None
        self.window = None
        self.units = None
        self.outputs_off = []  # type: list  # fn(why): outputs off now, called on an escaped exception
        self.last_ping_ms = time.ticks_ms()  # host heartbeat (T_PING)
        self.store = board.store
        self._apply_config(*self._stored_config())

    def _stored_config(self):
        # The acquisition settings survive a reboot (a model is only valid for its rate).
        default = (self.fs, self.n_ch, self.mains, self.kind, self.hp, self.notch)
        if self.store is None:
            return default
        try:
            raw = self.store.load("config")
            if raw is not None and len(raw) == wire.CONFIG_LEN:
                cfg = struct.unpack(wire.CONFIG_FMT, raw)
                if (cfg[0] in self.fs_allowed and 1 <= cfg[1] <= self.max_ch and cfg[2] in wire.ALLOWED_MAINS
                        and budget.refusal(self.board.NAME, cfg[0], cfg[1]) is None):
                    return cfg
        except Exception as e:  # a corrupt record: defaults, and say so
            print("config record rejected:", e)
        return default

    def add_service(self, service) -> None:
        """Register a service: ``service.handlers()`` gives {type: (fn, body_len, privileged)};
        ``service.tick(now_ms)`` runs every loop pass; ``service.on_disconnect()`` on link
        loss; ``service.on_config()`` after the acquisition was reconfigured."""
        self.services.append(service)
        self._handlers.update(service.handlers())

    def all_outputs_off(self, why: str) -> None:
        """Every output off (stimulation: FAULT_INTERNAL latched), from any error path."""
        for off in self.outputs_off:
            off(why)

    def set_stages(self, artefacts=None, guard=None, window=None, units=None) -> None:
        """Fit the pipeline's stages (raw: ``guard`` then ``artefacts``; after the filters:
        ``window`` and ``units``), each configured for the acquisition now and after every change."""
        self.artefacts = artefacts
        self.guard = guard
        self.window = window
        self.units = units
        self._configure_stages()

    def _configure_stages(self) -> None:
        for st in (self.artefacts, self.guard, self.window, self.units):
            if st is not None:
                st.configure(self.n_ch, self.fs, self.filters)

    # ---- configuration -------------------------------------------------------------
    def _apply_config(self, fs, n_ch, mains, kind, hp, notch):
        self.board.afe.configure(fs, n_ch)
        self.fs, self.n_ch, self.mains, self.kind, self.hp, self.notch = fs, n_ch, mains, kind, hp, notch
        self.ring.reset(n_ch)
        self.filters = FilterBank(n_ch, fs, mains, hp=bool(hp), notch=bool(notch))
        self._configure_stages()
        for s in self.services:
            s.on_config()
        self.event(wire.EV_CONFIG, "config fs=%d ch=%d mains=%d" % (fs, n_ch, mains))

    def uptime_ms(self) -> int:
        return time.ticks_diff(time.ticks_ms(), self.t0) & wire.COUNTER_MASK

    # ---- outgoing ------------------------------------------------------------------
    def _send(self, ptype, body_len):
        n = self.framer.encode(self._resp, ptype, body_len)
        self.txq.push(self.framer.out, n)

    def send_packet(self, pkt, ptype, body_len) -> bool:
        """Queue a packet built in ``pkt`` (a Framer.packet() buffer, body at offset 3;
        an R_PULSES body leaves wire.EVENT_TAG_LEN bytes free for the unsolicited tag)."""
        if ptype == wire.R_PULSES:
            body_len = self._unsolicited(pkt, ptype, body_len)
        n = self.framer.encode(pkt, ptype, body_len)
        return self.txq.push(self.framer.out, n)

    def reply(self, ptype, ref, payload=b""):
        self._reply(ptype, ref, payload)

    def _reply(self, ptype, ref, payload=b""):
        pkt = self._resp
        pkt[3] = ref & 0xFF
        pkt[4] = ref >> 8
        n = len(payload)
        pkt[5:5 + n] = payload
        self._send(ptype, self._sealed(pkt, ptype, ref, 2 + n))

    def _sealed(self, pkt, ptype, ref, body_len):
        # A reply to an authenticated request carries the auth's reply tag (the host checks
        # it); a state change the garment reports by itself, the unsolicited tag.
        a = self.auth
        if a is not None:
            if a.reply_ref == ref:
                return a.seal(pkt, ptype, body_len)
            if ref == wire.NO_REF and ptype == wire.R_STIM_STATE:
                return a.seal_unsolicited(pkt, ptype, body_len)
        return body_len

    def _unsolicited(self, pkt, ptype, body_len):
        a = self.auth
        return a.seal_unsolicited(pkt, ptype, body_len) if a is not None else body_len

    def error(self, ref, code, msg):
        pkt = self._resp
        struct.pack_into("<HB", pkt, 3, ref, code)
        m = msg.encode()[: wire.MAX_BODY - 3 - wire.REPLY_TAG_LEN]
        pkt[6:6 + len(m)] = m
        self._send(wire.R_ERROR, self._sealed(pkt, wire.R_ERROR, ref, 3 + len(m)))

    def event(self, code, text):
        pkt = self._resp
        struct.pack_into("<IB", pkt, 3, self.uptime_ms(), code)
        m = text.encode()[: wire.MAX_BODY - 5 - wire.EVENT_TAG_LEN]
        pkt[8:8 + len(m)] = m
        self._send(wire.R_EVENT, self._unsolicited(pkt, wire.R_EVENT, 5 + len(m)))

    def _send_status(self, ref):
        afe = self.board.afe
        d = self.deframer
        struct.pack_into(
            wire.STATUS_FMT, self._resp, 5,
            self.uptime_ms(), wire.ST_STREAMING if self.streaming else wire.ST_IDLE,
            1 if self.streaming else 0, afe.overruns & 0x3FFFFFFF, d.crc_errors & 0xFFFF,
            (d.malformed + d.oversize) & 0xFFFF, self.txq.dropped & 0x3FFFFFFF,
            afe.lead_off & 0xFF, self.board.battery_mv(), afe.count & 0x3FFFFFFF,
        )
        self._resp[3] = ref & 0xFF
        self._resp[4] = ref >> 8
        self._send(wire.R_STATUS, 2 + wire.STATUS_LEN)

    # ---- incoming ------------------------------------------------------------------
    def _on_rx_error(self, code):
        now = time.ticks_ms()
        if time.ticks_diff(now, self._last_err) < _ERROR_GAP_MS:
            self.rx_errors_suppressed += 1
            return
        self._last_err = now
        self.error(wire.NO_REF, code, wire.ERROR_NAMES.get(code, "error") + " frame dropped")

    def _on_packet(self, ptype, seq, pkt, body_len):
        entry = self._handlers.get(ptype)
        if entry is None:
            self.error(seq, wire.E_UNKNOWN_TYPE, "unknown request type 0x%02x" % ptype)
            return
        h, want, privileged = entry
        if privileged:
            auth = self.auth
            if auth is None:
                self.error(seq, wire.E_UNAUTHORIZED, "request 0x%02x needs an authenticated session" % ptype)
                return
            body_len = auth.check(self, ptype, seq, pkt, body_len)
            if body_len < 0:
                return  # auth has answered with E_UNAUTHORIZED / E_REPLAY and logged it
        if want != ANY_LEN and body_len != want:
            self.error(seq, wire.E_MALFORMED, "request 0x%02x needs a %d-byte body, got %d" % (ptype, want, body_len))
        else:
            try:
                h(seq, pkt, body_len)
            except Exception as e:  # a handler bug must never take the garment down
                self.error(seq, wire.E_INTERNAL, "internal error: %r" % (e,))
        if self.auth is not None:
            self.auth.done()  # replies sent later are not this request's

    def _hello(self, seq, pkt, n):
        self._reply(wire.R_HELLO, seq, bytes((wire.PROTOCOL_VERSION,)) + VERSION.encode())

    def _info(self, seq, pkt, n):
        import json

        b = self.board
        info = {
            "board": b.NAME,
            "version": VERSION,
            "protocol": wire.PROTOCOL_VERSION,
            "channels_max": self.max_ch,
            "fs_allowed": list(self.fs_allowed),
            "afe": b.AFE_NAME,
            "uid": b.uid(),
            "fs": self.fs,
            "channels": self.n_ch,
            "lsb_fv": b.afe.lsb_fv(),
            "montage": self._montage(),
            "state": "streaming" if self.streaming else "idle",
        }
        grid = getattr(b, "GRID", None)
        if grid is None:
            self._reply(wire.R_INFO, seq, json.dumps(info).encode())
            return
        info["grid"] = grid  # the HD garment's electrode grid (MONTAGE: its R<row>C<col> labels)
        # compact: 64 grid labels must fit one reply
        self._reply(wire.R_INFO, seq, json.dumps(info, separators=(",", ":")).encode())

    def _montage(self):
        # Channel i's electrode: a chain of chips streams CH1..m of every chip (chip-major),
        # so with m < 8 per chip channel i is input 8 (i // m) + i % m of the montage.
        m = self.n_ch // self.board.afe.chips
        return [self.board.MONTAGE[8 * (i // m) + i % m] for i in range(self.n_ch)]

    def _config_bytes(self):
        return struct.pack(wire.CONFIG_FMT, self.fs, self.n_ch, self.mains, self.kind, self.hp, self.notch)

    def _get_config(self, seq, pkt, n):
        self._reply(wire.R_CONFIG, seq, self._config_bytes())

    def _set_config(self, seq, pkt, n):
        fs, n_ch, mains, kind, hp, notch = struct.unpack_from(wire.CONFIG_FMT, pkt, 3)
        bad = None
        if fs not in self.fs_allowed:
            bad = "fs=%d not in %s" % (fs, self.fs_allowed)
        elif not 1 <= n_ch <= self.max_ch:
            bad = "channels=%d not in 1..%d" % (n_ch, self.max_ch)
        elif n_ch % self.board.afe.chips:
            bad = "channels=%d: this garment's %d daisy-chained AFEs take a multiple of %d" % (
                n_ch, self.board.afe.chips, self.board.afe.chips)
        elif mains not in wire.ALLOWED_MAINS:
            bad = "mains=%d not in %s" % (mains, wire.ALLOWED_MAINS)
        elif kind not in (wire.STREAM_RAW, wire.STREAM_FILTERED, wire.STREAM_FILTERED16, wire.STREAM_MU):
            bad = "stream kind=%d not in (0, 1, 2, 3)" % kind
        elif kind == wire.STREAM_MU and self.units is None:
            bad = "stream kind=3 (motor units): this firmware has no motor-unit stage"
        elif hp > 1 or notch > 1:
            bad = "hp/notch flags must be 0 or 1"
        else:
            # The board's CPU must keep up with it (instruction budgets: garmentfw/budget.py).
            bad = budget.refusal(self.board.NAME, fs, n_ch) or self._link_refusal(n_ch, kind)
        if bad:
            self.error(seq, wire.E_OUT_OF_RANGE, bad)
            return
        if self.streaming:
            self.error(seq, wire.E_BAD_STATE, "stop streaming before changing the configuration")
            return
        self._apply_config(fs, n_ch, mains, kind, hp, notch)
        if self.store is not None:
            self.store.save("config", self._config_bytes(), keep_previous=False)
        self._reply(wire.R_CONFIG, seq, self._config_bytes())

    def _start(self, seq, pkt, n):
        # The configuration in force (also the boot default) must fit the board's CPU.
        bad = budget.refusal(self.board.NAME, self.fs, self.n_ch) or self._link_refusal(self.n_ch, self.kind)
        if not bad and self.kind == wire.STREAM_MU:
            bad = self.units.start_refusal()
        if bad:
            self.error(seq, wire.E_OUT_OF_RANGE, bad)
            return
        if not self.streaming:
            if self.kind != wire.STREAM_MU:  # motor units: the stage sends, not the streamer
                self.streamer.start(self.n_ch, self.kind)
            self.streaming = True
            self.event(wire.EV_STREAM_START, "stream start")
        self._reply(wire.R_ACK, seq, bytes((wire.T_STREAM_START,)))

    def _link_refusal(self, n_ch, kind):
        # BLE carries at most BLE_MAX_STREAM_CHANNELS raw channels; refused, never thinned out
        # (motor-unit activity, STREAM_MU, fits it at any channel count).
        if self.board.link.wired or n_ch <= wire.BLE_MAX_STREAM_CHANNELS or kind == wire.STREAM_MU:
            return None
        return ("%d-channel streaming is USB only: BLE carries at most %d channels "
                "(over BLE the HD garment sends motor-unit activity, not raw samples)") % (
                    n_ch, wire.BLE_MAX_STREAM_CHANNELS)

    def _stop(self, seq, pkt, n):
        self.stop_stream()
        self._reply(wire.R_ACK, seq, bytes((wire.T_STREAM_STOP,)))

    def stop_stream(self):
        if self.streaming:
            if self.kind == wire.STREAM_MU:
                self.units.flush()
            else:
                self.streamer.flush()
            self.streaming = False
            self.event(wire.EV_STREAM_STOP, "stream stop")

    def _ping(self, seq, pkt, n):
        self.last_ping_ms = time.ticks_ms()
        self._reply(wire.R_PONG, seq, bytes(pkt[3:7]))

    def _status_req(self, seq, pkt, n):
        self._send_status(seq)

    # ---- the loop ------------------------------------------------------------------
    def on_disconnect(self):
        # The host went away: stop telemetry, forget half-received frames and queued bytes.
        self.streaming = False
        self.txq.clear()
        self.deframer.reset()
        for s in self.services:
            s.on_disconnect()

    def process_available(self) -> int:
        """Move every sample the AFE had produced when the pass began through the
        pipeline's stages, in order (allocation-free). Only those: a capture interrupt
        keeps adding to the ring meanwhile, and a core that falls behind must still end
        the pass (the link and the services run; the full ring counts what it loses)."""
        ring = self.ring
        block = self.block
        total = 0
        streaming = self.streaming
        samples = streaming and self.kind != wire.STREAM_MU
        raw = self.kind == wire.STREAM_RAW
        filt = self.filters
        art = self.artefacts
        guard = self.guard
        win = self.window
        units = self.units
        left = ring.count()
        while left > 0:
            k = ring.take(block, wire.SAMPLES_PER_PACKET if left > wire.SAMPLES_PER_PACKET else left)
            if not k:
                break
            left -= k
            first = ring.first_index
            # raw
            if samples and raw:
                self.streamer.add(block, k, first)
            if guard is not None:
                guard.on_raw(block, k, first)  # what the electrodes gave (artefacts passed over)
            if art is not None:
                art.on_raw(block, k, first)
            # filters
            if filt is not None:
                filt.process(block, k)
            # window
            if samples and not raw:
                self.streamer.add(block, k, first)
            if win is not None:
                win.on_filtered(block, k, first)
            if units is not None:
                units.on_filtered(block, k, first)
            total += k
        if art is not None:
            art.end_pass()  # the next block anchors its pulse times again
        return total

    def step(self) -> bool:
        """One pass of the main loop; True if anything was done."""
        b = self.board
        link = b.link
        worked = False
        n = link.readinto(self.rxbuf)
        if n:
            self.deframer.feed(self.rxbuf, n)
            worked = True
        if link.dropped_client():
            self.on_disconnect()
        b.service()
        b.afe.poll(self.ring)
        if self.process_available():
            worked = True
        # read after the samples were taken: the EMG guard stamps each block with the
        # clock, and a stamp ahead of the `now` its check gets is a negative age, i.e. a
        # stall (FAULT_EMG_RAIL): samples taken after this reading trip it falsely
        now = time.ticks_ms()
        for s in self.services:
            if s.tick(now):
                worked = True
        if self.streaming and time.ticks_diff(now, self._last_status) >= _STATUS_PERIOD_MS:
            self._last_status = now
            self._send_status(wire.NO_REF)
        if link.connected():
            self.txq.drain(self._link_write)
        else:
            self.txq.clear()
        return worked

    def run(self):
        b = self.board
        while True:
            if not self.step():
                b.idle(2)
