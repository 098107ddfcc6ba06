"""Masking of phone and ID-card numbers in text and in log records."""

from __future__ import annotations

import io
import json
import logging

import pytest

from engine.privacy import MaskingFilter, install_log_masking, mask_name, mask_number, mask_text, mask_words


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13912345678", "139****5678"),
        ("我的电话是13912345678谢谢", "我的电话是139****5678谢谢"),
        ("call me on 139 1234 5678 please", "call me on 139 **** 5678 please"),
        ("+86 139-1234-5678", "+86 139-****-5678"),
        ("008613912345678", "0086139****5678"),
        ("座机0755-12345678", "座机0755-****5678"),
        ("010-12345678", "010-****5678"),
        ("家里87654321", "家里****4321"),
        ("身份证号11010519900307123X。", "身份证号110***********123X。"),
        ("id 11010519900307123x", "id 110***********123x"),
        ("110105199003071234", "110***********1234"),
        ("１３９１２３４５６７８", "１３９****５６７８"),  # full-width digits
        ("号码是幺三九一二三四五六七八", "号码是幺三九****五六七八"),  # as a recogniser writes it
        ("两个电话13912345678和13812345678", "两个电话139****5678和138****5678"),
        # spoken or typed with other separators, and digits mixed with numerals
        ("一 三 九 一 二 三 四 五 六 七 八", "一 三 九 * * * * 五 六 七 八"),
        ("我的号码是 幺三九 一二三四 五六七八", "我的号码是 幺三九 **** 五六七八"),
        ("139.1234.5678", "139.****.5678"),
        ("139 - 1234 - 5678", "139 - **** - 5678"),
        ("139一二三四5678", "139****5678"),
        ("１３９－１２３４－５６７８", "１３９－****－５６７８"),
        ("139\u30001234\u30005678", "139\u3000****\u30005678"),  # ideographic spaces
        ("电话 139  1234  5678。", "电话 139  ****  5678。"),
        ("13912345678.5", "139*****678.5"),  # not a decimal: too long before the point
        ("139.12345678", "139.****5678"),  # nor with that many digits after it
        ("0755.12345678", "0755.****5678"),  # nor with a leading zero
        # a number next to an identifier is still masked
        ("Uniqueid 1795881255.252 13912345678", "Uniqueid 1795881255.252 139****5678"),
        ("2026-11-28 15:54:14,123 caller 13912345678", "2026-11-28 15:54:14,123 caller 139****5678"),
        ("PJSIP/13912345678-00000012", "PJSIP/139****5678-00000012"),
        ("Local/13912345678@callback-0000a1b2;1", "Local/139****5678@callback-0000a1b2;1"),
        ("12345678-1234-1234-1234-123456789012", "123*****-****-****-****-********9012"),  # no hex letter
    ],
)
def test_numbers_are_masked_keeping_length(text, masked):
    assert mask_text(text) == masked
    assert len(mask_text(text)) == len(text)


@pytest.mark.parametrize(
    "text",
    [
        "请拨打12345热线",
        "分机8001",
        "房间302，2026年",
        "Uniqueid: 1795881255.252",
        "on 2026-11-28 at 15:54:14",
        "pi is 3.14159265358",
        "0.5 1.25 1234567.5 37.1234567",
        "三三两两",
        "",
        # identifiers logs are matched on (Asterisk's own logs and AMI events)
        "b8af246c-3b75-45e8-a213-450814bf1f1d",
        "Uniqueid: 1796448575.12",
        "Linkedid: 1796448575.1234567",  # the counter after a few million channels
        "Channel: Local/s@hotline-in-00000003;2",
        "Channel: AudioSocket/127.0.0.1:9092-b8af246c-3b75-45e8-a213-450814bf1f1d",
        "Channel: AudioSocket/127.0.0.1:9092-b033c506-4288-4016-be6b",  # cut short, as Asterisk does
        "PJSIP/1001-00000012 SIP/trunk-0000001a Local/agent3@agents2-000000aa;1",
        "listening on 10.100.200.150 port 9092",
        "2026.11.28 and 2026/11/28",
        "3 号楼 8 点 30 分，2 单元",
        "房间302. 2026年",
        "两个一 三个二",
    ],
)
def test_other_text_is_left_alone(text):
    assert mask_text(text) == text


def test_number_and_name_fields():
    assert mask_number("13912345678") == "139****5678"
    assert mask_number("8001") == "8001" and mask_number(None) is None
    assert mask_name("张三丰 市民") == "张** **"
    assert mask_name("John Smith") == "J*** S****"
    assert mask_name("<unknown>") == "<unknown>" and mask_name(None) is None


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    buf = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers[:] = []
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, buf


def test_log_filter_masks_message_args_and_exceptions():
    logger, buf = _logger("hotline.test.privacy")
    install_log_masking(logger)
    install_log_masking(logger)  # idempotent
    assert sum(isinstance(f, MaskingFilter) for f in logger.handlers[0].filters) == 1
    logger.info("caller %s joined queue %s", "13912345678", "citizen")
    logger.warning("id card 11010519900307123X in transcript")
    try:
        raise ValueError("bad number 13812345678")
    except ValueError:
        logger.exception("failed for %s", "0755-12345678")
    child = logging.getLogger("hotline.test.privacy.child")
    child.error("from a child logger: %d", 13712345678)
    out = buf.getvalue()
    for secret in ("13912345678", "11010519900307123X", "13812345678", "0755-12345678", "13712345678"):
        assert secret not in out
    assert "caller 139****5678 joined queue citizen" in out
    assert "110***********123X" in out and "ValueError: bad number 138****5678" in out
    assert "137****5678" in out


def test_log_lines_keep_asterisk_ids_and_lose_numbers():
    """Real-looking engine log lines: the ids that match them to Asterisk's log stay whole."""
    logger, buf = _logger("hotline.test.privacy.ids")
    logger.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    install_log_masking(logger)
    uuid = "b8af246c-3b75-45e8-a213-450814bf1f1d"
    lines = [
        ("audiosocket %s: connected from 127.0.0.1:40312, call 1796448575.12", (uuid,)),
        ("tap AudioSocket/127.0.0.1:9092-%s on Local/s@hotline-in-00000003;2 started", (uuid,)),
        ("agi Local/s@hotline-in-00000003;2 uniqueid=%s linkedid=%s caller %s", ("1796448575.14", "1796448575.12",
                                                                                 "13912345678")),
        ("callback %s booked for %s (said: %s)", ("cb-7", "0755-12345678", "一 三 九 一 二 三 四 五 六 七 八")),
    ]
    for msg, args in lines:
        logger.warning(msg, *args)
    out = buf.getvalue()
    assert out.count(uuid) == 2 and out.count("Local/s@hotline-in-00000003;2") == 2
    assert "call 1796448575.12" in out and "uniqueid=1796448575.14 linkedid=1796448575.12" in out
    assert "caller 139****5678" in out and "0755-****5678" in out and "一 三 九 * * * * 五 六 七 八" in out
    for secret in ("13912345678", "12345678", "一 二 三 四"):
        assert secret not in out


def test_extra_fields_and_structured_tracebacks_are_masked():
    """``hotline serve``'s JSON and key=value lines print extra fields and the traceback: both masked."""
    from engine.commands.serve import JsonFormatter, KeyValueFormatter

    for formatter in (JsonFormatter(), KeyValueFormatter()):
        logger, buf = _logger(f"hotline.test.privacy.{type(formatter).__name__}")
        logger.handlers[0].setFormatter(formatter)
        install_log_masking(logger)
        try:
            raise ValueError("callback to 13812345678 failed")
        except ValueError:
            logger.exception("booking failed", extra={"caller": "13912345678", "number": 13712345678,
                                                      "call_id": "1796448575.12"})
        out = buf.getvalue()
        assert "138****5678" in out and "13812345678" not in out
        if isinstance(formatter, JsonFormatter):
            line = json.loads(out)
            assert line["caller"] == "139****5678" and line["number"] == "137****5678"
            assert line["call_id"] == "1796448575.12"
        assert "13912345678" not in out and "13712345678" not in out


def test_log_filter_survives_a_broken_format_string():
    logger, buf = _logger("hotline.test.privacy2")
    install_log_masking(logger)
    logger.addHandler(logging.NullHandler())
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "%d %d", ("x",), None)
    assert MaskingFilter().filter(record) is True


def test_typed_digits_lower_the_bar():
    assert mask_text("12345") == "12345"  # free text: the hotline's own number, an extension
    assert mask_number("12345", min_digits=5) == "****5" and mask_number("1234", min_digits=5) == "1234"
    assert mask_text("一二三四五", min_digits=5) == "****五"
    assert mask_number("13912345678", min_digits=5) == "139****5678"  # long numbers as always


def test_words_are_masked_as_their_joined_text():
    words = [{"word": "电话", "start": 0.0}] + [{"word": d, "start": float(i)} for i, d in enumerate("13912345678")]
    out = mask_words(words)
    assert "".join(w["word"] for w in out) == "电话139****5678"
    assert [w["start"] for w in out] == [w["start"] for w in words]
    assert mask_words([{"word": "13912345678"}]) == [{"word": "139****5678"}] and mask_words([]) == []


def test_hotline_main_masks_numbers_in_log_lines():
    """``hotline`` configures logging, then installs the masking filter: a number that slips into
    a log line (message, arguments, traceback) reaches stderr masked. In a fresh interpreter, so
    the root logger is configured by main() itself, as on a real command line."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import logging, sys
        import engine.commands.version as version

        def run(args):
            log = logging.getLogger("hotline.test")
            log.warning("caller %s rang about ID %s", "13912345678", "11010519900307123X")
            try:
                raise ValueError("callback to 0755-12345678 failed")
            except ValueError:
                log.exception("booking failed")
            return 0

        version.run = run
        from engine.cli import main
        sys.exit(main(["version"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "caller 139****5678 rang about ID 110***********123X" in err
    assert "ValueError: callback to 0755-****5678 failed" in err
    for secret in ("13912345678", "11010519900307123X", "12345678"):
        assert secret not in err
