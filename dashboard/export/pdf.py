"""The PDF of a deck: the PPTX converted by LibreOffice, so the PDF and the slides are the same pages.

Each conversion gets its own LibreOffice profile (``-env:UserInstallation``): two conversions sharing
one profile make the second silently write nothing. LibreOffice starts a process tree (``soffice`` →
``oosplash`` → ``soffice.bin``), so it runs in its own process group and a timeout kills the group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from dashboard.export.common import ExportError

CONVERT_TIMEOUT = 180.0  # seconds; a full deck takes 5-15 s on two cores
INSTALL_HINT = "apt-get install --no-install-recommends libreoffice-impress"
PROGRAMS = ("soffice", "libreoffice")


def find_soffice() -> str:
    """The LibreOffice program; ExportError naming it and how to install it when it is missing."""
    for name in PROGRAMS:
        path = shutil.which(name)
        if path:
            return path
    raise ExportError(f"PDF export needs LibreOffice (soffice): {INSTALL_HINT}")


def pptx_to_pdf(pptx: bytes, *, timeout: float = CONVERT_TIMEOUT) -> bytes:
    """The PDF of the PPTX ``pptx``, one page per slide."""
    program = find_soffice()
    with tempfile.TemporaryDirectory(prefix="dashboard-pdf-") as tmp:
        folder = Path(tmp)
        source = folder / "deck.pptx"
        source.write_bytes(pptx)
        profile = folder / "profile"
        command = [
            program,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder / "out"),
            str(source),
        ]
        output = _run(command, timeout)
        target = folder / "out" / "deck.pdf"
        if not target.is_file() or target.stat().st_size == 0:
            raise ExportError(
                f"LibreOffice wrote no PDF / LibreOffice 未生成 PDF: {output[-300:].strip() or 'no output'}"
            )
        return target.read_bytes()


def _run(command: list[str], timeout: float) -> str:
    """Run LibreOffice in its own process group; kill the whole group on timeout."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ExportError(
            f"PDF conversion took over {timeout:.0f} s and was stopped / PDF 转换超时"
        ) from None
    if process.returncode != 0:
        text = out.decode("utf-8", "replace").strip()
        raise ExportError(f"LibreOffice failed (exit {process.returncode}): {text[-300:] or 'no output'}")
    return out.decode("utf-8", "replace")
