# Electrode montage of the first product, the cycling shorts: channel i of the AFE
# sits over this muscle (L/R leg; rectus femoris, vastus lateralis, biceps femoris,
# semitendinosus). Reported in INFO so recordings carry the right channel names.
CYCLING_SHORTS = ("L_RF", "L_VL", "L_BF", "L_ST", "R_RF", "R_VL", "R_BF", "R_ST")
