"""A VM boot says it is booting, then how long it took: 20-55 s of silence read as a hang."""

from bondlab.real.vm_batch import _BootProgress


def test_the_boot_is_announced_and_its_end_said_once(tmp_path, capsys):
    started = tmp_path / "started"
    progress = _BootProgress(started, 3, quiet=False)
    assert capsys.readouterr().err.startswith("real: booting the VM for 3 run(s)")
    assert progress.check() is False
    started.touch()
    assert progress.check() is True and progress.check() is True
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("real: VM up after ")


def test_quiet_runs_say_nothing(tmp_path, capsys):
    """`--json` keeps stderr for the one line a failure gets."""
    started = tmp_path / "started"
    started.touch()
    assert _BootProgress(started, 1, quiet=True).check() is True
    assert capsys.readouterr().err == ""
