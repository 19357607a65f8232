import asyncio

import pytest

from pymosn.accesslog import AccessLogger, FormatError
from pymosn.accesslog import sink as sink_module
from pymosn.api.stream_info import StreamInfo


def _info(code: int) -> StreamInfo:
    info = StreamInfo("l", 1)
    info.response_code = code
    return info


def test_file_sink_writes_lines_after_flush(tmp_path):
    path = tmp_path / "access.log"
    logger = AccessLogger(str(path), "%RESPONSE_CODE% %listener_name%")
    logger.log(_info(200))
    logger.log(_info(503))
    assert path.read_text() == ""  # buffered: nothing written per request
    logger.flush()
    assert path.read_text() == "200 l\n503 l\n"
    logger.log(_info(404))
    logger.close()
    assert path.read_text() == "200 l\n503 l\n404 l\n"
    logger.close()  # idempotent


def test_envoy_format_with_own_newline_is_not_doubled(tmp_path):
    path = tmp_path / "a.log"
    logger = AccessLogger(str(path), "%RESPONSE_CODE%\n")
    logger.log(_info(200))
    logger.close()
    assert path.read_text() == "200\n"


def test_default_format_is_used_when_empty(tmp_path):
    path = tmp_path / "a.log"
    logger = AccessLogger(str(path), "")
    logger.log(_info(204))
    logger.close()
    line = path.read_text()
    assert line.endswith("\n") and line.count("\n") == 1
    assert '"- - HTTP/1.1" 204 - 0 0 - -' in line


def test_timer_flushes_on_the_loop(tmp_path):
    path = tmp_path / "a.log"

    async def main():
        logger = AccessLogger(str(path), "%RESPONSE_CODE%", flush_interval=0.05)
        logger.log(_info(200))
        assert path.read_text() == ""
        await asyncio.sleep(0.2)
        assert path.read_text() == "200\n"
        logger.log(_info(201))  # a new timer is armed after each flush
        await asyncio.sleep(0.2)
        assert path.read_text() == "200\n201\n"
        logger.close()

    asyncio.run(main())


def test_full_buffer_flushes_without_a_loop(tmp_path, monkeypatch):
    monkeypatch.setattr(sink_module, "MAX_BUFFERED_LINES", 3)
    path = tmp_path / "a.log"
    logger = AccessLogger(str(path), "%RESPONSE_CODE%")
    for code in (200, 201):
        logger.log(_info(code))
    assert path.read_text() == ""
    logger.log(_info(202))
    assert path.read_text() == "200\n201\n202\n"
    logger.close()


def test_stdout_and_stderr_sinks(capsys):
    out = AccessLogger("stdout", "%RESPONSE_CODE% out")
    err = AccessLogger("stderr", "%RESPONSE_CODE% err")
    out.log(_info(200))
    err.log(_info(500))
    out.close()
    err.close()
    captured = capsys.readouterr()
    assert captured.out == "200 out\n"
    assert captured.err == "500 err\n"


def test_reopen_after_rotation(tmp_path):
    path = tmp_path / "a.log"
    logger = AccessLogger(str(path), "%RESPONSE_CODE%")
    logger.log(_info(200))
    path.rename(tmp_path / "a.log.1")
    logger.reopen()  # flushes into the rotated file, then starts a new one
    logger.log(_info(201))
    logger.close()
    assert (tmp_path / "a.log.1").read_text() == "200\n"
    assert path.read_text() == "201\n"


def test_bad_format_and_bad_path_fail_at_construction(tmp_path):
    with pytest.raises(FormatError):
        AccessLogger(str(tmp_path / "a.log"), "%bogus%")
    with pytest.raises(OSError):
        AccessLogger(str(tmp_path / "missing-dir" / "a.log"), "%RESPONSE_CODE%")
