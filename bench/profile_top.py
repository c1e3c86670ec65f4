"""Summarise a py-spy collapsed-stack file (``--format raw``): the top functions by own and total time.

.venv/bin/python bench/profile_top.py PROFILE.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path


def frame_name(frame: str) -> str:
    """``function (path/to/module.py:123)`` -> ``module.py:function``, line numbers dropped."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    return f"{'/'.join(path.split('/')[-2:])}:{function}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        weight = int(count)
        samples += weight
        frames = [frame_name(frame) for frame in stack.split(";") if frame]
        if frames:
            own[frames[-1]] += weight
        for name in set(frames):
            total[name] += weight
    print(f"{samples:,} samples holding the GIL")
    print("own time:")
    for name, weight in own.most_common(args.top):
        print(f"  {100 * weight / samples:5.1f}%  {name}")
    print("total time (including callees):")
    for name, weight in total.most_common(args.top):
        print(f"  {100 * weight / samples:5.1f}%  {name}")


if __name__ == "__main__":
    main()
