"""Outputs that never destroy anything: an :class:`OutputPlan` checks a command's outputs before it runs and
writes them all, or none of them, when it has finished.

What an output may be (checked by :meth:`OutputPlan.check`, before the work, and again when writing):

* never one of the command's inputs: inputs are declared (:meth:`OutputPlan.input`) or recorded by the
  readers (:func:`~aquatope.jsonio.inputs.note_input`), and compared by device and inode, so a symlink or a
  hard link to an input is the input;
* an existing output must be a regular file: a directory, a device (``/dev/full``, ``/dev/null``), a FIFO or
  a socket is refused (an atomic rename would replace it with a regular file); a symlink is followed, and
  the file it points to is replaced;
* its directory must exist and be writable (a file is created and removed there to make sure); an output
  declared with ``room`` (bytes its largest file may need) must have that much room there: the probe file is
  grown to it (``posix_fallocate``), so a full disk, a quota or a file-size limit (``ulimit -f``) is refused
  before the work rather than when the results are written;
* two outputs of one command are two different files.

Writing (:meth:`OutputPlan.commit`): every file goes to a hidden temporary file next to its target (the same
file system, so the final rename is atomic); only when all of them are complete (and flushed to disk) are
they renamed into place. A full disk, a read-only directory, an exception or an interrupt on the way leaves
every old file as it was and no temporary file behind, and a write error becomes one
:class:`~aquatope.errors.InputError` (exit code 2 in the CLI). New files get the usual permissions
(``0666`` minus the umask: ``0644`` typically); a replaced file keeps its mode.

An output *directory* (an output set such as ``results.json``, ``report.md`` and plots): when it does not
exist, it is built as a hidden sibling and renamed into place in one step, so it appears complete or not at
all; its parent must exist. When it exists, its new files are staged in a hidden directory inside it and
renamed over the old ones once all are complete; files of the directory that the command does not write are
left alone.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aquatope.errors import InputError
from aquatope.jsonio.inputs import FileKey, input_keys, inputs_read

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", "")
"""File types :meth:`Staging.figure` writes (no suffix: PNG); pass to :meth:`OutputPlan.file` for a plot option."""


def clean_json(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) by None and numpy scalars by Python ones, recursively."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # a numpy scalar (numpy is not imported)
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


@dataclass(frozen=True)
class _Output:
    given: Path  # as the user wrote it, for messages
    real: Path  # where the bytes go: symlinks resolved
    field: str | None
    directory: bool
    room: int = 0

    def error(self, message: str) -> InputError:
        return InputError(message, source=self.given, field=self.field)


def _hidden_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(4)}.tmp"


NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
"""Errors of a write that does not fit: a full disk, a file-size limit, a quota."""


def _probe(directory: Path, output: _Output) -> None:
    """Create and remove a file in ``directory`` (the one reliable test of writability, also for root), grown to
    ``output.room`` bytes first when the output asks for room (where the file system cannot reserve space, only
    writability is tested)."""
    probe = directory / _hidden_name("aquatope-probe")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise output.error(f"cannot write in directory {directory}: {exc.strerror or exc}") from None
    try:
        if output.room > 0:
            os.posix_fallocate(fd, 0, output.room)
    except OSError as exc:
        if exc.errno in NO_ROOM:
            raise output.error(
                f"no room for the outputs in {directory} ({output.room:,} bytes needed): {exc.strerror or exc}; "
                "nothing was written"
            ) from None
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


class OutputPlan:
    """A command's inputs and outputs: checked before the run, written all together (module doc: the rules).

    Typical use in a command::

        plan = OutputPlan()
        plan.input(trace, field="--trace")           # paths; specs that are not paths are ignored
        json_out = plan.file(json_out, field="--json")  # None (option not given) passes through
        plan.check()                                  # refuse bad outputs before any work
        ...                                           # the work
        with plan.commit() as out:                    # all files or none
            out.json(json_out, result)
    """

    def __init__(self) -> None:
        self._inputs: dict[FileKey, str] = {}
        self._outputs: dict[Path, _Output] = {}

    def input(self, *paths: str | Path | None, field: str | None = None) -> None:
        """Declare inputs: files, or directories (every file directly in them); non-paths are ignored."""
        del field  # accepted for symmetry with file(); messages name the output's field
        for path in paths:
            if path is not None:
                self._inputs.update(input_keys(path))

    def file(
        self, path: str | Path | None, *, field: str | None = None, suffixes: Sequence[str] | None = None
    ) -> Path | None:
        """Declare an output file (``None`` passes through); returns the path as given. ``suffixes`` (e.g.
        :data:`FIGURE_SUFFIXES`) limits the file types accepted, ``""`` standing for a name without one."""
        if path is None:
            return None
        given = Path(path)
        if suffixes is not None and given.suffix.lower() not in suffixes:
            kinds = ", ".join(s or "no suffix" for s in suffixes)
            raise InputError(
                f"unsupported file type {given.suffix or '(none)'}; use {kinds}", source=given, field=field
            )
        self._add(_Output(given, Path(os.path.realpath(given)), field, directory=False))
        return given

    def directory(self, path: str | Path, *, field: str | None = None, room: int = 0) -> Path:
        """Declare an output directory (an output set); files in it are written with ``commit()``. ``room``: bytes
        the largest file written there may need, checked with the directory (module doc)."""
        given = Path(path)
        self._add(_Output(given, Path(os.path.realpath(given)), field, directory=True, room=room))
        return given

    def _add(self, output: _Output) -> None:
        if output.real in self._outputs:
            other = self._outputs[output.real]
            raise output.error(f"is also the output of {other.field or other.given}; give two different files")
        self._outputs[output.real] = output

    def check(self) -> None:
        """Refuse, before any work, outputs that would replace an input or a non-regular file, or cannot be written."""
        inputs = {**inputs_read(), **self._inputs}
        for output in self._outputs.values():
            _check_output(output, inputs)

    @contextmanager
    def commit(self) -> Iterator[Staging]:
        """Stage the outputs written in this block; rename them into place if it completes, else drop them."""
        self.check()
        staging = Staging(self._outputs)
        try:
            yield staging
            staging.finish({**inputs_read(), **self._inputs})
        except OSError as exc:
            staging.discard()
            where = staging.current or exc.filename or "the outputs"
            raise InputError(f"cannot write: {exc.strerror or exc}; nothing was written", source=where) from None
        except BaseException:
            staging.discard()
            raise


def _check_output(output: _Output, inputs: dict[FileKey, str]) -> None:
    real = output.real
    exists = _check_existing(real, output, inputs)
    if output.directory and exists:
        for key, name in input_keys(real).items():
            if key in inputs:
                raise output.error(f"holds {name}, an input of this command; choose another directory")
    parent = real.parent
    if not parent.is_dir():
        raise output.error(f"directory {output.given.parent} does not exist")
    _probe(real if output.directory and exists else parent, output)


def _check_existing(real: Path, output: _Output, inputs: dict[FileKey, str]) -> bool:
    """Whether ``real`` exists; refuses it if it is of the wrong kind or one of ``inputs``."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise output.error(f"cannot use as an output: {exc.strerror or exc}") from None
    kind = stat.S_IFMT(st.st_mode)
    if output.directory and kind != stat.S_IFDIR:
        raise output.error("exists and is not a directory; give a directory for the output files")
    if not output.directory and kind == stat.S_IFDIR:
        raise output.error("is a directory; give a file name")
    if not output.directory and kind != stat.S_IFREG:
        raise output.error("is not a regular file (a device, pipe or socket); outputs go to regular files only")
    if (st.st_dev, st.st_ino) in inputs:
        raise output.error("is an input of this command; refusing to write over it, choose another file")
    return True


class Staging:
    """Where :meth:`OutputPlan.commit` writes: each method stages one output file (module doc: the rules)."""

    def __init__(self, outputs: dict[Path, _Output]) -> None:
        self._outputs = outputs
        self._files: dict[Path, tuple[Path, _Output]] = {}  # final real path -> (temporary path, output)
        self._dirs: dict[Path, Path] = {}  # output directory -> its staging directory
        self.current: Path | None = None  # the output being written, for messages

    def path(self, target: str | Path) -> Path:
        """A temporary path for ``target`` (a declared file, or a file directly in a declared directory) that a
        writer creates itself (``fig.savefig``, ``torch.save``); it is renamed to ``target`` at the end."""
        self.current = Path(target)
        real = Path(os.path.realpath(target))
        if real in self._files:
            raise ValueError(f"{target} is written twice")
        output = self._outputs.get(real)
        if output is not None and not output.directory:
            tmp = real.parent / _hidden_name(real.name)
        elif real.parent in self._outputs and self._outputs[real.parent].directory:
            output = self._outputs[real.parent]
            tmp = self._staging_dir(real.parent) / real.name
        else:
            raise ValueError(f"{target} is not a declared output")
        self._files[real] = (tmp, output)
        return tmp

    def _staging_dir(self, directory: Path) -> Path:
        if directory not in self._dirs:
            where = directory if directory.is_dir() else directory.parent
            staged = where / _hidden_name(directory.name)
            os.mkdir(staged, 0o777)
            self._dirs[directory] = staged
        return self._dirs[directory]

    def _write(self, target: str | Path, writer: Callable[[IO[str]], None]) -> Path:
        tmp = self.path(target)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            writer(handle)
        return Path(target)

    def json(self, target: str | Path, data: Any) -> Path:
        """Stage ``data`` as indented JSON (NaN and infinities become null)."""

        def dump(handle: IO[str]) -> None:
            json.dump(clean_json(data), handle, indent=2, allow_nan=False)
            handle.write("\n")

        return self._write(target, dump)

    def text(self, target: str | Path, text: str) -> Path:
        """Stage ``text`` as UTF-8."""

        def write(handle: IO[str]) -> None:
            handle.write(text)

        return self._write(target, write)

    def figure(self, target: str | Path, fig: Any, dpi: int = 120) -> Path:
        """Stage a matplotlib figure (format from the target's suffix, PNG by default), then close it."""
        import matplotlib.pyplot as plt

        try:
            fmt = Path(target).suffix.lstrip(".").lower() or "png"
            fig.savefig(self.path(target), dpi=dpi, format=fmt)
        finally:
            plt.close(fig)
        return Path(target)

    def finish(self, inputs: dict[FileKey, str]) -> None:
        """Check again, flush every staged file to disk, then rename all into place."""
        for real, (tmp, output) in self._files.items():
            if output.directory:  # a file of an output set: only the file itself is checked again
                _check_existing(real, _Output(output.given / real.name, real, output.field, False), inputs)
            else:
                _check_output(output, inputs)
            _sync(tmp, real)
        moved_dirs = set()
        for directory, staged in self._dirs.items():
            if not directory.exists():
                os.rename(staged, directory)  # the whole set appears at once
                moved_dirs.add(directory)
        for real, (tmp, _) in self._files.items():
            if real.parent not in moved_dirs:
                os.replace(tmp, real)
        for directory, staged in self._dirs.items():
            if directory not in moved_dirs:
                os.rmdir(staged)
        self._files.clear()
        self._dirs.clear()

    def discard(self) -> None:
        """Remove every staged file and directory (after a failure); the targets are untouched."""
        for tmp, _ in self._files.values():
            tmp.unlink(missing_ok=True)
        for staged in self._dirs.values():
            shutil.rmtree(staged, ignore_errors=True)
        self._files.clear()
        self._dirs.clear()


def _sync(tmp: Path, real: Path) -> None:
    """Flush ``tmp`` to disk and give it the mode of the file it replaces (new files keep umask's)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    with suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path``, all or nothing (see :class:`OutputPlan` for the checks)."""
    plan = OutputPlan()
    plan.file(path)
    with plan.commit() as out:
        return out.json(path, data)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path``, all or nothing."""
    plan = OutputPlan()
    plan.file(path)
    with plan.commit() as out:
        return out.text(path, text)


def save_figure_atomic(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure to ``path`` (PNG unless the suffix says otherwise), all or nothing; closes it."""
    plan = OutputPlan()
    plan.file(path)
    with plan.commit() as out:
        return out.figure(path, fig, dpi=dpi)


def check_output_path(path: str | Path) -> Path:
    """Refuse, before any work, an output path that :class:`OutputPlan` would refuse; returns it."""
    plan = OutputPlan()
    plan.file(path)
    plan.check()
    return Path(path)
