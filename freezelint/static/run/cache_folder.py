"""The cache folder's file operations: nothing is read or written through a symlink.

A folder inside the project is opened one component at a time below the
project root, each with O_NOFOLLOW, and every file in it is opened relative to
that folder's descriptor (O_NOFOLLOW; new files O_EXCL, then renamed into
place, and a rename replaces a symlink instead of following it). So a
repository that ships `.freezelint_cache` as a symlink, or symlinks inside it,
cannot make freezelint create or change a file anywhere else. Where the OS has
no descriptor-relative calls (Windows), the same checks are done by path.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import subprocess
from typing import List, Optional, Tuple

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_BINARY = getattr(os, "O_BINARY", 0)
_HAVE_DIR_FD = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd and os.listdir in os.supports_fd

SYMLINK = "symlink"
NOT_A_FOLDER = "not a folder"


class Folder:
    """An open folder; files are named relative to it (plain names, never paths)."""

    def __init__(self, path: str, fd: Optional[int]):
        self.path = path
        self.fd = fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _open(self, name: str, flags: int, mode: int = 0o644) -> int:
        flags |= O_NOFOLLOW | O_BINARY
        if self.fd is not None:
            return os.open(name, flags, mode, dir_fd=self.fd)
        full = os.path.join(self.path, name)
        if not O_NOFOLLOW and os.path.islink(full):
            raise OSError(errno.ELOOP, "is a symlink", full)
        return os.open(full, flags, mode)

    def read(self, name: str, limit: int) -> Optional[Tuple[bytes, os.stat_result]]:
        """The bytes of a regular file (at most `limit`) and its stat; None if absent or not a plain file."""
        try:
            fd = self._open(name, os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            chunks = []
            left = limit
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks), st
        finally:
            os.close(fd)

    def create(self, name: str, data: bytes, mode: int = 0o644) -> bool:
        """Create a new file; False (and nothing written) if the name already exists."""
        try:
            fd = self._open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            return False
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return True

    def stat(self, name: str) -> Optional[os.stat_result]:
        try:
            if self.fd is not None:
                return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            return os.lstat(os.path.join(self.path, name))
        except OSError:
            return None

    def replace(self, name: str, data: bytes) -> None:
        """Write `data` to a new temporary file, then rename it over `name` (atomic)."""
        tmp = f".{name}-{secrets.token_hex(6)}.tmp"
        self.create(tmp, data) or _raise_exists(tmp)
        try:
            if self.fd is not None:
                os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            else:
                os.replace(os.path.join(self.path, tmp), os.path.join(self.path, name))
        except BaseException:
            self.remove(tmp)
            raise

    def names(self) -> List[str]:
        try:
            return os.listdir(self.fd if self.fd is not None else self.path)
        except OSError:
            return []

    def remove(self, name: str) -> None:
        try:
            if self.fd is not None:
                os.unlink(name, dir_fd=self.fd)
            else:
                os.unlink(os.path.join(self.path, name))
        except OSError:
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _raise_exists(name: str) -> None:
    raise FileExistsError(errno.EEXIST, "temporary file exists", name)


def open_folder(path: str, root: Optional[str], create: bool) -> Tuple[Optional[Folder], Optional[str]]:
    """Open the cache folder `path`, creating it (and folders on the way) if `create`.

    With `root` (the folder is inside the project), every component below the
    root must be a real folder: a symlink gives (None, SYMLINK), a file
    (None, NOT_A_FOLDER). Without `root` (a folder the user named outside the
    project) the path is taken as given. (None, None): it does not exist.
    """
    if root is None:
        return _open_named(path, create)
    rel = os.path.relpath(path, root)
    parts = [] if rel == "." else rel.split(os.sep)
    if not _HAVE_DIR_FD:
        return _open_by_path(root, parts, create)
    try:
        fd = os.open(root, os.O_RDONLY | O_DIRECTORY)
    except OSError:
        return None, None
    for part in parts:
        if create:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError:
                os.close(fd)
                return None, None
        try:
            nxt = os.open(part, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW, dir_fd=fd)
        except OSError as exc:
            problem = _problem(fd, part, exc)
            os.close(fd)
            return None, problem
        os.close(fd)
        fd = nxt
    return Folder(path, fd), None


def _problem(parent_fd: int, name: str, exc: OSError) -> Optional[str]:
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        return None  # missing (or unreadable): no cache, nothing to say
    if stat.S_ISLNK(st.st_mode):
        return SYMLINK
    return NOT_A_FOLDER if not stat.S_ISDIR(st.st_mode) else None


def _open_by_path(root: str, parts: List[str], create: bool) -> Tuple[Optional[Folder], Optional[str]]:
    d = root
    for part in parts:
        d = os.path.join(d, part)
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            if not create:
                return None, None
            try:
                os.mkdir(d)
                st = os.lstat(d)
            except OSError:
                return None, None
        except OSError:
            return None, None
        if stat.S_ISLNK(st.st_mode):
            return None, SYMLINK
        if not stat.S_ISDIR(st.st_mode):
            return None, NOT_A_FOLDER
    return Folder(d, None), None


def _open_named(path: str, create: bool) -> Tuple[Optional[Folder], Optional[str]]:
    try:
        if create:
            os.makedirs(path, exist_ok=True)
        if not _HAVE_DIR_FD:
            return (Folder(path, None), None) if os.path.isdir(path) else (None, None)
        return Folder(path, os.open(path, os.O_RDONLY | O_DIRECTORY)), None
    except OSError:
        return None, None


def git_tracked(path: str) -> Optional[bool]:
    """Whether git tracks anything at or below `path` (matched case-insensitively,
    so `.FREEZELINT_CACHE/` counts on a case-insensitive disk).

    None when no git work tree holds `path`, or git cannot say (not installed,
    refuses the repository's ownership, times out): the caller then trusts
    nothing that could have been copied in.
    """
    parent, name = os.path.split(path)
    d = parent
    while not os.path.lexists(os.path.join(d, ".git")):
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up
    try:
        proc = subprocess.run(
            # fsmonitor off: it is the one setting by which `ls-files` could run a command
            ["git", "-c", "core.fsmonitor=false", "ls-files", "-z", "--", f":(literal,icase){name}"],
            cwd=parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=20,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return bool(proc.stdout)
