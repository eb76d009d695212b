"""Verdicts as a JUnit XML file (one test case per verdict, failures with their evidence)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.verdicts import Verdict


def write_junit(verdicts: Sequence[Verdict], path: Path, suite: str = "harness check") -> Path:
    failures = sum(1 for v in verdicts if not v.passed and not v.skipped)
    skipped = sum(1 for v in verdicts if v.skipped)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdicts)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
        time=f"{sum(v.seconds for v in verdicts):.3f}",
    )
    for v in verdicts:
        case = ET.SubElement(root, "testcase", classname=v.exercise, name=v.check, time=f"{v.seconds:.3f}")
        if v.skipped:
            ET.SubElement(case, "skipped", message=v.seen)
        elif not v.passed:
            failure = ET.SubElement(case, "failure", message=v.seen)
            failure.text = v.message()
        else:
            ET.SubElement(case, "system-out").text = v.message()
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
