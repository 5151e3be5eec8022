"""One size formatter for every message: powers of 1024, a decimal only where it says something."""

import pytest

from engine.sizes import format_size


@pytest.mark.parametrize(("nbytes", "text"), [
    (0, "0 bytes"),
    (1023, "1023 bytes"),
    (1024, "1 KB"),
    (1536, "1.5 KB"),
    (4 * 1024 * 1024, "4 MB"),  # the JSON cap of model files
    (256 * 1024 * 1024, "256 MB"),
    (2 * 1024 ** 3, "2 GB"),
    (48_979_534, "46.7 MB"),  # 48,979,534 / 1024**2 = 46.71
    (5 * 1024 ** 4, "5 TB"),
    (3 * 1024 ** 5, "3072 TB"),  # nothing above TB: the number grows instead
])
def test_sizes_read_as_a_person_writes_them(nbytes, text):
    assert format_size(nbytes) == text
