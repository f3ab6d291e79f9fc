"""Lambda's platform as wheel tags: CPython X.Y, Linux x86_64 or aarch64, Amazon Linux's glibc.

Only wheels are installed (nothing compiled on this machine would run on Lambda), and only
wheels whose manylinux tag (PEP 600: the oldest glibc a wheel needs) is at most Lambda's glibc.
"""

from __future__ import annotations

__all__ = ["GLIBC", "MACHINE", "platform_tags", "uv_platform"]

# https://docs.aws.amazon.com/linux/al2023/ug/compare-with-al2.html: glibc 2.34 on Amazon
# Linux 2023 (provided.al2023, python3.12+), 2.26 on Amazon Linux 2 (provided.al2, up to 3.11).
GLIBC = {"al2023": 34, "al2": 26}
# Lambda's architecture names -> the machine names of wheel tags.
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}

# The glibc minors uv's --python-platform names (uv pip install --help): 2.17, 2.28, 2.31-2.40.
_UV_GLIBC = (17, 28, *range(31, 41))


def platform_tags(arch: str, glibc_minor: int) -> list[str]:
    """pip's ``--platform`` values for ARCH on a glibc 2.GLIBC_MINOR system, newest first.

    pip takes each ``--platform`` as one exact tag (only the legacy ``manylinux2014`` alias is
    widened to ``manylinux2010``/``manylinux1`` by pip itself), so every glibc from 2.17
    (manylinux2014, the oldest an aarch64 wheel names) up to the target's is listed.
    """
    machine = MACHINE[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def uv_platform(arch: str, glibc_minor: int) -> str:
    """uv's ``--python-platform`` for ARCH on glibc 2.GLIBC_MINOR: every manylinux tag up to
    that glibc. uv names only some glibc versions, so the nearest one below is taken: on
    Amazon Linux 2 (2.26) that is 2.17, which leaves out the rare wheels tagged only 2.24."""
    minor = max(m for m in _UV_GLIBC if m <= glibc_minor)
    return f"{MACHINE[arch]}-manylinux_2_{minor}"
