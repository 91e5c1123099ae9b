"""Signal conditioning and features, each a bit-exact reference of the firmware's integer code."""
