"""The console demo driven through its stdin/stdout, as a person would use it."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

PROMPT = "\n> "


class DemoProcess:
    """Runs `python -m bot demo` and talks to it line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.screen = ""

    async def read_until_prompt(self) -> str:
        assert self.process.stdout is not None
        raw = bytearray()
        while not raw.endswith(PROMPT.encode()):
            data = await asyncio.wait_for(self.process.stdout.read(1), timeout=20)
            if not data:
                break
            raw += data
        chunk = raw.decode()
        self.screen += chunk
        return chunk

    def choice(self, output: str, label: str) -> str:
        match = re.search(rf"\[(\d+)\] {re.escape(label)}", output)
        assert match, f"no button {label!r} in:\n{output}"
        return match.group(1)

    async def send(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        await self.process.stdin.drain()
        return await self.read_until_prompt()


async def start_demo(folder: Path, *extra: str) -> DemoProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        "--dir",
        str(folder),
        "--language",
        "en",
        *extra,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return DemoProcess(process)


async def test_demo_chat_binds_an_account_and_shows_the_balance(tmp_path):
    demo = await start_demo(tmp_path)
    greeting = await demo.read_until_prompt()
    assert "1001001" in greeting and "last payment: 1234.50" in greeting  # the printed demo accounts
    assert "Hello" in greeting

    out = await demo.send(demo.choice(greeting, "Add account"))
    out = await demo.send(demo.choice(out, "City Heating Utility"))
    assert "account number" in out
    out = await demo.send("1001 001")
    out = await demo.send("999")  # a wrong fact
    assert "could not confirm" in out
    out = await demo.send("1001001")
    out = await demo.send("1 234,50")
    assert "Ш******о Т. Г." in out and "Шевченка, 12" in out
    out = await demo.send(demo.choice(out, "Balance"))
    assert "1,520.40" in out and "Total" in out
    # Water company: readings are accepted all month in the demo; paying writes the QR code to a file.
    out = await demo.send(demo.choice(out, "Add account"))
    out = await demo.send(demo.choice(out, "City Water Company"))
    out = await demo.send("2002001")
    out = await demo.send("кв. 45")
    assert "2002001 is added" in out
    out = await demo.send(demo.choice(out, "Submit readings"))
    out = await demo.send(demo.choice(out, "2002001 — City Water Company"))
    assert "Meter 1 of 2" in out and "345.12 m³" in out
    out = await demo.send("350,5")
    out = await demo.send("121")
    assert "Please check your readings" in out
    out = await demo.send(demo.choice(out, "Confirm"))
    assert "Receipt No." in out
    out = await demo.send(demo.choice(out, "Pay"))
    paths = re.findall(r"\[image\] (\S+\.png)", out)
    assert len(paths) == 2  # heating and water at the same flat: one QR code each
    assert all(Path(path).read_bytes().startswith(b"\x89PNG") for path in paths)
    out = await demo.send("🙂" * 10)
    assert "did not understand" in out
    out = await demo.send("x" * 5000)
    assert "did not understand" in out
    out = await demo.send("/cancel")
    assert "Nothing to cancel" in out
    await demo.send("/quit")
    assert await asyncio.wait_for(demo.process.wait(), timeout=10) == 0

    # The database is reused: the account is still bound in a second session.
    again = await start_demo(tmp_path)
    greeting = await again.read_until_prompt()
    out = await again.send(again.choice(greeting, "My accounts"))
    assert "1001001" in out
    assert again.process.stdin is not None
    again.process.stdin.close()  # end of input ends the chat
    assert await asyncio.wait_for(again.process.wait(), timeout=10) == 0
