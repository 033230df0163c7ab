"""The binary driver reads Terraform's output in bounded memory: a line without end is left out, said so, and the
lines after it still come."""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

from console.terraform.binary import MAX_LINE, BinaryDriver

# Asked anything but its version, prints twenty megabytes without a line end, then a line end and one UI message.
ENDLESS = """#!{python}
import sys
if "version" in sys.argv:
    print('{{"terraform_version": "1.11.4"}}')
    sys.exit(0)
w = sys.stdout.buffer.write
for _ in range({size} // 65536):
    w(b"abc " * 16384)
w(b"\\n")
w(b'{{"@level":"info","@message":"Terraform has been successfully initialized!","type":"init_output"}}\\n')
"""


def test_an_endless_line_from_terraform_is_left_out_in_bounded_memory(tmp_path: Path) -> None:
    size = 20 * 1024 * 1024
    program = tmp_path / "terraform"
    program.write_text(ENDLESS.format(python=sys.executable, size=size))
    program.chmod(0o755)
    seen: list[str] = []
    tracemalloc.start()
    try:
        result = BinaryDriver(program).init(tmp_path, on_line=seen.append)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    assert seen[0] == f"(a line of {size + 1} bytes left out: longer than the {MAX_LINE} a line may be)"
    assert json.loads(seen[1])["@message"] == "Terraform has been successfully initialized!"
    assert peak < 8 * MAX_LINE, peak  # a few buffers of a line's bound (the whole line would be twice twenty megabytes)
