import garmentfw


def test_version():
    assert garmentfw.VERSION.count(".") == 2
