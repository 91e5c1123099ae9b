"""Link quality and device status: rate, drops, CRC errors, RSSI, battery."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from garment.tui.session import LinkView

# A Li-ion cell under light load: ~3.3 V empty, ~4.2 V full.
BATTERY_EMPTY_MV = 3300
BATTERY_FULL_MV = 4200


def battery_percent(mv: int) -> int:
    frac = (mv - BATTERY_EMPTY_MV) / (BATTERY_FULL_MV - BATTERY_EMPTY_MV)
    return int(round(100 * min(1.0, max(0.0, frac))))


class LinkQuality(Static):
    """A compact table of link counters; problems are coloured."""

    DEFAULT_CSS = """
    LinkQuality { height: auto; border: round $primary; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Link"
        self.view: LinkView | None = None
        self._rows = -1

    def show(self, view: LinkView | None, expected_sps: int = 0) -> None:
        if view == self.view:
            return
        self.view = view
        table = self._table(view, expected_sps)
        rows = table.row_count if isinstance(table, Table) else 1
        self.update(table, layout=rows != self._rows)  # a layout pass only when the height changes
        self._rows = rows

    @staticmethod
    def _table(v: LinkView | None, expected_sps: int) -> Table | Text:
        if v is None:
            return Text("not connected", style="dim")
        t = Table.grid(padding=(0, 1))
        t.add_column(style="dim", no_wrap=True)
        t.add_column(no_wrap=True)

        def bad(n: int) -> str:
            return "bold red" if n else "green"

        if not v.connected:
            t.add_row("link", Text(v.problem or "lost", style="bold red"))
        elif v.problem:
            t.add_row("link", Text(v.problem, style="bold yellow"))
        low = expected_sps and v.rate_sps < 0.9 * expected_sps
        t.add_row("rate", Text(f"{v.rate_sps:,.0f} S/s" + (f" of {expected_sps:,}" if expected_sps else ""),
                               style="yellow" if low else "green"))
        t.add_row("dropped", Text(f"{v.dropped} samples in {v.gaps} gaps", style=bad(v.dropped)))
        t.add_row("lost pkts", Text(str(v.packets_lost), style=bad(v.packets_lost)))
        t.add_row("CRC err", Text(str(v.crc_errors), style=bad(v.crc_errors)))
        if v.malformed:
            t.add_row("malformed", Text(str(v.malformed), style="bold red"))
        if v.tx_dropped or v.afe_overruns:
            t.add_row("device", Text(f"tx dropped {v.tx_dropped}, AFE overruns {v.afe_overruns}", style="bold red"))
        t.add_row("RTT", Text("-" if v.rtt_ms is None else f"{v.rtt_ms:.0f} ms"))
        if v.rssi_dbm is not None:
            t.add_row("RSSI", Text(f"{v.rssi_dbm:.0f} dBm", style="yellow" if v.rssi_dbm < -80 else "green"))
        if v.battery_mv is not None:
            pct = battery_percent(v.battery_mv)
            t.add_row("battery", Text(f"{v.battery_mv / 1000:.2f} V ({pct}%)", style="bold red" if pct < 15 else "green"))
        return t
