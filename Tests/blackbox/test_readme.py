"""The README's "Curl the API" walkthrough, pasted as a reader would: each `$ ` command of the section's
sh blocks runs in bash, in order, against a server with a fresh demo catalog (what `scripts/run` serves),
and prints what the README shows under it. Ids, times, dates, request ids and ETags may differ (a
reader's will); `...` stands for what the README leaves out; a head shown with `-i` may leave fields
out. An id the README shows stands, in the commands after it, for the one this run got in its place."""
import os
import re
import shlex
import subprocess
import uuid

import pytest

from conftest import BIN, Server, mariadb

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README_URL = "http://127.0.0.1:8080"
TOKEN = "readme-admin-token-0123456789"
# A cart's or an order's id where the README shows one: after /carts/ or /orders/, as an "id", or set as CART or ORDER.
ID = re.compile(r'(?:(?<=/carts/)|(?<=/orders/)|(?<="id":")|(?<=CART=)|(?<=ORDER=))[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])')
VOLATILE = [  # what may differ between the README's run and this one, as a pattern
    (re.compile(r"\s*\.\.\.\s*"), ".*?"),  # what the README leaves out
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"),
    (re.compile(r"(?<=^Date: ).+", re.M), r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT"),
    (re.compile(r"(?<=^X-Request-Id: )\S+", re.M), r"\S+"),
    (re.compile(r'W/"[0-9a-f]{16}"'), r'W/"[0-9a-f]{16}"'),
]


def walkthrough():
    """[(command, expected output)] from the sh blocks of the README's "Curl the API" section."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("\n## Curl the API\n", 1)[1].split("\n## ", 1)[0]
    steps = []
    for block in re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S):
        lines = block.splitlines()
        while lines:
            assert lines[0].startswith("$ "), f"output without a command: {lines[0]!r}"
            command = lines.pop(0)[2:]
            while command.endswith("\\") or not balanced(command):  # a continued line, or a quote still open
                command += "\n" + lines.pop(0)
            output = []
            while lines and not lines[0].startswith("$ "):
                output.append(lines.pop(0))
            steps.append((command, "\n".join(output).strip("\n")))
    return steps


def balanced(command):
    try:
        shlex.split(command)
        return True
    except ValueError:
        return False


def pattern(expected, ids):
    """A regex for `expected`: volatile parts as patterns, ids already met as this run's, new ids captured."""
    out, position, seen = [], 0, {}
    spans = [(m.start(), m.end(), "id") for m in ID.finditer(expected)]
    for token in ids:  # one met before stands wherever it is, in a detail's text too
        spans += [(m.start(), m.end(), "id") for m in re.finditer(re.escape(token), expected)
                  if (m.start(), m.end(), "id") not in spans]
    for regex, replacement in VOLATILE:
        spans += [(m.start(), m.end(), replacement) for m in regex.finditer(expected)]
    for start, end, kind in sorted(spans):
        out.append(re.escape(expected[position:start]))
        token = expected[start:end]
        if kind != "id":
            out.append(kind)
        elif token in ids:
            out.append(re.escape(ids[token]))
        elif token in seen:
            out.append(f"(?P={seen[token]})")
        else:
            seen[token] = f"id{len(seen)}"
            out.append(f"(?P<{seen[token]}>[A-Za-z0-9_-]{{22}})")
        position = end
    out.append(re.escape(expected[position:]))
    return "".join(out), seen


def check(expected, actual, ids):
    """Asserts that `actual` shows what `expected` does; learns the ids `expected` names for the first time."""
    body = expected
    if expected.startswith("HTTP/"):
        head, _, body = expected.partition("\n\n")
        actual_head, _, actual = actual.partition("\n\n")
        status, *fields = head.splitlines()
        lines = actual_head.splitlines()
        assert lines[0] == status, (status, lines[0])
        for field in fields:  # each field the README shows, in a field of the answer
            regex, names = pattern(field, ids)
            match = next((m for line in lines[1:] if (m := re.fullmatch(regex, line))), None)
            assert match, f"no field like {field!r} in:\n{actual_head}"
            ids.update({token: match.group(name) for token, name in names.items()})
    if not body.strip():
        return
    # JSON wrapped over lines for the page: the answer's is one line.
    regex, names = pattern("".join(line.strip() for line in body.splitlines()), ids)
    match = re.fullmatch(regex, actual.strip(), re.S)
    assert match, f"the README shows:\n{body}\n\nthe answer was:\n{actual}"
    ids.update({token: match.group(name) for token, name in names.items()})


@pytest.fixture
def demo():
    """A server on a database of its own holding the demo catalog, as `scripts/run` starts it."""
    database = "storefront_readme_" + uuid.uuid4().hex[:8]
    mariadb(f"CREATE DATABASE {database}")
    try:
        subprocess.run([BIN, "seed"], env={**os.environ, "DB_NAME": database}, check=True, capture_output=True)
        server = Server(env={"DB_NAME": database, "ADMIN_TOKEN": TOKEN})
        yield server
        server.stop()
    finally:
        mariadb(f"DROP DATABASE {database}")


def test_the_curl_walkthrough_answers_as_the_readme_shows(demo):
    steps = walkthrough()
    assert len(steps) >= 10, steps
    ids, shell = {}, {"PATH": os.environ["PATH"], "ADMIN_TOKEN": TOKEN}
    for command, expected in steps:
        for readme_id, ours in ids.items():
            command = command.replace(readme_id, ours)
        command = command.replace(README_URL, demo.url)
        assignment = re.fullmatch(r"(\w+)=(.*)", command, re.S)
        script = f'{command}; printf %s "${assignment[1]}"' if assignment else command
        run = subprocess.run(["bash", "-c", script], env=shell, capture_output=True, text=True, timeout=30)
        assert run.returncode == 0 and not run.stderr, (command, run.returncode, run.stderr)
        if assignment:
            shell[assignment[1]] = run.stdout
        else:
            check(expected, run.stdout.replace("\r\n", "\n"), ids)
