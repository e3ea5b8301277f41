"""The Action's install step: a virtualenv of its own holding voicebot-sync and its locked dependencies.

action.yml runs it with the interpreter that actions/setup-python installed, in isolated mode (``-I``: the
job's PYTHONPATH and user site never reach it). Standard library only: nothing is installed when it runs.

    install.py key       writes ``dir`` (the wheel folder) and ``key`` (its cache key) to GITHUB_OUTPUT
    install.py install   makes the virtualenv and writes ``python`` (its interpreter) and ``wheels``
                         (``restored``, ``downloaded`` or ``replaced``) to GITHUB_OUTPUT

What actions/cache keeps between jobs is the wheel folder only: the files pip downloaded for the two locks
(``action-requirements.txt``, ``action/uv-requirements.txt``). The cache is never trusted: before use every
file's sha256 must be one of the lock's (the locks come from the action's own ref), or the folder is thrown
away and downloaded afresh. The virtualenv is made new in every job: a uv extracted from a wheel checked the
same way installs the checked wheels into it, with a uv cache of the run's own, and a .pth file names the
action's checkout, whose voicebot_sync package is imported from there (see docs/action-setup.md).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Bump to drop every cache entry written by an older layout of the wheel folder.
CACHE_VERSION = "1"
UV_MEMBER = re.compile(r"^uv-[^/]+\.data/scripts/uv(\.exe)?$")
# Locked as the build-system requirement, but nothing is built here: neither downloaded nor installed
# (setuptools alone is 40% of the files the virtualenv would hold).
BUILD_ONLY = {"setuptools"}


class InstallError(Exception):
    """An install that cannot go on; its message is the one line the log shows."""


# -- the locks ------------------------------------------------------------------------------------------


def read_lock(path: str) -> dict[str, set[str]]:
    """``{name==version: {sha256, ...}}`` of a pip-compile lock (continuation lines joined, comments dropped)."""
    with open(path, encoding="utf-8") as fh:
        text = re.sub(r"\\\n", " ", fh.read())
    pins: dict[str, set[str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pin = line.split()[0]
        hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        if "==" not in pin or not hashes:
            raise InstallError(f"{os.path.basename(path)}: {pin} is not pinned with hashes")
        pins[pin] = hashes
    return pins


def write_lock(path: str, pins: dict[str, set[str]]) -> str:
    """The pins as a requirements file (one line each, hashes on the line), for pip and uv."""
    with open(path, "w", encoding="utf-8") as fh:
        for pin, hashes in pins.items():
            fh.write(" ".join([pin, *(f"--hash=sha256:{h}" for h in sorted(hashes))]) + "\n")
    return path


def locks(action_path: str) -> tuple[str, str]:
    return os.path.join(action_path, "action-requirements.txt"), os.path.join(action_path, "action", "uv-requirements.txt")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the cache key ----------------------------------------------------------------------------------------


def cache_key(action_path: str) -> str:
    """Everything that decides which wheel files pip picks: the locks' contents, the interpreter (version,
    implementation, ABI), the platform and the C library (a wheel for a newer glibc fails on an older one)."""
    digest = hashlib.sha256()
    for lock in locks(action_path):
        with open(lock, "rb") as fh:
            digest.update(hashlib.sha256(fh.read()).digest())
    python = f"{sys.implementation.name}{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    libc = "".join(platform.libc_ver()) or "nolibc"
    where = re.sub(r"[^A-Za-z0-9._]+", "_", f"{sysconfig.get_platform()}-{libc}")
    return f"voicebot-sync-wheels-v{CACHE_VERSION}-{python}-{where}-{digest.hexdigest()[:32]}"


# -- the wheel folder -------------------------------------------------------------------------------------


def check_wheels(folder: str, pins: dict[str, set[str]]) -> list[str]:
    """What is wrong with the folder (empty: every file is a locked file, and every pin has one)."""
    known = set().union(*pins.values())
    found, problems = set(), []
    for entry in os.scandir(folder):
        if entry.is_symlink() or not entry.is_file():
            problems.append("something other than a file")
            continue
        digest = _sha256(entry.path)
        if digest not in known:
            problems.append("a file whose sha256 no lock has")
        found.add(digest)
    missing = [pin for pin, hashes in pins.items() if not hashes & found]
    if missing:
        problems.append(f"{len(missing)} locked requirement(s) missing")
    return problems


def download(folder: str, venv_python: str, requirement_files: tuple[str, ...]) -> None:
    """pip (setup-python's) downloads the locked wheels for the virtualenv's interpreter: ``--python`` runs it
    for that virtualenv, so PIP_REQUIRE_VIRTUALENV=1 holds; ``--require-hashes`` refuses anything unlocked;
    wheels only, so no build (which would fetch unpinned build tools) ever runs for a dependency. ``--no-deps``
    skips pip's resolver (the lock lists every dependency; uv checks that none is missing when it installs)."""
    command = [sys.executable, "-m", "pip", "--python", venv_python, "download", "--disable-pip-version-check",
               "--no-input", "--quiet", "--no-deps", "--only-binary=:all:", "--require-hashes", "--dest", folder]
    for requirements in requirement_files:
        command += ["-r", requirements]
    if subprocess.run(command).returncode:
        raise InstallError("pip could not download the locked wheels (see above)")


def extract_uv(folder: str, pins: dict[str, set[str]], into: str) -> str:
    """The uv binary out of the checked uv wheel in the folder."""
    (uv_hashes,) = pins.values()
    for entry in os.scandir(folder):
        if entry.name.startswith("uv-") and _sha256(entry.path) in uv_hashes:
            with zipfile.ZipFile(entry.path) as wheel:
                member = next((n for n in wheel.namelist() if UV_MEMBER.match(n)), None)
                if member is None:
                    break
                target = os.path.join(into, os.path.basename(member))
                with wheel.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            os.chmod(target, 0o755)
            return target
    raise InstallError("the wheel folder holds no uv for this platform")


# -- the virtualenv ---------------------------------------------------------------------------------------


def make_venv(parent: str) -> tuple[str, str]:
    """A new virtualenv without pip (uv installs into it): (folder, interpreter)."""
    folder = tempfile.mkdtemp(prefix="voicebot-sync-venv.", dir=parent)
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(folder)
    python = os.path.join(folder, "Scripts", "python.exe") if os.name == "nt" else os.path.join(folder, "bin", "python")
    return folder, python


def uv_install(uv: str, python: str, folder: str, requirements: str, scratch: str) -> None:
    """The locked dependencies from the folder alone (``--no-index --offline``, hashes required). No UV_*
    variable or uv.toml of the job applies, and uv's cache is a new folder: nothing cached elsewhere is
    taken on trust."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    command = [uv, "pip", "install", "--no-config", "--quiet", "--python", python, "--no-index", "--offline",
               "--cache-dir", os.path.join(scratch, "uv-cache"), "--require-hashes", "--find-links", folder,
               "-r", requirements]
    if subprocess.run(command, env=env).returncode:
        raise InstallError("uv could not install the locked dependencies (see above)")


def site_packages(venv_folder: str) -> str:
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else ("nt" if os.name == "nt" else "posix_prefix")
    return sysconfig.get_path("purelib", scheme, vars={"base": venv_folder, "platbase": venv_folder})


def link_package(venv_folder: str, action_path: str) -> None:
    """The action's own package, imported from the action's checkout at its ref: a .pth file naming the
    checkout, as an editable install writes, so no build runs (a build was half the warm set-up's time).
    Appended to sys.path, after site-packages: it adds ``voicebot_sync`` and shadows no dependency."""
    if not os.path.isfile(os.path.join(action_path, "voicebot_sync", "__init__.py")):
        raise InstallError("the action's checkout holds no voicebot_sync package")
    with open(os.path.join(site_packages(venv_folder), "voicebot_sync_action.pth"), "w", encoding="utf-8") as fh:
        fh.write(os.path.abspath(action_path) + "\n")


# -- the step ---------------------------------------------------------------------------------------------


def _runner_temp() -> str:
    return os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()


def wheel_folder(key: str) -> str:
    """A folder per key: two uses of the action in one job with different Pythons never mix their wheels."""
    return os.path.join(_runner_temp(), key)


def _clear(folder: str) -> None:
    if os.path.islink(folder) or os.path.isfile(folder):
        os.unlink(folder)
    elif os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)


def prepare_wheels(folder: str, venv_python: str, lock_files: tuple[str, str], pins: dict[str, set[str]],
                   distrust: str = "") -> str:
    """The folder checked against the locks, downloaded afresh when it is empty, anything in it is wrong, or
    ``distrust`` says why a folder that passed the check is not to be used."""
    if os.path.islink(folder) or not os.path.isdir(folder):
        _clear(folder)
    had_files = any(os.scandir(folder))
    problems = ([distrust] if distrust else check_wheels(folder, pins)) if had_files else ["empty"]
    if not problems:
        return "restored"
    if had_files:
        # Counts only: the names in a restored folder are outside text and stay out of the log.
        print(f"::warning title=voicebot-sync::The restored wheel cache did not match the action's locks "
              f"({'; '.join(sorted(set(problems)))}); it was thrown away and the wheels downloaded afresh.")
        _clear(folder)
    download(folder, venv_python, lock_files)
    after = check_wheels(folder, pins)
    if after:
        raise InstallError(f"the downloaded wheels do not match the locks ({'; '.join(sorted(set(after)))})")
    return "replaced" if had_files else "downloaded"


def install(action_path: str) -> dict[str, str]:
    lock, uv_lock = locks(action_path)
    deps = {pin: hashes for pin, hashes in read_lock(lock).items() if pin.split("==")[0].lower() not in BUILD_ONLY}
    uv_pins = read_lock(uv_lock)
    temp, folder = _runner_temp(), wheel_folder(cache_key(action_path))
    distrust = ""
    while True:
        venv_folder, python = make_venv(temp)
        scratch = tempfile.mkdtemp(prefix="voicebot-sync-uv.", dir=temp)
        runtime = write_lock(os.path.join(scratch, "runtime-requirements.txt"), deps)
        state = prepare_wheels(folder, python, (runtime, uv_lock), {**deps, **uv_pins}, distrust)
        try:
            uv_install(extract_uv(folder, uv_pins, scratch), python, folder, runtime, scratch)
        except InstallError:
            if state != "restored":
                raise
            # Locked files, yet not installable here (a wheel of another platform under this key): once more
            # from a fresh download, in a new virtualenv.
            distrust = "its wheels did not install"
            continue
        link_package(venv_folder, action_path)
        return {"python": python, "wheels": state}


def write_outputs(values: dict[str, str]) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    lines = "".join(f"{name}={value}\n" for name, value in values.items() if "\n" not in value)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        sys.stdout.write(lines)


def main(argv: list[str]) -> int:
    action_path = os.environ.get("ACTION_PATH") or os.path.dirname(HERE)
    try:
        if argv == ["key"]:
            key = cache_key(action_path)
            write_outputs({"dir": wheel_folder(key), "key": key})
        elif argv == ["install"]:
            write_outputs(install(action_path))
        else:
            raise InstallError("usage: install.py key|install")
    except InstallError as exc:
        print(f"::error title=voicebot-sync::The install step failed: {exc}")
        return 1
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        print(f"::error title=voicebot-sync::The install step failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
