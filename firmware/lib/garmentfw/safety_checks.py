# The supervisor's per-pass checks, in the order they must run: the E-stop button (3: its
# edge and its level),
# host heartbeat (2), session cap (10), EMG at the rail / dead / stalled (8), battery (10),
# rolling dose (10). The supervisor (supervisor.py) decides and latches; this only
# schedules its checks and feeds them what they read.
class SafetyChecks:
    def __init__(self, sup, driver, guard, board):
        """``guard``: the EmgGuard; ``board``: its battery_mv()."""
        self.sup = sup
        self.drv = driver
        self.guard = guard
        self.board = board

    def run(self, now_ms, last_ping_ms) -> None:
        sup = self.sup
        if self.drv.estop_pressed():  # opened since the last pass (however briefly)
            sup.estop("E-stop button")
        sup.button_held()  # the level: held (or its wire broken) latches, and keeps refusing
        if sup.armed():
            sup.check_heartbeat(now_ms, last_ping_ms)
            sup.check_session(now_ms)
            sup.check_emg(self.guard.problem(now_ms, True))
            if sup.battery_due(now_ms):
                sup.check_battery(now_ms, self.board.battery_mv())
        else:
            self.guard.forget()
        sup.check_dose(now_ms)

    def emg_now(self, now_ms):
        """Why the EMG is unusable right now (None: usable), for arming and fault reset."""
        return self.guard.problem(now_ms, False)
