# Electrode montage of the first product, the cycling shorts: channel i of the AFE
# sits over this muscle (L/R leg; rectus femoris, vastus lateralis, biceps femoris,
# semitendinosus). Reported in INFO so recordings carry the right channel names.
CYCLING_SHORTS = ("L_RF", "L_VL", "L_BF", "L_ST", "R_RF", "R_VL", "R_BF", "R_ST")

# The HD garment's monopolar grid: rows (along the fibres), columns, inter-electrode
# distance (mm), rectangle sites without an electrode (r * cols + c), muscle. AFE channel
# i (chip i // 8, input i % 8) is the grid's i-th electrode row by row, labelled
# R<row>C<col> (1-based), as the host's garment.phantom.hd_grid labels it.
HD_GRID = (13, 5, 8, (0,), "L_VL")


def grid_labels(rows: int, cols: int, absent) -> tuple:
    """``R01C02``-style labels of a grid's electrodes in channel order."""
    return tuple("R%02dC%02d" % (k // cols + 1, k % cols + 1) for k in range(rows * cols) if k not in absent)
