# Control stage, first step: the decoder's integer outputs as activations (Q12, 4096 =
# 1.0) and, for a regression that estimates it, the crank angle. Integer only and
# allocation-free per window: the scale (real units per output LSB) is turned into
# pre-shifted divisors once per model, so that every product stays below 2**30.
from array import array

from micropython import const

from garmentfw.stim_policy import ACT_ONE

MAX_OUTPUTS = const(64)


class Activations:
    def __init__(self):
        self.acts = array("i", bytes(4 * MAX_OUTPUTS))
        self.n = 0
        self.classifier = False
        self._one = 4096
        self._one_sh = 0
        self._rev = 360
        self._rev_sh = 0

    def set_model(self, scale, classifier: bool) -> None:
        """Outputs mean ``out * scale`` (regression) or a decided class (classifier)."""
        self.classifier = classifier
        # activation Q12 = out * 4096 / one (one = LSBs for 1.0); crank angle
        # cdeg = (out mod rev) * 36000 / rev (rev = LSBs per 360 degrees).
        one = int(1.0 / scale + 0.5) if scale > 0 else 1
        one = min(max(one, 1), 0x3FFFFFFF)
        sh = 0
        while (one >> sh) > (1 << 17):
            sh += 1
        self._one, self._one_sh = one, sh
        rev = int(360.0 / scale + 0.5) if scale > 0 else 360
        rev = min(max(rev, 1), 0x3FFFFFFF)
        sh = 0
        while (rev >> sh) > 29000:
            sh += 1
        self._rev, self._rev_sh = rev, sh

    def from_outputs(self, label: int, out, n_out: int) -> int:
        """A classifier's decision (label, -1 = rejected) -> one-hot activations; a
        regression's outputs -> activations clipped to 0..1. Returns how many."""
        a = self.acts
        if n_out > MAX_OUTPUTS:
            n_out = MAX_OUTPUTS
        if self.classifier:
            for i in range(n_out):
                a[i] = ACT_ONE if i == label else 0
        else:
            one = self._one
            sh = self._one_sh
            for i in range(n_out):
                v = out[i]
                if v <= 0:
                    v = 0
                elif v >= one:
                    v = ACT_ONE
                else:
                    v = ((v >> sh) << 12) // (one >> sh)
                a[i] = v
        self.n = n_out
        return n_out

    def copy(self, acts, n: int) -> int:
        """Activations given directly (Q12)."""
        if n > MAX_OUTPUTS:
            n = MAX_OUTPUTS
        a = self.acts
        for i in range(n):
            a[i] = acts[i]
        self.n = n
        return n

    def angle_cdeg(self, v: int) -> int:
        """A regression output in degrees -> crank angle 0..35999 cdeg."""
        rev = self._rev
        v = v % rev
        return ((v >> self._rev_sh) * 36000 // (rev >> self._rev_sh)) % 36000
