"""OutputPlan: outputs never replace an input or a non-regular file, get normal permissions, and are written
all together or not at all (a full disk is imitated with RLIMIT_FSIZE: writes past it fail with EFBIG)."""

from __future__ import annotations

import json
import os
import resource
import stat
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

from aquatope.errors import InputError
from aquatope.jsonio import OutputPlan, guard_inputs, note_input, write_json_atomic

matplotlib.use("Agg")


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def small_files() -> Iterator[None]:
    """Files may not grow past 4 KiB in this test (as on a nearly full disk)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores modes: /sys refuses it too)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked
    if os.access("/sys", os.W_OK) and not _can_create(Path("/sys")):
        return Path("/sys")
    pytest.skip("no unwritable directory for root here")


def _can_create(directory: Path) -> bool:
    try:
        (directory / ".aquatope-test").touch()
    except OSError:
        return False
    (directory / ".aquatope-test").unlink()
    return True


def test_new_files_get_the_umask_permissions_and_replaced_files_keep_theirs(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        fresh = write_json_atomic(tmp_path / "new.json", {"a": 1})
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o600)
        write_json_atomic(kept, {"b": 2})
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and json.loads(kept.read_text()) == {"b": 2}


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_a_device_is_never_replaced(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    with pytest.raises(InputError, match="not a regular file"):
        write_json_atomic(device, {"a": 1})
    assert Path(device).is_char_device()


def test_a_fifo_is_refused_before_any_work(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    plan = OutputPlan()
    plan.file(fifo, field="--json")
    with pytest.raises(InputError, match="not a regular file") as info:
        plan.check()
    assert info.value.field == "--json" and stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_an_input_is_never_overwritten_even_through_a_link(tmp_path: Path, alias: str) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("a,b\n1,2\n")
    target = trace
    if alias == "symlink":
        target = tmp_path / "link.csv"
        target.symlink_to(trace)
    elif alias == "hardlink":
        target = tmp_path / "hard.csv"
        os.link(trace, target)
    plan = OutputPlan()
    plan.input(trace, "synthetic:poisson:rate=1", None)
    plan.file(target, field="--json")
    with pytest.raises(InputError, match="is an input of this command"):
        plan.check()
    assert trace.read_text() == "a,b\n1,2\n"


def test_inputs_recorded_by_readers_are_protected_in_a_guarded_command(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    with guard_inputs():
        note_input(config)
        with pytest.raises(InputError, match="is an input"):
            write_json_atomic(config, {"overwritten": True})
    assert config.read_text() == "{}"
    write_json_atomic(config, {"outside a command": True})  # no guard: a library caller may replace it


def test_a_directory_input_protects_the_files_in_it(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    (trace / "invocations.csv").write_text("x\n")
    plan = OutputPlan()
    plan.input(trace)
    plan.file(trace / "invocations.csv")
    with pytest.raises(InputError, match="is an input"):
        plan.check()
    ok = OutputPlan()
    ok.input(trace)
    ok.file(trace / "summary.json")
    ok.check()


def test_a_symlinked_output_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    real = tmp_path / "runs" / "latest.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "results.json"
    link.symlink_to(real)
    write_json_atomic(link, {"new": 1})
    assert link.is_symlink() and json.loads(real.read_text()) == {"new": 1}


def test_two_outputs_must_be_two_files(tmp_path: Path) -> None:
    plan = OutputPlan()
    plan.file(tmp_path / "a.json", field="--json")
    with pytest.raises(InputError, match="also the output of --json"):
        plan.file(tmp_path / "." / "a.json", field="--plot")


def test_an_unwritable_directory_is_refused_before_any_work(tmp_path: Path) -> None:
    locked = unwritable_directory(tmp_path)
    plan = OutputPlan()
    plan.file(locked / "out.json", field="--json")
    with pytest.raises(InputError, match="cannot write in directory"):
        plan.check()


def test_a_full_disk_leaves_the_old_files_and_no_temporary_file(tmp_path: Path, small_files: None) -> None:
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    big.write_text('{"old": true}\n')
    plan = OutputPlan()
    plan.file(small)
    plan.file(big, field="--json")
    with pytest.raises(InputError, match="nothing was written") as info, plan.commit() as out:
        out.json(small, {"a": 1})
        out.json(big, {"x": "y" * 10_000})
    assert info.value.source == str(big)
    assert _names(tmp_path) == ["big.json"] and big.read_text() == '{"old": true}\n'


def test_an_output_set_without_the_room_it_asks_for_is_refused_before_any_work(
    tmp_path: Path, small_files: None
) -> None:
    plan = OutputPlan()
    plan.directory(tmp_path / "out", field="--out", room=64 * 1024)
    with pytest.raises(InputError, match="no room for the outputs .* nothing was written") as info:
        plan.check()
    assert (info.value.source, info.value.field) == (str(tmp_path / "out"), "--out")
    assert _names(tmp_path) == []  # not even the probe file
    fits = OutputPlan()
    fits.directory(tmp_path / "out", room=1024)
    fits.check()
    assert _names(tmp_path) == []


def test_a_new_output_set_appears_complete_or_not_at_all(tmp_path: Path) -> None:
    out_dir = tmp_path / "evaluate-out"
    plan = OutputPlan()
    plan.directory(out_dir, field="--out")
    with pytest.raises(RuntimeError), plan.commit() as out:
        out.json(out_dir / "results.json", {"a": 1})
        out.text(out_dir / "report.md", "# report\n")
        raise RuntimeError("the third plot failed")
    assert _names(tmp_path) == []
    with plan.commit() as out:
        out.json(out_dir / "results.json", {"a": 1})
        out.text(out_dir / "report.md", "# report\n")
    assert _names(out_dir) == ["report.md", "results.json"]
    assert stat.S_IMODE(out_dir.stat().st_mode) == 0o777 & ~_umask()


def test_an_existing_output_set_keeps_other_files_and_old_results_on_failure(tmp_path: Path, small_files: None) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("mine\n")
    (out_dir / "results.json").write_text("{}\n")
    plan = OutputPlan()
    plan.directory(out_dir)
    with pytest.raises(InputError, match="nothing was written"), plan.commit() as out:
        out.json(out_dir / "results.json", {"a": 1})
        out.text(out_dir / "report.md", "x" * 10_000)
    assert _names(out_dir) == ["notes.txt", "results.json"] and (out_dir / "results.json").read_text() == "{}\n"
    with plan.commit() as out:
        out.json(out_dir / "results.json", {"a": 1})
        out.text(out_dir / "report.md", "short\n")
    assert _names(out_dir) == ["notes.txt", "report.md", "results.json"]


def test_a_figure_is_staged_in_its_format(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    plan = OutputPlan()
    plan.file(tmp_path / "plot.svg")
    with plan.commit() as out:
        out.figure(tmp_path / "plot.svg", fig)
    assert (tmp_path / "plot.svg").read_text().lstrip().startswith("<?xml")
    assert _names(tmp_path) == ["plot.svg"]


def test_undeclared_targets_are_a_programming_error(tmp_path: Path) -> None:
    plan = OutputPlan()
    with pytest.raises(ValueError, match="not a declared output"), plan.commit() as out:
        out.json(tmp_path / "x.json", {})
    assert _names(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_figure_option_accepts_only_image_types_before_any_work(tmp_path: Path) -> None:
    from aquatope.jsonio import FIGURE_SUFFIXES

    plan = OutputPlan()
    with pytest.raises(InputError, match=r"unsupported file type \.xyz; use \.png, \.pdf, \.svg, no suffix") as info:
        plan.file(tmp_path / "plot.xyz", field="--plot", suffixes=FIGURE_SUFFIXES)
    assert info.value.field == "--plot"
    assert plan.file(tmp_path / "plot.PNG", field="--plot", suffixes=FIGURE_SUFFIXES) == tmp_path / "plot.PNG"
