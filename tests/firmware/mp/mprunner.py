# Runs one firmware unit-test script on the MicroPython unix port.
# Usage: micropython mprunner.py FIRMWARE_LIB TEST_SCRIPT
# Every top-level function named test_* is called; one line per test:
#   PASS name  |  FAIL name: ExcType: message
# and a final line "DONE passed=N failed=M".
import sys

lib = sys.argv[1]
script = sys.argv[2]
sys.path.insert(0, lib)
here = script.rsplit("/", 1)[0] if "/" in script else "."
sys.path.insert(0, here)

ns = {"__name__": "mptest"}
with open(script) as f:
    src = f.read()
exec(compile(src, script, "exec"), ns)

passed = 0
failed = 0
names = sorted(k for k in ns if k.startswith("test_") and callable(ns[k]))
only = sys.argv[3] if len(sys.argv) > 3 else None
for name in names:
    if only and name != only:
        continue
    try:
        ns[name]()
        print("PASS", name)
        passed += 1
    except Exception as e:  # noqa: BLE001 - report every failure, keep going
        sys.print_exception(e)
        print("FAIL", name + ":", type(e).__name__ + ":", e)
        failed += 1
print("DONE passed=%d failed=%d" % (passed, failed))
