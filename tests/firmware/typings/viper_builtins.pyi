# Replaces the viper types (uint, ptr, ptr8, ptr16, ptr32) of the MicroPython stubs'
# builtins.pyi when tests/firmware/test_typecheck.py builds the typeshed mypy checks the
# firmware against. Not a module: its text is spliced into builtins.pyi.
#
# The stubs declare ptr8/ptr16/ptr32 as subclasses of int. Right for a pointer inside a
# viper body, but a viper function's ptrN parameter takes any object with the buffer
# protocol (bytearray, array, memoryview) or an int address at the call, and a nominal
# class cannot accept both without a mypy plugin. So the pointer types are Any here; the
# viper emitter type-checks viper bodies itself when mpy-cross compiles them for every
# target architecture (tests/firmware/test_build.py).

#: Unsigned machine word of the viper emitter (a return annotation: 0xffffffff, not -1).
uint: TypeAlias = int  # noqa: PYI042
#: Viper pointers: a parameter accepts a buffer or an int address; ptrN(obj) casts.
ptr: TypeAlias = Any  # noqa: PYI042
ptr8: TypeAlias = Any  # noqa: PYI042
ptr16: TypeAlias = Any  # noqa: PYI042
ptr32: TypeAlias = Any  # noqa: PYI042
